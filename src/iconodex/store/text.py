"""Turning metadata into filterable fields and keyword-searchable text."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..records import Metadata

# Words too common to help a keyword match, in the languages catalogues most often use.
STOPWORDS = frozenset(
    "a an the of and or in on at to for with by from is are was this that these those "
    "le la les un une des du de et ou en au aux sur dans pour par avec "
    "der die das ein eine und oder im am auf mit von zu für ist "
    "il lo gli una di e o nel con per el los las y".split()
)
TOKEN = re.compile(r"\w+", re.UNICODE)


def field_rows(metadata: Metadata, title: str) -> Iterator[tuple[str, str, str]]:
    """(field, value lower-cased, value as written) triples; a prefixed field (``dcterms:creator``)
    is also filed under its local name (``creator``) so ``--where creator=…`` works on any vocabulary."""
    if title:
        yield "title", title.strip().lower(), title.strip()
    for name, values in metadata.items():
        names = {name.strip().lower()}
        if ":" in name:
            names.add(name.rsplit(":", 1)[1].strip().lower())
        for value in values:
            for field_name in names:
                yield field_name, value.strip().lower(), value.strip()


def fts_body(metadata: Metadata) -> str:
    return "\n".join(value for values in metadata.values() for value in values)


def keyword_match(text: str) -> str:
    """An FTS5 MATCH expression that can never be a syntax error: each meaningful word quoted,
    joined with OR so any word matches and bm25 ranks items matching more words higher."""
    words = [w for w in TOKEN.findall(text.lower()) if len(w) > 1 and w not in STOPWORDS]
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words[:32]))
