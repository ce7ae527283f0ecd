"""Tiny random models built in each family's original implementation, exported as the hub repos were.

Each builder makes one randomly initialised model with the authors' own code (transformers'
CLIPModel / SiglipModel / XLMRobertaModel, UForm's ``uform.torch_encoders``), writes the files
iconodex reads (the ONNX layouts of Xenova/, onnx-community/, immich-app/ and unum-cloud/) and
returns the original pipeline as two functions: pictures → vectors and texts → vectors.

Only what cannot be installed here is written out: open_clip's image transform (torchvision,
which pulls a multi-GB build) is spelled out below step by step from its source.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from _tiny_models import CLIP_MEAN, CLIP_STD, CORPUS, sentencepiece_tokenizer_json
from PIL import Image

SIZE = 224  # the real input size: resize rules and crop offsets matter at this scale
Vectors = Callable[[Sequence], np.ndarray]
TEXTS = [  # case, accents, double spaces, empty, longer than every context
    "a photo of a cat",
    "A Photo of  a DOG on the grass",
    "ein Haus am See",
    "kedi ve köpek bahçede",
    "une carte ancienne de la ville",
    "",
    " ".join(CORPUS),  # longer than every context: truncation
]


def pictures() -> dict[str, Image.Image]:
    """Real pictures: colour, greyscale, transparent, palette, landscape and portrait."""
    from skimage import data

    chelsea = Image.fromarray(data.chelsea())
    cut_out = Image.fromarray(data.coffee())  # a PNG cut-out: hidden pixels keep their colours
    cut_out.putalpha(Image.fromarray(data.camera()).resize(cut_out.size))
    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "chelsea (landscape)": chelsea,
        "chelsea (portrait)": chelsea.transpose(Image.Transpose.ROTATE_90),
        "camera (greyscale)": Image.fromarray(data.camera()),
        "coffee (transparent)": cut_out,
        "chelsea (palette)": chelsea.quantize(64),
        "rocket": Image.fromarray(data.rocket()),
    }


@dataclass
class Original:
    """A model's files for iconodex plus the original pipeline's image and text functions."""

    files: dict[str, bytes]
    images: Vectors
    texts: Vectors


def _normalised(tensor: torch.Tensor) -> np.ndarray:
    vectors = tensor.detach().float().numpy()
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)



def _image_features(m, pixels):
    """A transformers CLIP/SigLIP model's image embedding, as the hub repos export it."""
    return m.get_image_features(pixel_values=pixels).pooler_output


def _text_features(m, ids):
    return m.get_text_features(input_ids=ids).pooler_output

def _read_dir(directory: Path, prefix: str = "") -> dict[str, bytes]:
    return {prefix + path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


def _onnx(module: torch.nn.Module, args: tuple, inputs: list[str], outputs: list[str], *, dynamic: bool = True) -> bytes:
    """torch.onnx.export with the TorchScript exporter, as optimum and the Immich scripts used."""
    import io

    buffer = io.BytesIO()
    axes = {name: {0: "batch", 1: "sequence"} if arg.dim() == 2 else {0: "batch"} for name, arg in zip(inputs, args, strict=True)}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, buffer, input_names=inputs, output_names=outputs, opset_version=17,
                          dynamic_axes=axes if dynamic else None, dynamo=False)
    return buffer.getvalue()


class _Call(torch.nn.Module):
    """Wraps one function of a model as the module an exporter traces."""

    def __init__(self, model: torch.nn.Module, function: Callable) -> None:
        super().__init__()
        self.model, self.function = model, function

    def forward(self, *args):
        return self.function(self.model, *args)


# ---------------------------------------------------------------- tokenizers, as the repos ship them


def clip_tokenizer(directory: Path):
    """transformers' CLIPTokenizer on a small byte-level vocabulary (all 256 bytes, so any text
    tokenizes) with merges for the corpus words; the specials come last, as in CLIP's own vocabulary."""
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_chars = list(bytes_to_unicode().values())
    vocab = {token: index for index, token in enumerate(byte_chars + [c + "</w>" for c in byte_chars])}
    merges: list[tuple[str, str]] = []
    for word in sorted({w.lower() for text in CORPUS for w in text.split() if w.isascii()}):
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            pair, merged = (symbols[0], symbols[1]), symbols[0] + symbols[1]
            if merged not in vocab:
                merges.append(pair)
                vocab[merged] = len(vocab)
            symbols = [merged, *symbols[2:]]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    tokenizer.save_pretrained(directory)
    return tokenizer


def sentencepiece_tokenizer(directory: Path, specials: list[str], template: str, **tokens: str):
    """A Unigram tokenizer (Gemma for SigLIP 2, XLM-R for M-CLIP) as a transformers fast tokenizer."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(sentencepiece_tokenizer_json(specials, template))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **tokens)
    tokenizer.save_pretrained(directory)
    return tokenizer


# ---------------------------------------------------------------- transformers: CLIP and SigLIP 2


def _tiny(**extra) -> dict:
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, **extra)


def hf_clip(directory: Path) -> Original:
    """Xenova/clip-vit-base-patch32: CLIPModel, CLIPImageProcessor, CLIPTokenizer."""
    from transformers import CLIPConfig, CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = clip_tokenizer(directory)
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = CLIPConfig(
        text_config=_tiny(vocab_size=len(tokenizer), max_position_embeddings=77, eos_token_id=eot,
                          bos_token_id=eot - 1, pad_token_id=eot),
        vision_config=_tiny(image_size=SIZE, patch_size=32), projection_dim=16,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    config.save_pretrained(directory)
    processor = CLIPImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    processor.save_pretrained(directory)
    files = _read_dir(directory)

    files["onnx/vision_model.onnx"] = _onnx(_Call(model, _image_features), (torch.zeros(2, 3, SIZE, SIZE),),
                                            ["pixel_values"], ["image_embeds"])
    files["onnx/text_model.onnx"] = _onnx(_Call(model, _text_features), (torch.zeros(2, 7, dtype=torch.long),),
                                          ["input_ids"], ["text_embeds"])

    def images(pictures):
        pixels = processor(images=list(pictures), return_tensors="pt").pixel_values
        return _normalised(_image_features(model, pixels))

    def texts(strings):
        tokens = tokenizer(list(strings), padding=True, truncation=True, max_length=77, return_tensors="pt")
        return _normalised(model.get_text_features(**tokens).pooler_output)

    return Original(files, _no_grad(images), _no_grad(texts))


def hf_siglip(directory: Path) -> Original:
    """onnx-community/siglip2-base-patch16-224-ONNX: SiglipModel, SiglipImageProcessor (squash,
    bilinear, mean/std 0.5), the text padded to 64 with ``max_length`` as the model card says. The
    text graph takes ``input_ids`` only (optimum's SigLIP config: "No attention_mask"), as SigLIP
    was trained: the pad positions are read."""
    from transformers import SiglipConfig, SiglipModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = sentencepiece_tokenizer(directory, ["<pad>", "<eos>", "<bos>", "<unk>"], "$A <eos>",
                                        pad_token="<pad>", eos_token="<eos>", unk_token="<unk>", model_max_length=64)
    config = SiglipConfig(
        text_config=_tiny(vocab_size=len(tokenizer), max_position_embeddings=64, projection_size=32,
                          pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id),
        vision_config=_tiny(image_size=SIZE, patch_size=16),
    )
    torch.manual_seed(1)
    model = SiglipModel(config).eval()
    config.save_pretrained(directory)
    processor = SiglipImageProcessorPil(size={"height": SIZE, "width": SIZE}, resample=2,
                                        image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor.save_pretrained(directory)
    files = _read_dir(directory)

    files["onnx/vision_model.onnx"] = _onnx(_Call(model, _image_features), (torch.zeros(2, 3, SIZE, SIZE),),
                                            ["pixel_values"], ["pooler_output"])
    files["onnx/text_model.onnx"] = _onnx(_Call(model, _text_features), (torch.zeros(2, 64, dtype=torch.long),),
                                          ["input_ids"], ["pooler_output"])

    def images(pictures):
        pixels = processor(images=list(pictures), return_tensors="pt").pixel_values
        return _normalised(_image_features(model, pixels))

    def texts(strings):
        tokens = tokenizer(list(strings), padding="max_length", max_length=64, truncation=True, return_tensors="pt")
        return _normalised(_text_features(model, tokens.input_ids))

    return Original(files, _no_grad(images), _no_grad(texts))


# ---------------------------------------------------------------- open_clip / Immich: OpenCLIP and M-CLIP


def torchvision_transform(picture: Image.Image, size: int, mean, std) -> np.ndarray:
    """open_clip's ``image_transform`` (and UForm's ``torch_processors``) for one PIL picture:
    ``Resize(size, BICUBIC)`` → ``CenterCrop(size)`` → ``convert("RGB")`` → ``ToTensor`` →
    ``Normalize``. On PIL input torchvision's resize is ``PIL.Image.resize`` at (short = size,
    long = int(size * long / short)) and its crop offset is ``int(round((side - size) / 2))``."""
    width, height = picture.size
    target = (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
    resized = picture.resize(target, Image.Resampling.BICUBIC)
    top, left = int(round((target[1] - size) / 2.0)), int(round((target[0] - size) / 2.0))
    cropped = resized.crop((left, top, left + size, top + size)).convert("RGB")
    tensor = np.asarray(cropped, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return (tensor - np.asarray(mean, np.float32)[:, None, None]) / np.asarray(std, np.float32)[:, None, None]


def _open_clip_vision(model, seed_config: dict) -> tuple[dict[str, bytes], Callable]:
    """The ViT-B/32 image tower (transformers' CLIP vision model: the same network open_clip builds)."""
    preprocess_cfg = {"size": [SIZE, SIZE], "mode": "RGB", "mean": CLIP_MEAN, "std": CLIP_STD,
                      "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0}

    files = {
        "config.json": json.dumps(seed_config).encode(),
        "visual/preprocess_cfg.json": json.dumps(preprocess_cfg).encode(),
        "visual/model.onnx": _onnx(_Call(model, _image_features), (torch.zeros(1, 3, SIZE, SIZE),), ["image"],
                                   ["embedding"]),
    }

    def images(pictures):
        pixels = np.stack([torchvision_transform(p, SIZE, CLIP_MEAN, CLIP_STD) for p in pictures])
        return _normalised(_image_features(model, torch.from_numpy(pixels)))

    return files, _no_grad(images)


def _clip_vision_model(seed: int):
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(text_config=_tiny(vocab_size=8, bos_token_id=0, eos_token_id=2, pad_token_id=1), vision_config=_tiny(image_size=SIZE, patch_size=32),
                        projection_dim=16)
    torch.manual_seed(seed)
    return CLIPModel(config).eval()


def open_clip(directory: Path) -> Original:
    """immich-app/ViT-B-32__laion2b-s34b-b79k: open_clip's tokenize (sot … eot, zero padding to 77,
    eot kept on truncation) and argmax (eot) pooling."""
    from transformers import CLIPConfig, CLIPModel

    tokenizer = clip_tokenizer(directory / "textual")
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = CLIPConfig(text_config=_tiny(vocab_size=len(tokenizer), max_position_embeddings=77, eos_token_id=2,
                                          bos_token_id=eot - 1, pad_token_id=0),
                        vision_config=_tiny(image_size=SIZE, patch_size=32), projection_dim=16)
    torch.manual_seed(2)
    model = CLIPModel(config).eval()  # eos_token_id 2: transformers' legacy argmax pooling, open_clip's rule
    vision_files, images = _open_clip_vision(model, {"embed_dim": 16, "text_cfg": {"context_length": 77}})

    def text_features(m, ids):
        return m.get_text_features(input_ids=ids.long()).pooler_output

    files = {**vision_files, **_read_dir(directory / "textual", "textual/")}
    files["textual/model.onnx"] = _onnx(_Call(model, text_features), (torch.zeros(1, 77, dtype=torch.int32),),
                                        ["text"], ["embedding"])

    def texts(strings):
        rows = torch.zeros(len(strings), 77, dtype=torch.long)
        for row, ids in enumerate(tokenizer(list(strings)).input_ids):
            ids = ids[:77]
            ids[-1] = eot
            rows[row, : len(ids)] = torch.tensor(ids)
        return _normalised(text_features(model, rows))

    return Original(files, images, _no_grad(texts))


def mclip(directory: Path) -> Original:
    """immich-app/XLM-Roberta-Large-Vit-B-32: M-CLIP's text side (XLM-R, attention-masked mean,
    linear map; ``multilingual_clip.pt_multilingual_clip.MultilingualCLIP.forward``) with the
    open_clip ViT-B/32 image tower. Immich's export is static: batch 1, 77 int32 tokens."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = sentencepiece_tokenizer(directory / "textual", ["<s>", "<pad>", "</s>", "<unk>"], "<s> $A </s>",
                                        bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    torch.manual_seed(3)
    transformer = XLMRobertaModel(XLMRobertaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                                   max_position_embeddings=514, **_tiny()), add_pooling_layer=False)
    text_model = torch.nn.ModuleDict({"transformer": transformer.eval(), "LinearTransformation": torch.nn.Linear(32, 16)})
    vision_files, images = _open_clip_vision(_clip_vision_model(4), {"embed_dim": 16, "text_cfg": {"context_length": 77}})

    def text_features(m, ids, mask):
        embs = m["transformer"](input_ids=ids.long(), attention_mask=mask.long())[0]
        att = mask.float()
        return m["LinearTransformation"]((embs * att.unsqueeze(2)).sum(dim=1) / att.sum(dim=1)[:, None])

    files = {**vision_files, **_read_dir(directory / "textual", "textual/")}
    dummy = torch.ones(1, 77, dtype=torch.int32)
    files["textual/model.onnx"] = _onnx(_Call(text_model, text_features), (dummy, dummy),
                                        ["input_ids", "attention_mask"], ["embedding"], dynamic=False)

    def texts(strings):
        tokens = tokenizer(list(strings), padding=True, return_tensors="pt")  # M-CLIP does not truncate
        return _normalised(text_features(text_model, tokens.input_ids, tokens.attention_mask))

    return Original(files, images, _no_grad(texts))


# ---------------------------------------------------------------- UForm 3


def uform(directory: Path) -> Original:
    """unum-cloud/uform3-image-text-multilingual-base: ``uform.torch_encoders`` and uform's own
    ``TextProcessor`` (pads to ``max_position_embeddings``, truncates by cutting the ids)."""
    from _tiny_models import wordpiece_tokenizer_json
    from uform.numpy_processors import TextProcessor
    from uform.torch_encoders import ImageEncoder, TextEncoder

    (directory / "tokenizer.json").write_text(wordpiece_tokenizer_json())
    vocab = json.loads((directory / "tokenizer.json").read_text())["model"]["vocab"]
    config = {
        "image_encoder": {"dim": 32, "patch_size": 16, "image_size": SIZE, "num_layers": 2, "num_heads": 2,
                          "embedding_dim": 24, "pooling": "cls", "num_reg_tokens": 1,
                          "normalization_means": CLIP_MEAN, "normalization_deviations": CLIP_STD},
        "text_encoder": {"model_type": "bert", "dim": 32, "context_dim": 32, "vocab_size": len(vocab),
                         "padding_idx": 0, "num_layers": 2, "num_heads": 2, "embedding_dim": 24,
                         "multimodal_layers_ids": [], "head_one_neuron": True, "pooling": "cls",
                         "max_position_embeddings": 32},
    }
    (directory / "config.json").write_text(json.dumps(config))
    torch.manual_seed(5)
    image_encoder = ImageEncoder(**_fields(ImageEncoder, config["image_encoder"]))
    text_encoder = TextEncoder(**_fields(TextEncoder, config["text_encoder"]))
    for encoder in (image_encoder, text_encoder):
        encoder.eval().return_features = True
    files = _read_dir(directory)
    files["image_encoder.onnx"] = _onnx(image_encoder, (torch.zeros(2, 3, SIZE, SIZE),), ["images"],
                                        ["features", "embeddings"])
    ids = torch.ones(2, 32, dtype=torch.int32)
    files["text_encoder.onnx"] = _onnx(_Call(text_encoder, lambda m, i, a: m(i.long(), a)), (ids, ids),
                                       ["input_ids", "attention_mask"], ["features", "embeddings"])
    tokens = TextProcessor(str(directory / "config.json"), str(directory / "tokenizer.json"))
    section = config["image_encoder"]

    def images(pictures):
        pixels = np.stack([torchvision_transform(p, SIZE, section["normalization_means"],
                                                 section["normalization_deviations"]) for p in pictures])
        return _normalised(image_encoder(torch.from_numpy(pixels))[1])

    def texts(strings):
        batch = {key: torch.from_numpy(value).long() for key, value in tokens(list(strings)).items()}
        return _normalised(text_encoder(batch["input_ids"], batch["attention_mask"])[1])

    return Original(files, _no_grad(images), _no_grad(texts))


def _fields(cls, section: dict) -> dict:
    """The config keys uform's dataclass takes (its ``from_pretrained`` strips the others too)."""
    return {key: value for key, value in section.items() if key in cls.__dataclass_fields__}


def _no_grad(function: Callable) -> Callable:
    def run(items):
        with torch.no_grad():
            return function(items)

    return run


ORIGINALS = {
    "uform3-multilingual": uform,
    "clip-vit-b32": hf_clip,
    "openclip-vit-b32": open_clip,
    "siglip2-base": hf_siglip,
    "mclip-xlmr-b32": mclip,
}
