"""Language maps: the many shapes a multilingual string takes in IIIF and JSON-LD.

IIIF Presentation 3 writes ``{"en": ["Title"], "none": ["…"]}``; Presentation 2 writes a plain
string, a list of strings, ``{"@value": "…", "@language": "fr"}`` or a list of those. Everything
is first normalised to ``{language: [values]}`` (``"none"`` when no language is given), then the
caller picks the values in the user's preferred language and keeps the others apart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..records import Metadata, add_value

NO_LANGUAGE = "none"
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop the HTML that IIIF allows in values (``<a>``, ``<b>``…) and collapse whitespace."""
    return _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()


def by_language(value: object) -> dict[str, list[str]]:
    """Normalise any language-map shape to ``{language: [values]}``, empty values dropped."""
    found: dict[str, list[str]] = {}
    _collect(value, NO_LANGUAGE, found)
    return found


def _collect(value: object, language: str, found: dict[str, list[str]]) -> None:
    if value is None:
        return
    if isinstance(value, str | int | float):
        text = clean_text(str(value))
        if text and text not in found.setdefault(language, []):
            found[language].append(text)
    elif isinstance(value, list):
        for part in value:
            _collect(part, language, found)
    elif isinstance(value, dict):
        if "@value" in value:
            _collect(value["@value"], str(value.get("@language") or language), found)
        else:  # a v3 map: every key is a language tag
            for key, part in value.items():
                _collect(part, str(key), found)


def pick_language(available: Sequence[str], preferred: Sequence[str]) -> str | None:
    """The best language present: a preferred one (``de`` matches ``de-CH``), else no-language, else any."""
    for wanted in preferred:
        for language in available:
            if language.lower() == wanted.lower() or language.lower().startswith(wanted.lower() + "-"):
                return language
    if NO_LANGUAGE in available:
        return NO_LANGUAGE
    return available[0] if available else None


def split_languages(value: object, preferred: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The values in the best language, plus the other languages' values by language tag.

    Values without a language belong to every language, so they join the best language's values.
    """
    found = by_language(value)
    best = pick_language(list(found), preferred)
    if best is None:
        return [], {}
    values = list(found[best])
    if best != NO_LANGUAGE:
        values += [v for v in found.pop(NO_LANGUAGE, []) if v not in values]
    others = {lang: vals for lang, vals in found.items() if lang != best}
    return values, others


def first_text(value: object, preferred: Sequence[str]) -> str:
    """One display string (a label, a title) in the best language; empty when there is none."""
    values, _ = split_languages(value, preferred)
    return values[0] if values else ""


def add_localised(metadata: Metadata, name: str, value: object, preferred: Sequence[str]) -> None:
    """Add ``value``'s texts in the best language under ``name``, the other languages' under ``name@lang``,
    so nothing is lost and keyword search still finds them."""
    best, others = split_languages(value, preferred)
    for text in best:
        add_value(metadata, name, text)
    for language, texts in others.items():
        for text in texts:
            add_value(metadata, f"{name}@{language}", text)
