"""The dataset card (README.md) of an exported UForm/USearch dataset, as the Hub expects it:
YAML front matter naming the parquet table, then what every file holds and how to use it."""

from __future__ import annotations

from typing import Any

CARD = """---
tags:
- iconodex
- image-retrieval
- embeddings
- usearch
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---

# {title}

An image collection exported by [iconodex](https://pypi.org/project/iconodex/): the catalogue
metadata as a Hugging Face `datasets` table, pre-computed embeddings of every picture and its
catalogue text, and a USearch index for fast multimodal search. Pictures are **not mirrored**:
`images_urls` points to where they live.

## Files

| file | content |
|---|---|
| `data/train-00000-of-00001.parquet` | the metadata table, {rows} rows |
| `image_embeddings.fbin` | float32 matrix ({rows}, {dims}): picture embeddings (space `{image_space}`) |
| `text_embeddings.fbin` | float32 matrix ({rows}, {dims}): catalogue-text embeddings (space `{text_space}`); an all-zero row means the item has no text |
| `labels.npy` | int64 ({rows},): the label of each embedding row |
| `usearch_index.usearch` | USearch index, metric `cos`, dtype `f32`, {dims} dims, keyed by label |
| `iconodex.json` | what made the vectors (read back by `iconodex import`) |

`.fbin` layout: int32 rows, int32 dims, then row-major float32 (little-endian).

The index holds fused vectors: `normalise(0.5 * normalise(image) + 0.5 * normalise(text))`,
or the picture vector alone when an item has no text.

Labels: {label_text}

## Columns

{columns}

## Embedding model

Vectors were made with iconodex model `{model}`{identity}. Queries must be embedded with the same
model (and truncated to the first {dims} components) to be comparable.

## How to use

Search it with iconodex, without re-embedding anything:

```bash
iconodex import uform-hf ./this-dataset -c ./coll
iconodex search -c ./coll --like ITEM_ID          # more like this: works offline
iconodex models pull {model}                      # once, for text and picture queries
iconodex search -c ./coll "a castle by the sea"
```

Or directly with USearch:

```python
import numpy as np
from usearch.index import Index
from datasets import load_dataset

index = Index.restore("usearch_index.usearch")
labels = np.load("labels.npy")
table = load_dataset("parquet", data_files="data/*.parquet")["train"]
matches = index.search(query_vector, 10)   # query_vector: {dims} float32, same model
```
"""

COLUMN_DOCS = {
    "id": "running index (1..N)",
    "item_id": "the item's identifier in its source",
    "label": "the int64 label used in labels.npy and the index (ids are not integers)",
    "Title": "the item's title",
    "images_urls": "list of picture URLs (IIIF: the full image) or local paths",
    "links": "JSON object of links back to the source (page, manifest, canvas, thumbnail)",
}


def dataset_card(info: dict[str, Any], columns: list[str], title: str) -> str:
    label_text = ("the item id (`item_id`, an integer)." if info["integer_ids"] else
                  "item ids are not integers, so each row's label is the collection's integer key, "
                  "also given in the table's `label` column next to `item_id`.")
    identity = info.get("identity") or {}
    identity_text = f" ({identity.get('name', '')} {identity.get('version', '')})".rstrip() if identity else ""
    column_lines = "\n".join(f"- `{name}`: {COLUMN_DOCS.get(name, 'metadata field (list when multi-valued)')}"
                             for name in columns)
    return CARD.format(title=title, rows=info["rows"], dims=info["dims"], image_space=info["image_space"],
                       text_space=info["text_space"], label_text=label_text, columns=column_lines,
                       model=info["model"], identity=identity_text if identity_text != " ()" else "")
