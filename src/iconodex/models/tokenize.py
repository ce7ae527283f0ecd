"""Tokenisation with the model's own ``tokenizer.json``, at the model's context length.

The ``tokenizers`` library applies everything the file defines (normaliser: lower-casing for CLIP,
none for SigLIP's Gemma vocabulary; pre-tokeniser; the post-processor's BOS/EOS/CLS/SEP). What
the file does not say is read from the model's configs: the context length, and the padding token.
Every text is padded to the full context length: SigLIP was trained with ``max_length`` padding
and reads the pad positions, static-shape exports accept nothing else, and for CLIP (EOS pooling,
causal mask) and mean-pooled towers padding does not change the vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

_UNSET_MAX_LENGTH = 100_000  # transformers writes ~1e30 when a tokenizer has no limit


@dataclass(frozen=True)
class TextSpec:
    """What the text tower expects besides the vocabulary."""

    context_length: int
    pad_id: int
    # UForm's own TextProcessor cuts the ids at the context length, dropping the final [SEP];
    # transformers and open_clip truncate the text and keep the closing special token.
    keep_end_token: bool = True


class TextTokenizer:
    """``tokenizer.json`` + TextSpec → ``input_ids`` / ``attention_mask`` of shape (n, context_length)."""

    def __init__(self, tokenizer_path: Path, spec: TextSpec) -> None:
        self.spec = spec
        self._tokenizer = load_tokenizer(tokenizer_path)
        self._tokenizer.no_padding()
        if spec.keep_end_token:
            # Truncation leaves room for the special tokens the post-processor adds, so EOS survives.
            self._tokenizer.enable_truncation(max_length=spec.context_length)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        length = self.spec.context_length
        ids = np.full((len(texts), length), self.spec.pad_id, dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, encoding in enumerate(self._tokenizer.encode_batch(list(texts))):
            tokens = encoding.ids[:length]
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def token_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)


def load_tokenizer(path: Path):
    """A ``tokenizers.Tokenizer`` from a file, with one-line errors for the two ways this fails."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ConfigError("CLIP-family models need `tokenizers`; install it with `pip install 'iconodex[hub]'`") from None
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # the Rust side raises plain Exception for a malformed file
        raise ConfigError(f"{path} is not a usable tokenizer.json ({err})") from None


def pad_token_name(tokenizer_config: dict[str, Any] | None) -> str | None:
    """The ``pad_token`` of a ``tokenizer_config.json`` (a string, or an AddedToken dict)."""
    token = (tokenizer_config or {}).get("pad_token")
    if isinstance(token, dict):
        token = token.get("content")
    return token if isinstance(token, str) else None


def resolve_pad_id(tokenizer_path: Path, tokenizer_config: dict[str, Any] | None, default: int = 0) -> int:
    """The id of the configured pad token; ``default`` when none is configured or known."""
    name = pad_token_name(tokenizer_config)
    if name is None:
        return default
    found = load_tokenizer(tokenizer_path).token_to_id(name)
    return default if found is None else int(found)


def hf_context_length(tokenizer_config: dict[str, Any] | None, model_config: dict[str, Any], default: int) -> int:
    """``model_max_length`` when the tokenizer sets a real one, else the text tower's positions."""
    limit = (tokenizer_config or {}).get("model_max_length")
    if isinstance(limit, (int, float)) and 0 < limit < _UNSET_MAX_LENGTH:
        return int(limit)
    text_config = model_config.get("text_config") or {}
    return int(text_config.get("max_position_embeddings", default))
