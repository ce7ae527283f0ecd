"""The CLIP-family models iconodex knows by short name: where they live and what they weigh.

Every entry names an ONNX export that exists on the Hugging Face hub, the exact files the loader
needs from it (nothing else is downloaded), and the figures its authors publish, so that
``iconodex models list`` and docs/models.md tell the same story. Three repository layouts exist:

- ``uform``: Unum's own export: ``config.json`` (``image_encoder``/``text_encoder`` sections),
  ``tokenizer.json``, ``image_encoder.onnx``, ``text_encoder.onnx``;
- ``hf``: the transformers.js layout (Xenova, onnx-community): ``config.json``,
  ``preprocessor_config.json``, ``tokenizer.json``, ``tokenizer_config.json``,
  ``onnx/vision_model.onnx``, ``onnx/text_model.onnx`` (and ``*_fp16.onnx`` twins);
- ``open_clip``: the Immich layout of OpenCLIP / M-CLIP exports: ``config.json`` (open_clip model
  config), ``visual/model.onnx`` + ``visual/preprocess_cfg.json``, ``textual/model.onnx`` +
  ``textual/tokenizer.json`` + ``textual/tokenizer_config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UFORM_FILES = ("config.json", "tokenizer.json", "image_encoder.onnx", "text_encoder.onnx")
HF_FILES = (
    "config.json",
    "preprocessor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "onnx/vision_model.onnx",
    "onnx/text_model.onnx",
)
HF_FP16_FILES = ("onnx/vision_model_fp16.onnx", "onnx/text_model_fp16.onnx")
OPEN_CLIP_FILES = (
    "config.json",
    "visual/model.onnx",
    "visual/preprocess_cfg.json",
    "textual/model.onnx",
    "textual/tokenizer.json",
    "textual/tokenizer_config.json",
)
FAMILY_FILES = {"uform": UFORM_FILES, "hf": HF_FILES, "open_clip": OPEN_CLIP_FILES}


@dataclass(frozen=True)
class ModelEntry:
    """One supported model: identity, files, and what its authors report about it."""

    name: str
    family: str  # "uform" | "hf" | "open_clip": the repository layout, see the module docstring
    repo_id: str
    dims: int
    size_mb: int  # approximate download of ``files`` (fp32)
    licence: str
    languages: str
    summary: str
    zero_shot: str  # the authors' published figure, quoted with its benchmark
    source: str  # the page the figure comes from
    revision: str = "main"
    fp16_files: tuple[str, ...] = ()  # used on GPU instead of the fp32 towers when present
    prompt: str | None = None  # default query template, e.g. "a photo of {}"
    files: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.files:
            object.__setattr__(self, "files", FAMILY_FILES[self.family])


CATALOG: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            name="uform3-multilingual",
            family="uform",
            repo_id="unum-cloud/uform3-image-text-multilingual-base",
            dims=256,
            size_mb=1100,
            licence="Apache-2.0",
            languages="21 languages",
            summary="UForm3 multilingual base: ViT-B/16 + 12-layer BERT, 256-d (the Omeka/UForm seed)",
            zero_shot="Flickr30k zero-shot text→image R@1 0.558, R@5 0.813, R@10 0.874",
            source="https://huggingface.co/unum-cloud/uform3-image-text-multilingual-base",
        ),
        ModelEntry(
            name="clip-vit-b32",
            family="hf",
            repo_id="Xenova/clip-vit-base-patch32",
            dims=512,
            size_mb=610,
            licence="MIT",
            languages="English",
            summary="OpenAI CLIP ViT-B/32 (the SARI and Open Images seeds)",
            zero_shot="ImageNet zero-shot top-1 63.2% (CLIP paper, Radford et al. 2021)",
            source="https://github.com/openai/CLIP/blob/main/model-card.md",
            fp16_files=HF_FP16_FILES,
            prompt="a photo of {}",
        ),
        ModelEntry(
            name="openclip-vit-b32",
            family="open_clip",
            repo_id="immich-app/ViT-B-32__laion2b-s34b-b79k",
            dims=512,
            size_mb=610,
            licence="MIT",
            languages="English",
            summary="OpenCLIP ViT-B/32 trained on LAION-2B",
            zero_shot="ImageNet zero-shot top-1 66.6%",
            source="https://huggingface.co/laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
            prompt="a photo of {}",
        ),
        ModelEntry(
            name="siglip2-base",
            family="hf",
            repo_id="onnx-community/siglip2-base-patch16-224-ONNX",
            dims=768,
            size_mb=1500,
            licence="Apache-2.0",
            languages="multilingual (Gemma tokenizer)",
            summary="Google SigLIP 2 B/16 at 224 px: the strongest base-size model here",
            zero_shot="see the SigLIP 2 paper's evaluation table (arXiv:2502.14786, Table 1)",
            source="https://huggingface.co/google/siglip2-base-patch16-224",
            fp16_files=HF_FP16_FILES,
            prompt="this is a photo of {}.",
        ),
        ModelEntry(
            name="mclip-xlmr-b32",
            family="open_clip",
            repo_id="immich-app/XLM-Roberta-Large-Vit-B-32",
            dims=512,
            size_mb=2600,
            licence="MIT",
            languages="48 languages (Turkish included)",
            summary="M-CLIP: XLM-RoBERTa-Large text tower aligned to OpenAI CLIP ViT-B/32 images",
            zero_shot="MS-COCO (human-translated) text→image R@10 per language in the model card",
            source="https://huggingface.co/M-CLIP/XLM-Roberta-Large-Vit-B-32",
        ),
    )
}

DEFAULT_CLIP = "uform3-multilingual"


def find_entry(name: str) -> ModelEntry | None:
    """The entry for a short name or a full hub id (case-insensitive), else None."""
    wanted = name.strip().lower()
    for entry in CATALOG.values():
        if wanted in (entry.name.lower(), entry.repo_id.lower()):
            return entry
    return None


# The default relevance cut of a text query, per model: results scoring below it are more likely
# wrong than right, so a search for something the collection lacks says "no good match" instead of
# listing the whole collection. Measured with benchmarks/calibrate_relevance.py (the cut with the best
# mean F1 of relevant vs. irrelevant results over two labelled sets: the demo collection's
# benchmarks/data/demo_queries.jsonl and Open Clip Art's title queries (its calibration split); docs/benchmarks.md, section
# "relevance"). They were measured at alpha 0.5 and hold only there: picture-only or catalogue-only
# scores sit on other scales. CLIP-family models have none until they are measured the same way: their
# scores sit on another scale too (cosines of about 0.2–0.35), so the offline figure would be wrong.
RELEVANCE_CUTS: dict[str, float] = {"offline": 0.47, "offline-lite0": 0.46}  # on the calibrated fusion's scale
CUT_ALPHA = 0.5


def relevance_cut(model: str) -> float | None:
    """The measured default cut for text queries with ``model`` (a name or hub id), else None."""
    entry = find_entry(model)
    return RELEVANCE_CUTS.get(entry.name if entry else model)


# Where each leg's similarities sit for a model, as (mean, standard deviation) over (query, item) pairs
# and the separation d′ (how many standard deviations right answers sit above the mean),
# keyed by leg name (``text-query:image`` = a text query against the pictures, ``text-query:text``
# against the catalogue text…). The calibrated fusion (search.hybrid.calibrated_fuse) reads every
# similarity on its leg's scale, so a leg whose scores are low but telling is not drowned by one whose
# scores are high but flat. Measured with benchmarks/calibrate_legs.py (docs/benchmarks.md, section
# "leg-scales"); a leg not listed here is scaled by the query's own candidates. The offline figures
# (this cut and these scales) were measured on its pack version 3: ``offline`` with the default
# variant (Lite2), ``offline-lite0`` with Lite0 (the default before 2026-11-26, kept for collections made
# with it); collections kept on an older version get neither (``OfflineEncoder.calibration``).
# A fourth figure is the leg's hold (search.hybrid.LegScale), fitted on the same split for the most
# informative leg: the offline catalogue leg keeps its best candidate first unless another item scores
# more than 0.4 σ (Lite2; Lite0: 0.5 σ) of the fused scale above it. Without it the picture leg would
# overturn enough right answers in some languages to fall more than 0.01 below the catalogue leg alone.
LEG_SCALES: dict[str, dict[str, tuple[float, ...]]] = {
    "offline": {"text-query:image": (0.4538, 0.0468, 1.38), "text-query:text": (0.2299, 0.0583, 4.57, 0.4)},
    "offline-lite0": {"text-query:image": (0.4568, 0.0464, 1.34), "text-query:text": (0.2299, 0.0583, 4.57, 0.5)},
}


def leg_scales(model: str) -> dict[str, tuple[float, ...]]:
    """The measured leg scales of ``model`` (a name or hub id); empty when none were measured."""
    entry = find_entry(model)
    return dict(LEG_SCALES.get(entry.name if entry else model, {}))


# The visual-space cosine at or above which two pictures count as near-duplicates (iconodex.duplicates),
# per model and, for the offline model, per network (its visual space is the network's pooled features,
# whatever the pack version): each moves differently under a re-encode, a resize or a re-photograph, so
# the threshold that keeps the same share of true pairs differs. Measured with
# ``benchmarks/bench_duplicates.py quality`` (docs/formats.md, "Near-duplicates"); Lite2's keeps the visual
# leg's recall where Lite0's 0.92 had it. Other models get ``DEFAULT_DUPLICATE_SCORE``, unmeasured.
DUPLICATE_SCORES: dict[str, float] = {"offline-lite2": 0.90, "offline-lite0": 0.92}
DEFAULT_DUPLICATE_SCORE = 0.92


def duplicate_score(model: str, variant: str | None = None) -> float:
    """The near-duplicate cosine for ``model`` (a short name or a hub id) and the variant that made the
    vectors, where the model has variants."""
    entry = find_entry(model)
    name = entry.name if entry else model
    return DUPLICATE_SCORES.get(f"{name}-{variant}" if variant else name, DEFAULT_DUPLICATE_SCORE)
