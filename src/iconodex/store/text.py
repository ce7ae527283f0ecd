"""Turning metadata into filterable fields and keyword-searchable text."""

from __future__ import annotations

import re
import unicodedata
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


# Scripts written without spaces between words (Han, kana, Thai, Lao, Khmer, Myanmar), and Hangul,
# whose particles cling to the noun ("고양이가"): a word tokenizer sees a whole phrase as one word.
UNSPACED = re.compile(
    "[\u3005-\u3007\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # kana, Han
    "\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e"  # Hangul
    "\u0e01-\u0e5b\u0e81-\u0edf\u1000-\u109f\u1780-\u17dd]+"  # Thai, Lao, Myanmar, Khmer
)
MAX_GRAMS = 32  # per query: distinct runs, and bigrams in one run's phrase, as for words


def unspaced_runs(text: str) -> list[str]:
    """The stretches of ``text`` in scripts without word spaces, NFKC-normalised (half-width kana
    and compatibility ideographs fold onto the forms catalogues usually write)."""
    return UNSPACED.findall(unicodedata.normalize("NFKC", text))


def _bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def gram_columns(text: str) -> tuple[str, str]:
    """(unigrams, bigrams) of ``text``'s unspaced runs, space-separated for the n-gram index."""
    runs = unspaced_runs(text)
    return " ".join(" ".join(run) for run in runs), " ".join(" ".join(_bigrams(run)) for run in runs)


def gram_match(text: str) -> str:
    """An FTS5 MATCH expression over the n-gram index, any run matching: a one-character run (猫)
    matches the unigram columns, a longer one the phrase of its bigrams, i.e. where the run appears
    as written (as a trigram index would match it). Matching any one of a long run's bigrams
    instead would find every item sharing a common pair (in Thai, a consonant and its vowel)."""
    characters, phrases = [], []
    for run in unspaced_runs(text):
        if len(run) == 1:
            characters.append(f'"{run}"')
        else:
            phrases.append('"' + " ".join(_bigrams(run)[:MAX_GRAMS]) + '"')
    parts = []
    if characters:
        parts.append("{title_uni body_uni} : (" + " OR ".join(list(dict.fromkeys(characters))[:MAX_GRAMS]) + ")")
    if phrases:
        parts.append("{title_bi body_bi} : (" + " OR ".join(list(dict.fromkeys(phrases))[:MAX_GRAMS]) + ")")
    return " OR ".join(parts)
