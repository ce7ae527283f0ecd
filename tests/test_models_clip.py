"""CLIP-family encoders on tiny real models, loaded through the same path as downloaded ones."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tiny_models as tiny  # noqa: E402

import iconodex.models.clip  # noqa: E402,F401  (registers the CLIP-family models)
from iconodex.errors import ConfigError, ModelNotAvailableError  # noqa: E402
from iconodex.models import Encoder, load_model  # noqa: E402
from iconodex.models.catalog import CATALOG  # noqa: E402
from iconodex.models.clip import load_auto, load_clip  # noqa: E402
from iconodex.models.clip.runtime import AdaptiveBatcher  # noqa: E402

FAMILIES = sorted(tiny.BUILDERS)




def cache_model(cache: Path, name: str) -> dict[str, bytes]:
    files = tiny.BUILDERS[name]()
    tiny.write_hub_repo(cache, CATALOG[name].repo_id, files)
    return files


def sample_images() -> list[Image.Image]:
    gradient = Image.linear_gradient("L").resize((90, 60)).convert("RGB")
    return [
        Image.new("RGB", (64, 48), (200, 10, 10)),
        gradient,
        Image.new("L", (20, 90), 128),  # grey, portrait, needs conversion to RGB
        Image.new("RGBA", (40, 40), (0, 0, 255, 255)),
    ]


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_embeds_into_one_normalised_space(hub_cache, name):
    files = cache_model(hub_cache, name)
    encoder = load_model(name)
    assert isinstance(encoder, Encoder)
    images = encoder.embed_images(sample_images())["image"]
    texts = encoder.embed_texts(["a photo of a cat", "ein Haus am See", ""], query=False)
    dims = encoder.dims
    assert encoder.spaces == {"image": dims, "text": dims}
    assert encoder.image_spaces == ("image",) and encoder.similar_space == "image"
    assert images.shape == (4, dims) and texts.shape == (3, dims)
    assert images.dtype == np.float32 and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(images[0], images[1])  # the pixels reach the graph
    description = encoder.describe()
    assert description["hub_id"] == CATALOG[name].repo_id and description["revision"] == tiny.REVISION
    for relative, digest in description["files"].items():
        assert digest == hashlib.sha256(files[relative]).hexdigest()


def test_full_hub_id_is_a_model_name(hub_cache):
    cache_model(hub_cache, "clip-vit-b32")
    assert load_model("Xenova/clip-vit-base-patch32").name == "clip-vit-b32"


def reference_pixels(image: Image.Image, *, size, crop, mean, std, resample, round_offsets) -> np.ndarray:
    """An independent re-reading of the configs: PIL resize, centre crop, scale, normalise, CHW."""
    image = image.convert("RGB")
    if crop is None:
        image = image.resize((size, size), resample)
    else:
        width, height = image.size
        scale = size / min(width, height)
        new = (size, int(height * scale)) if width <= height else (int(width * scale), size)
        image = image.resize(new, resample)
        offset = (lambda extra: round(extra / 2)) if round_offsets else (lambda extra: extra // 2)
        left, top = offset(new[0] - crop), offset(new[1] - crop)
        image = image.crop((left, top, left + crop, top + crop))
    array = (np.asarray(image, dtype=np.float64) / 255.0 - np.array(mean)) / np.array(std)
    return array.transpose(2, 0, 1)[None].astype(np.float32)


PIXEL_RULES = {
    "clip-vit-b32": ("preprocessor_config.json", dict(crop=tiny.IMAGE, mean=tiny.CLIP_MEAN, std=tiny.CLIP_STD,
                                                      resample=Image.Resampling.BICUBIC, round_offsets=False)),
    "siglip2-base": ("preprocessor_config.json", dict(crop=None, mean=[0.5] * 3, std=[0.5] * 3,
                                                      resample=Image.Resampling.BILINEAR, round_offsets=False)),
    "uform3-multilingual": ("config.json", dict(crop=tiny.IMAGE, mean=tiny.CLIP_MEAN, std=tiny.CLIP_STD,
                                                resample=Image.Resampling.BICUBIC, round_offsets=True)),
    "mclip-xlmr-b32": ("visual/preprocess_cfg.json", dict(crop=tiny.IMAGE, mean=tiny.CLIP_MEAN, std=tiny.CLIP_STD,
                                                          resample=Image.Resampling.BICUBIC, round_offsets=True)),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_preprocessing_follows_the_models_own_config(hub_cache, name):
    files = cache_model(hub_cache, name)
    config_file, rules = PIXEL_RULES[name]
    assert config_file in files
    encoder = load_model(name)
    image = Image.linear_gradient("L").resize((75, 50)).convert("RGB")  # odd margins expose crop rounding
    expected = reference_pixels(image, size=tiny.IMAGE, **rules)
    from iconodex.models.preprocess import preprocess

    fed = preprocess([image], encoder.spec.image)
    np.testing.assert_allclose(fed, expected, atol=1e-4)
    # and the encoder feeds exactly that tensor to the graph
    session = ort.InferenceSession(str(encoder.spec.files.path(encoder.spec.vision)))
    raw = session.run([encoder.vision.output.name], {session.get_inputs()[0].name: expected})[0]
    direct = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(encoder.embed_images([image])["image"], direct, atol=1e-5)


CONTEXT = {"clip-vit-b32": 77, "siglip2-base": 64, "uform3-multilingual": 16, "mclip-xlmr-b32": 77}


@pytest.mark.parametrize("name", FAMILIES)
def test_tokenizer_honours_context_length_padding_and_specials(hub_cache, name):
    cache_model(hub_cache, name)
    encoder = load_model(name)
    long_text = "a red house by the lake " * 60
    tokens = encoder.tokenizer.encode(["cat", long_text])
    assert tokens["input_ids"].shape == (2, CONTEXT[name])
    assert tokens["attention_mask"][1].all()  # truncated to the context, nothing beyond
    assert tokens["attention_mask"][0].sum() < CONTEXT[name]
    short_ids = tokens["input_ids"][0]
    assert (short_ids[tokens["attention_mask"][0] == 0] == encoder.tokenizer.spec.pad_id).all()
    closing = {"clip-vit-b32": "<|endoftext|>", "siglip2-base": "<eos>", "uform3-multilingual": "[SEP]",
               "mclip-xlmr-b32": "</s>"}[name]
    survives = tokens["input_ids"][1, -1] == encoder.tokenizer.token_id(closing)
    # EOS survives truncation, except in UForm, whose own TextProcessor cuts the ids (see test_clip_parity)
    assert survives != (name == "uform3-multilingual")


def test_clip_tokenizer_lowercases_and_siglip_keeps_case(hub_cache):
    cache_model(hub_cache, "clip-vit-b32")
    cache_model(hub_cache, "siglip2-base")
    clip, siglip = load_model("clip-vit-b32"), load_model("siglip2-base")
    upper, lower = "THE MOUNTAINS AT NIGHT", "the mountains at night"
    assert (clip.tokenizer.encode([upper])["input_ids"] == clip.tokenizer.encode([lower])["input_ids"]).all()
    assert not (siglip.tokenizer.encode([upper])["input_ids"] == siglip.tokenizer.encode([lower])["input_ids"]).all()


def test_pad_token_comes_from_the_tokenizer_config(hub_cache):
    cache_model(hub_cache, "clip-vit-b32")
    encoder = load_model("clip-vit-b32")
    assert encoder.tokenizer.spec.pad_id == encoder.tokenizer.token_id("<|endoftext|>")


def test_query_prompt_is_applied_only_to_queries(hub_cache):
    cache_model(hub_cache, "clip-vit-b32")
    encoder = load_model("clip-vit-b32")
    assert encoder.prompt == "a photo of {}"
    as_query = encoder.embed_texts(["cat"], query=True)
    np.testing.assert_allclose(as_query, encoder.embed_texts(["a photo of cat"], query=False), atol=1e-6)
    assert not np.allclose(as_query, encoder.embed_texts(["cat"], query=False))
    plain = load_model("clip-vit-b32", prompt="")
    np.testing.assert_allclose(plain.embed_texts(["cat"], query=True), plain.embed_texts(["cat"], query=False))


def test_dims_keeps_the_first_components_renormalised(hub_cache):
    cache_model(hub_cache, "uform3-multilingual")
    full = load_model("uform3-multilingual")
    cut = load_model("uform3-multilingual", dims=8)
    assert cut.spaces == {"image": 8, "text": 8} and cut.describe()["dims"] == 8
    images = sample_images()
    head = full.embed_images(images)["image"][:, :8]
    np.testing.assert_allclose(cut.embed_images(images)["image"], head / np.linalg.norm(head, axis=1, keepdims=True),
                               atol=1e-5)
    with pytest.raises(ConfigError, match="dims must be between 1 and 24"):
        load_model("uform3-multilingual", dims=99)


def test_static_batch_exports_run_one_item_at_a_time(hub_cache):
    cache_model(hub_cache, "mclip-xlmr-b32")
    encoder = load_model("mclip-xlmr-b32")
    assert encoder.vision.fixed_batch == 1 and encoder.text.fixed_length == 77
    images = sample_images()
    together = encoder.embed_images(images)["image"]
    one_by_one = np.vstack([encoder.embed_images([image])["image"] for image in images])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)


def test_missing_model_fails_with_one_sentence_naming_files(hub_cache):
    with pytest.raises(ModelNotAvailableError) as caught:
        load_model("siglip2-base")
    message = str(caught.value)
    assert "\n" not in message
    for relative in CATALOG["siglip2-base"].files:
        assert relative in message
    assert "iconodex models pull siglip2-base" in message


def test_partial_model_names_only_the_missing_file(hub_cache):
    snapshot = tiny.write_hub_repo(hub_cache, CATALOG["clip-vit-b32"].repo_id, tiny.hf_clip_files())
    (snapshot / "onnx" / "text_model.onnx").unlink()
    with pytest.raises(ModelNotAvailableError) as caught:
        load_model("clip-vit-b32")
    message = str(caught.value)
    assert "onnx/text_model.onnx" in message and "vision_model.onnx" not in message
    assert "\n" not in message


def test_corrupt_graph_is_reported_not_raised_as_a_traceback(hub_cache):
    files = tiny.hf_clip_files()
    files["onnx/vision_model.onnx"] = files["onnx/vision_model.onnx"][:200]
    tiny.write_hub_repo(hub_cache, CATALOG["clip-vit-b32"].repo_id, files)
    with pytest.raises(ModelNotAvailableError, match="not a loadable ONNX model"):
        load_model("clip-vit-b32")


@pytest.mark.parametrize("name", FAMILIES)
def test_local_directory_is_a_model_name(tmp_path, monkeypatch, name):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    files = tiny.BUILDERS[name]()
    directory = tiny.write_directory(tmp_path / "copied-by-hand", files)
    encoder = load_clip(str(directory))
    assert encoder.spec.family == CATALOG[name].family
    assert encoder.embed_images(sample_images()[:2])["image"].shape == (2, encoder.dims)
    description = encoder.describe()
    assert description["hub_id"] is None and description["path"] == str(directory)
    assert description["files"]["config.json"] == hashlib.sha256(files["config.json"]).hexdigest()


def test_local_directory_with_a_missing_file_names_it(tmp_path):
    directory = tiny.write_directory(tmp_path / "model", tiny.siglip_files())
    (directory / "preprocessor_config.json").unlink()
    with pytest.raises(ModelNotAvailableError, match="lacks preprocessor_config.json"):
        load_clip(str(directory))


def test_directory_without_a_model_layout_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelNotAvailableError, match="no supported model layout"):
        load_clip(str(tmp_path))


def test_unknown_name_lists_the_known_ones(hub_cache):
    with pytest.raises(ConfigError, match="known: .*uform3-multilingual"):
        load_clip("no-such-model")


def test_unreadable_config_is_one_line(hub_cache):
    files = tiny.uform_files()
    files["config.json"] = b"{ not json"
    tiny.write_hub_repo(hub_cache, CATALOG["uform3-multilingual"].repo_id, files)
    with pytest.raises(ModelNotAvailableError, match="config.json is unreadable"):
        load_model("uform3-multilingual")


def test_auto_uses_the_default_clip_model_when_cached(hub_cache):
    cache_model(hub_cache, "uform3-multilingual")
    encoder = load_auto()
    assert encoder.describe()["name"] == "uform3-multilingual"


def test_auto_falls_back_to_the_offline_pack_and_says_so(hub_cache, caplog):
    pytest.importorskip("iconodex.models.offline", reason="the offline pack module is not in this tree yet")
    with caplog.at_level("WARNING"):
        encoder = load_auto()
    assert encoder.describe()["name"] == "offline"
    assert "using the offline pack" in caplog.text and "uform3-multilingual" in caplog.text


def test_empty_batches_keep_their_dimension(hub_cache):
    cache_model(hub_cache, "siglip2-base")
    encoder = load_model("siglip2-base")
    assert encoder.embed_images([])["image"].shape == (0, encoder.dims)
    assert encoder.embed_texts([], query=True).shape == (0, encoder.dims)


def test_adaptive_batcher_grows_then_settles():
    batcher = AdaptiveBatcher(start=2, limit=16)
    seen = []

    def work(rows: slice) -> np.ndarray:
        seen.append(rows.stop - rows.start)
        return np.ones((rows.stop - rows.start, 3), dtype=np.float32)

    out = batcher.run(100, work)
    assert out.shape == (100, 3)
    assert max(seen) <= 16 and sum(seen) == 100


def test_adaptive_batcher_halves_when_memory_runs_out():
    batcher = AdaptiveBatcher(start=16, limit=64)
    sizes = []

    def work(rows: slice) -> np.ndarray:
        size = rows.stop - rows.start
        if size > 4:
            raise MemoryError("cannot allocate")
        sizes.append(size)
        return np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]

    out = batcher.run(10, work)
    np.testing.assert_array_equal(out[:, 0], np.arange(10))
    assert batcher.size == 4 and max(sizes) == 4


def test_catalog_records_the_files_each_layout_needs():
    for entry in CATALOG.values():
        assert entry.files and entry.dims > 0 and entry.licence and entry.source.startswith("https://")
        assert all(name in json.dumps(entry.files) for name in ("config.json",))


def test_the_towers_inference_threads_are_counted_here_so_onnxruntime_does_not_pin_them(tmp_path, monkeypatch):
    """onnxruntime pins each inference thread to one core when it picks their number itself; a thread
    that a decode thread preempts then cannot move to a core that frees up (see models/threads.py)."""
    from onnx import TensorProto, helper

    from iconodex.models.clip.runtime import CPU, OnnxTower

    monkeypatch.setattr("iconodex.models.threads._limit", 0)
    dims = [None, 4]
    graph = helper.make_graph([helper.make_node("Relu", ["pixel_values"], ["image_embeds"])], "relu",
                              [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, dims)])
    path = tmp_path / "visual.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    assert OnnxTower(path, [CPU]).session.get_session_options().intra_op_num_threads >= 1
