"""Small, real CLIP-family models for tests: real ONNX graphs, real tokenizers, real configs.

Weights are random, but each graph has the structure and the input/output names, shapes and dtypes
of the export it stands in for: a patchifying conv + pooling + projection image tower, and an
embedding + masked-mean + projection text tower. Tokenizers are trained with the ``tokenizers``
library on a small corpus, with each family's special tokens and post-processor. The files are
laid out either as a Hugging Face hub cache (``models--org--name/blobs|snapshots|refs``) or as a
plain directory, and are loaded through exactly the code path used for downloaded models.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REVISION = "0123456789abcdef0123456789abcdef01234567"
IMAGE = 32  # tiny input resolution
PATCH = 8
WIDTH = 12  # hidden width of both towers
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.2613026, 0.2757771]
CORPUS = [
    "a photo of a cat",
    "a photo of a dog on the grass",
    "a red house by the lake",
    "an old map of the city",
    "portrait of a woman with a hat",
    "ein Haus am See",
    "kedi ve köpek bahçede",
    "une carte ancienne de la ville",
    "THE MOUNTAINS AT NIGHT",
] * 4


# ---------------------------------------------------------------- tokenizers


def _train(tokenizer, trainer) -> None:
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)


def clip_tokenizer_json() -> str:
    """CLIP-style byte-level BPE: lower-cased, ``</w>`` word ends, BOS/EOS around every text."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    _train(tok, trainers.BpeTrainer(vocab_size=200, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>", show_progress=False))
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)]
    )
    return tok.to_str()


def wordpiece_tokenizer_json() -> str:
    """BERT-style WordPiece (UForm's multilingual text tower): [CLS] text [SEP], [PAD] = 0."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    _train(tok, trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    return tok.to_str()


def sentencepiece_tokenizer_json(specials: list[str], template: str) -> str:
    """Unigram with the given specials (SigLIP's Gemma: <pad> <eos> …; XLM-R: <s> <pad> </s> …), case kept."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    _train(tok, trainers.UnigramTrainer(vocab_size=150, special_tokens=specials, unk_token="<unk>", show_progress=False))
    named = [part for part in template.split() if part != "$A"]
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(name, tok.token_to_id(name)) for name in named]
    )
    return tok.to_str()


def vocab_size(tokenizer_json: str) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json).get_vocab_size()


# ---------------------------------------------------------------- graphs


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _model(nodes, inputs, outputs, inits) -> bytes:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def image_graph(input_name: str, dims: int, outputs: tuple[str, ...], *, batch: int | str = "batch", seed: int = 1) -> bytes:
    """Patchify conv → ReLU → global pool → projection; ``outputs`` = (features?, embeddings)."""
    rng = _rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(size=(WIDTH, 3, PATCH, PATCH)).astype(np.float32), "patch_w"),
        numpy_helper.from_array(rng.normal(size=(WIDTH, dims)).astype(np.float32), "proj_w"),
    ]
    nodes = [
        helper.make_node("Conv", [input_name, "patch_w"], ["patches"], strides=[PATCH, PATCH]),
        helper.make_node("Relu", ["patches"], ["act"]),
        helper.make_node("GlobalAveragePool", ["act"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], [outputs[0] if len(outputs) == 2 else "features"]),
        helper.make_node("MatMul", [outputs[0] if len(outputs) == 2 else "features", "proj_w"], [outputs[-1]]),
    ]
    graph_outputs = [helper.make_tensor_value_info(outputs[-1], TensorProto.FLOAT, [batch, dims])]
    if len(outputs) == 2:
        graph_outputs.insert(0, helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, [batch, WIDTH]))
    image_in = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 3, IMAGE, IMAGE])
    return _model(nodes, [image_in], graph_outputs, inits)


def text_graph(
    ids_name: str,
    vocab: int,
    dims: int,
    outputs: tuple[str, ...],
    *,
    mask_name: str | None = None,
    int32: bool = False,
    pad_id: int = 0,
    batch: int | str = "batch",
    length: int | str = "sequence",
    seed: int = 2,
) -> bytes:
    """Token embedding → mean over unmasked positions → projection. Without a mask input the mask is
    ``ids != pad_id``, as exports that take only ``input_ids`` derive it."""
    rng = _rng(seed)
    id_type = TensorProto.INT32 if int32 else TensorProto.INT64
    inits = [
        numpy_helper.from_array(rng.normal(size=(vocab, WIDTH)).astype(np.float32), "token_w"),
        numpy_helper.from_array(rng.normal(size=(WIDTH, dims)).astype(np.float32), "proj_w"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis_last"),
        numpy_helper.from_array(np.array(1e-6, dtype=np.float32), "eps"),
    ]
    nodes = [helper.make_node("Cast", [ids_name], ["ids64"], to=TensorProto.INT64)]
    if mask_name:
        nodes.append(helper.make_node("Cast", [mask_name], ["maskf"], to=TensorProto.FLOAT))
    else:
        inits.append(numpy_helper.from_array(np.array(pad_id, dtype=np.int64), "pad"))
        nodes += [
            helper.make_node("Equal", ["ids64", "pad"], ["is_pad"]),
            helper.make_node("Not", ["is_pad"], ["keep"]),
            helper.make_node("Cast", ["keep"], ["maskf"], to=TensorProto.FLOAT),
        ]
    features = outputs[0] if len(outputs) == 2 else "features"
    nodes += [
        helper.make_node("Gather", ["token_w", "ids64"], ["tokens"]),
        helper.make_node("Unsqueeze", ["maskf", "axis_last"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "eps"], ["safe_count"]),
        helper.make_node("Div", ["summed", "safe_count"], [features]),
        helper.make_node("MatMul", [features, "proj_w"], [outputs[-1]]),
    ]
    inputs = [helper.make_tensor_value_info(ids_name, id_type, [batch, length])]
    if mask_name:
        inputs.append(helper.make_tensor_value_info(mask_name, id_type, [batch, length]))
    graph_outputs = [helper.make_tensor_value_info(outputs[-1], TensorProto.FLOAT, [batch, dims])]
    if len(outputs) == 2:
        graph_outputs.insert(0, helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, [batch, WIDTH]))
    return _model(nodes, inputs, graph_outputs, inits)


# ---------------------------------------------------------------- whole models, per layout


def _json(value: dict) -> bytes:
    return json.dumps(value, indent=2).encode()


def uform_files(dims: int = 24, context: int = 16) -> dict[str, bytes]:
    """unum-cloud/uform3-image-text-multilingual-base layout."""
    tokenizer = wordpiece_tokenizer_json()
    config = {
        "image_encoder": {"dim": WIDTH, "image_size": IMAGE, "normalization_means": CLIP_MEAN,
                          "normalization_deviations": CLIP_STD},
        "text_encoder": {"dim": WIDTH, "embedding_dim": dims, "max_position_embeddings": context, "padding_idx": 0},
    }
    return {
        "config.json": _json(config),
        "tokenizer.json": tokenizer.encode(),
        "image_encoder.onnx": image_graph("images", dims, ("features", "embeddings")),
        "text_encoder.onnx": text_graph("input_ids", vocab_size(tokenizer), dims, ("features", "embeddings"),
                                        mask_name="attention_mask", int32=True),
    }


def hf_clip_files(dims: int = 16) -> dict[str, bytes]:
    """Xenova/clip-vit-base-patch32 layout (transformers.js export of CLIPModel)."""
    tokenizer = clip_tokenizer_json()
    pad = json.loads(tokenizer)["model"]["vocab"]["<|endoftext|>"]
    preprocessor = {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": IMAGE},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": IMAGE, "width": IMAGE},
        "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
        "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "do_convert_rgb": True,
    }
    return {
        "config.json": _json({"model_type": "clip", "projection_dim": dims,
                              "text_config": {"max_position_embeddings": 77}, "vision_config": {"image_size": IMAGE}}),
        "preprocessor_config.json": _json(preprocessor),
        "tokenizer.json": tokenizer.encode(),
        "tokenizer_config.json": _json({"model_max_length": 77, "pad_token": "<|endoftext|>",
                                        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>"}),
        "onnx/vision_model.onnx": image_graph("pixel_values", dims, ("image_embeds",)),
        "onnx/text_model.onnx": text_graph("input_ids", vocab_size(tokenizer), dims, ("text_embeds",), pad_id=pad),
    }


def siglip_files(dims: int = 20) -> dict[str, bytes]:
    """onnx-community/siglip2-*-ONNX layout: squash resize, mean/std 0.5, pad to 64 with <pad>."""
    tokenizer = sentencepiece_tokenizer_json(["<pad>", "<eos>", "<bos>", "<unk>"], "$A <eos>")
    preprocessor = {
        "image_processor_type": "SiglipImageProcessor", "do_resize": True, "size": {"height": IMAGE, "width": IMAGE},
        "resample": 2, "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    }
    return {
        "config.json": _json({"model_type": "siglip", "text_config": {"max_position_embeddings": 64, "hidden_size": dims},
                              "vision_config": {"image_size": IMAGE}}),
        "preprocessor_config.json": _json(preprocessor),
        "tokenizer.json": tokenizer.encode(),
        "tokenizer_config.json": _json({"model_max_length": 64, "pad_token": "<pad>", "eos_token": "<eos>"}),
        "onnx/vision_model.onnx": image_graph("pixel_values", dims, ("last_hidden_state", "pooler_output")),
        "onnx/text_model.onnx": text_graph("input_ids", vocab_size(tokenizer), dims, ("last_hidden_state", "pooler_output")),
    }


def mclip_files(dims: int = 16, context: int = 77) -> dict[str, bytes]:
    """immich-app/XLM-Roberta-Large-Vit-B-32 layout: static batch 1, int32 ids + mask, ``embedding`` out."""
    tokenizer = sentencepiece_tokenizer_json(["<s>", "<pad>", "</s>", "<unk>"], "<s> $A </s>")
    preprocess_cfg = {"size": [IMAGE, IMAGE], "mode": "RGB", "mean": CLIP_MEAN, "std": CLIP_STD,
                      "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0}
    return {
        "config.json": _json({"embed_dim": dims, "vision_cfg": {"image_size": IMAGE}, "text_cfg": {"context_length": context}}),
        "visual/model.onnx": image_graph("image", dims, ("embedding",), batch=1),
        "visual/preprocess_cfg.json": _json(preprocess_cfg),
        "textual/model.onnx": text_graph("input_ids", vocab_size(tokenizer), dims, ("embedding",),
                                         mask_name="attention_mask", int32=True, batch=1, length=context),
        "textual/tokenizer.json": tokenizer.encode(),
        "textual/tokenizer_config.json": _json({"pad_token": "<pad>", "model_max_length": 512}),
    }


BUILDERS = {
    "uform3-multilingual": uform_files,
    "clip-vit-b32": hf_clip_files,
    "siglip2-base": siglip_files,
    "mclip-xlmr-b32": mclip_files,
}


# ---------------------------------------------------------------- on disk


def write_hub_repo(cache: Path, repo_id: str, files: dict[str, bytes], revision: str = REVISION) -> Path:
    """Lay ``files`` out as huggingface_hub does: content-addressed blobs, a snapshot of symlinks, a ref."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = folder / "snapshots" / revision
    for relative, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(os.path.relpath(blob, link.parent), link)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    return snapshot


def write_directory(directory: Path, files: dict[str, bytes]) -> Path:
    """The same files as a plain directory, the way an air-gapped institution copies a model."""
    for relative, data in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return directory
