"""The offline model's learned projection (pictures → the e5 text space), run for real.

The quality test uses emoji from the *evaluation* split of benchmarks/build_emoji_eval.py, which the
training script (benchmarks/train_projection.py) never trains on, drawn with Debian's Noto Color Emoji.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run_cli
from PIL import Image

from iconodex import Collection
from iconodex.duplicates import measured_min_score
from iconodex.errors import ConfigError, ModelMismatchError
from iconodex.models import load_model, projection
from iconodex.models.catalog import DUPLICATE_SCORES, LEG_SCALES, RELEVANCE_CUTS
from iconodex.search.hybrid import LegScale

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def held_out_emoji() -> tuple[list, list[str]]:
    """The first 40 emoji of the evaluation split, drawn, with their English CLDR names."""
    pytest.importorskip("emoji", reason="pip install 'iconodex[eval]'")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from build_emoji_eval import FONT, chosen, drawn, readable
    finally:
        sys.path.remove(str(BENCHMARKS))
    if not FONT.is_file():
        pytest.skip(f"{FONT} is missing: apt-get install fonts-noto-color-emoji")
    picked = chosen(40)
    return [drawn(char) for char, _ in picked], [readable(data["en"]) for _, data in picked]


def _recall_at_5(model, pictures, names) -> float:
    vectors = model.embed_images(pictures)["image"]
    queries = model.embed_texts(names, query=True)
    top = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    return float(np.mean([i in row for i, row in enumerate(top)]))


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_held_out_emoji_are_found_by_name_far_better_than_through_conse_alone(held_out_emoji, variant):
    """Each variant's projection at least doubles the picture leg it replaced (Lite0's ConSE alone, issue
    13's baseline) and clearly beats the same network's ConSE alone."""
    pictures, names = held_out_emoji
    with_projection = _recall_at_5(load_model("offline", variant=variant), pictures, names)
    conse_alone = _recall_at_5(load_model("offline", variant=variant, projection=False), pictures, names)
    before = _recall_at_5(load_model("offline", variant="lite0", projection=False), pictures, names)
    assert with_projection >= 2 * before and with_projection >= 0.3, (with_projection, before)
    assert with_projection >= conse_alone + 0.2, (with_projection, conse_alone)


def test_the_projection_is_part_of_the_identity_and_can_be_turned_off():
    identity = load_model("offline").describe()
    assert identity["version"] == 3 and identity["projection"] and identity["neighbours"]
    without = load_model("offline", neighbours="false").describe()
    assert without["version"] == 2 and "neighbours" not in without  # version 2's projection + ConSE
    assert without["projection"] != identity["projection"]  # version 3's ridge map is fitted on more
    plain = load_model("offline", projection="false").describe()
    assert "projection" not in plain and "neighbours" not in plain and plain["version"] == 1  # ConSE alone
    assert plain["image_weights"] == identity["image_weights"]
    with pytest.raises(ConfigError, match="projection must be true or false"):
        load_model("offline", projection="maybe")


def _made_while_lite0_was_the_default(path: Path) -> None:
    """A collection as iconodex made it before Lite2 became the default: Lite0's vectors, no variant option."""
    with Collection.create(path, model_options={"variant": "lite0"}) as coll:
        coll.store.set_meta("collection", {**coll.store.get_meta("collection"), "model_options": {}})


def test_a_new_collection_gets_lite2_with_its_neighbour_bridge_and_its_measured_constants(tmp_path):
    with Collection.create(tmp_path / "coll") as coll:
        identity = coll.model.describe()
        assert identity["variant"] == "lite2" and identity["version"] == 3 and identity["neighbours"]
        assert coll.store.get_meta("collection")["model_options"] == {}
        assert coll.calibration == "offline"
        assert coll._min_score(None, measured=True) == RELEVANCE_CUTS["offline"]
        assert measured_min_score(coll) == DUPLICATE_SCORES["offline-lite2"] == 0.90


def test_a_collection_made_while_lite0_was_the_default_reopens_with_lite0_and_its_own_constants(tmp_path):
    """Upgrading must not re-embed a Lite0 collection with Lite2 (its identity check would refuse every
    new picture), nor read its scores on Lite2's scales: it keeps Lite0 and the constants measured on it."""
    _made_while_lite0_was_the_default(tmp_path / "coll")
    folder = _two_pictures(tmp_path / "pictures")
    with Collection.open(tmp_path / "coll") as coll:
        assert coll.model.describe()["variant"] == "lite0"
        assert coll.ingest(str(folder)).added == 2
        assert coll.calibration == "offline-lite0"
        assert coll._min_score(None, measured=True) == RELEVANCE_CUTS["offline-lite0"]
        assert measured_min_score(coll) == DUPLICATE_SCORES["offline-lite0"] == 0.92
        assert coll._leg_scales() == {name: LegScale(*scale) for name, scale in LEG_SCALES["offline-lite0"].items()}
        assert LEG_SCALES["offline-lite0"] != LEG_SCALES["offline"]
    Collection.open_or_create(tmp_path / "coll", model_options={"variant": "lite0"}).close()  # what it is
    with pytest.raises(ConfigError, match="variant='lite0'"):
        Collection.open_or_create(tmp_path / "coll", model_options={"variant": "lite2"})


def _two_pictures(folder: Path) -> Path:
    folder.mkdir()
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        Image.new("RGB", (64, 64), colour).save(folder / f"{name}.png")
    return folder


def _version_2_vectors(pictures: list) -> np.ndarray:
    """What pack version 2 made: the first ridge map (projection-lite0.npz) at its share, with ConSE."""
    conse_alone = load_model("offline", variant="lite0", projection=False).embed_images(pictures)
    return projection.load("lite0").apply(conse_alone["visual"], conse_alone["image"])


def test_a_collection_made_by_version_2_keeps_its_identity_and_its_vectors_meaning(tmp_path):
    """Upgrading must not strand a collection made by pack version 2 (projection + ConSE, no
    neighbours): it reopens under the identity it recorded, and new pictures get version 2's vectors,
    which its older ones share a space with."""
    folder = _two_pictures(tmp_path / "pictures")
    version_2 = projection.load("lite0")
    _made_while_lite0_was_the_default(tmp_path / "coll")
    with Collection.open(tmp_path / "coll") as coll:
        config = coll.store.get_meta("collection")
        recorded = {k: v for k, v in config["identity"].items() if k not in ("projection", "neighbours")}
        recorded.update(version=2, projection=f"{version_2.digest} (share {version_2.alpha:g})")
        coll.store.set_meta("collection", {**config, "identity": recorded})
    with Collection.open(tmp_path / "coll") as coll:
        assert coll.model.describe() == recorded
        coll.ingest(str(folder))
        names = {key: name for name, key in coll.store.keys_for_ids(["red.png", "blue.png"]).items()}
        keys, stored = coll.store.vectors_for("image", list(names))
    expected = _version_2_vectors([Image.open(folder / names[key]) for key in keys.tolist()])
    assert np.allclose(stored, expected, atol=2e-3), np.abs(stored - expected).max()
    with Collection.open(tmp_path / "coll") as coll:
        assert coll.store.get_meta("collection")["identity"] == recorded


@pytest.fixture(scope="module")
def training_emoji() -> tuple[list, list[str]]:
    """40 emoji of the split the bridge holds (train_projection.py's), drawn, with their English names."""
    pytest.importorskip("emoji", reason="pip install 'iconodex[eval]'")
    font = _benchmark_module("build_emoji_eval").FONT
    if not font.is_file():
        pytest.skip(f"{font} is missing: apt-get install fonts-noto-color-emoji")
    train_projection = _benchmark_module("train_projection")
    items = [item for item in train_projection.emoji_items(["en"]) if item.split == "train"][::25][:40]
    return [item.load(0) for item in items], [item.texts[0] for item in items]


def _own_name_margins(model, pictures: list, names: list[str]) -> tuple[float, float]:
    """Mean cosine of each picture to its own name, and mean margin over the best other name."""
    similarity = model.embed_texts(names, query=True) @ model.embed_images(pictures)["image"].T
    own = np.diag(similarity).copy()
    np.fill_diagonal(similarity, -np.inf)
    return float(own.mean()), float((own - similarity.max(axis=0)).mean())


def test_a_new_collection_names_pictures_like_its_training_pictures_through_the_neighbour_bridge(
        tmp_path, training_emoji):
    """Version 3's picture leg carries the names of the training pictures a picture resembles (the
    bridge): its own name sits clearly closer, and further above the next name, than under version 2's
    linear map alone, which only approximates them."""
    pictures, names = training_emoji
    with Collection.create(tmp_path / "coll") as coll:
        assert coll.model.describe()["version"] == 3 and "neighbours" in coll.model.describe()
        bridged = _own_name_margins(coll.model, pictures, names)
    linear = _own_name_margins(load_model("offline", neighbours=False), pictures, names)
    assert bridged[0] >= linear[0] + 0.05 and bridged[1] >= 1.5 * linear[1], (bridged, linear)


def test_pictures_are_projected_with_numpy_alone_without_torch(tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"  # importing torch now fails
        "from PIL import Image\n"
        "from iconodex.models import load_model\n"
        "v = load_model('offline').embed_images([Image.new('RGB', (64, 64), 'red')])['image']\n"
        "print(v.shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 384)"


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_a_collection_made_by_the_previous_offline_model_keeps_searching_with_conse_alone(tmp_path, capsys, variant):
    """Upgrading iconodex must not strand a collection: version 1's picture vectors were ConSE alone,
    which the model still makes with the projection off (Lite2's too, made before its projection shipped)."""
    options = {"variant": variant}
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        Image.new("RGB", (64, 64), colour).save(folder / f"{name}.png")
    if variant == "lite0":
        _made_while_lite0_was_the_default(tmp_path / "coll")
    else:
        Collection.create(tmp_path / "coll", model_options=options).close()
    with Collection.open(tmp_path / "coll") as coll:
        config = coll.store.get_meta("collection")
        previous = {k: v for k, v in config["identity"].items() if k not in ("projection", "neighbours")}
        config["identity"] = {**previous, "version": 1}  # what pack version 1 recorded: ConSE alone
        coll.store.set_meta("collection", config)
    with Collection.open(tmp_path / "coll") as coll:
        assert coll.model.describe()["version"] == 1 and "projection" not in coll.model.describe()
        coll.ingest(str(folder))
        conse_only = coll.store.vectors_for("image", [1, 2])[1]
    with Collection.create(tmp_path / "fresh", model_options=options) as fresh:
        fresh.ingest(str(folder))
        projected = fresh.store.vectors_for("image", [1, 2])[1]
    assert conse_only.shape == projected.shape and not np.allclose(conse_only, projected, atol=1e-3)
    code, out, err = run_cli(capsys, "search", "-c", str(tmp_path / "coll"), "red", "--min-score", "0")
    assert code == 0 and "red" in out, err


def test_a_collection_made_by_a_newer_offline_model_is_refused_in_one_line_saying_what_to_do(tmp_path, capsys):
    with Collection.create(tmp_path / "coll") as coll:
        config = coll.store.get_meta("collection")
        config["identity"] = {**config["identity"], "version": 99}
        coll.store.set_meta("collection", config)
    with Collection.open(tmp_path / "coll", read_only=True) as coll, pytest.raises(ModelMismatchError):
        coll.model  # noqa: B018 - loading the model is what checks it
    code, _, err = run_cli(capsys, "search", "-c", str(tmp_path / "coll"), "a cat")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, err
    assert "'offline'" in lines[0] and "re-ingest" in lines[0], lines[0]


def _benchmark_module(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_calibration_split_never_shares_a_picture_with_the_evaluation_split(tmp_path):
    clipart = _benchmark_module("build_openclipart_eval")
    for index in range(60):
        (tmp_path / f"drawing{index}.png").write_bytes(b"")
    evaluation = clipart.sample(tmp_path, 25, 0)
    calibration = clipart.sample(tmp_path, 25, 0, skip=25)
    assert len(evaluation) == len(calibration) == 25 and not set(evaluation) & set(calibration)
    assert evaluation == clipart.sample(tmp_path, 25, 0)  # deterministic
    pytest.importorskip("emoji", reason="pip install 'iconodex[eval]'")
    emoji_eval = _benchmark_module("build_emoji_eval")
    first, second = emoji_eval.chosen(300), emoji_eval.chosen(300, 300)
    assert len(second) == 300 and not {c for c, _ in first} & {c for c, _ in second}


def test_ingest_chooses_the_variant_of_a_new_collection_and_keeps_it(tmp_path, capsys):
    """``--model-option variant=lite0`` makes a Lite0 collection from the command line; asking another
    variant of it later is refused in one line, since its vectors cannot be mixed."""
    folder = _two_pictures(tmp_path / "pictures")
    coll = str(tmp_path / "coll")
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", coll, "--model-option", "variant=lite0", "-q")
    assert code == 0, err
    with Collection.open(coll) as opened:
        assert opened.model.describe()["variant"] == "lite0" and opened.calibration == "offline-lite0"
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", coll, "--model-option", "variant=lite0", "-q")
    assert code == 0, err  # the same option again: resumes
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", coll, "--model-option", "variant=lite2", "-q")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and "variant='lite0'" in lines[0], err
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", str(tmp_path / "other"), "--model-option",
                           "variant=lite9", "-q")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and "lite9" in lines[0] and "lite2" in lines[0], err


def test_an_unknown_model_option_is_one_line_naming_the_options_there_are(tmp_path, capsys):
    folder = _two_pictures(tmp_path / "pictures")
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", str(tmp_path / "coll"), "--model-option", "varient=lite0")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, err
    assert "'varient'" in lines[0] and "variant" in lines[0] and "TypeError" not in lines[0], lines[0]
    assert not (tmp_path / "coll").exists()  # nothing made
