"""The text that represents an item in the ``text`` space: what the catalogue says."""

from __future__ import annotations

import re

from ..errors import ConfigError
from ..store import Item

PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
# Fields worth embedding by default, matched on their local name (``dcterms:description`` → ``description``).
DESCRIPTIVE = ("description", "caption", "summary", "abstract", "subject", "creator", "spatial", "coverage",
               "date", "medium", "type", "label", "keywords", "tags")
MAX_CHARS = 2000
# A camera's or scanner's file name ("IMG_0042", "DSC 1234", "20230401_123456", "PXL_2023…", "scan-0007";
# the folder source turns "_" into spaces) says nothing about the picture: embedding it would only add
# noise to the catalogue leg, so an item whose only text is such a title gets no text vector and is
# ranked by its picture alone. Catalogue titles made of words and numbers ("1984", "Plate 12", "Paris
# 1900", "Opus 131") stay text: a camera's prefix is upper-case or joined to a zero-padded counter, and
# a timestamp has at least six digits.
FILE_NAME_TITLE = re.compile(r"^\s*(?:[A-Z]{1,5}[\s_\-]?\d{4,}|[A-Za-z]{1,5}[\s_\-]?0\d{2,}|\d{6,})"
                             r"[\d\s_\-.]*(?:\.[A-Za-z0-9]{2,4})?\s*$")


def check_template(template: str | None) -> None:
    """Refuse a text template that could only ever give empty texts (no field named in braces) or
    that a brace too many or too few would garble: every item would lose its catalogue leg, silently."""
    if template is None:
        return
    if template.count("{") != template.count("}") or "{{" in template or "}}" in template:
        raise ConfigError(f"text template {template!r} has an unbalanced brace; write fields as {{title}}")
    if not PLACEHOLDER.search(template):
        raise ConfigError(f"text template {template!r} names no field in braces, e.g. '{{title}}. {{description}}'")


def _values(item: Item, name: str) -> list[str]:
    if name.lower() == "title":
        return [item.title] if item.title else []
    wanted = name.lower()
    for key, values in item.metadata.items():
        if key.lower() == wanted or key.lower().rsplit(":", 1)[-1] == wanted:
            return values
    return []


def document_text(item: Item, template: str | None = None) -> str:
    """Fill ``template`` (``{title}``, ``{dcterms:spatial}``, ``{Title}``…; a field's values joined
    by "; ") or, without one, join the title and the descriptive fields."""
    if template:
        text = PLACEHOLDER.sub(lambda m: "; ".join(_values(item, m.group(1))), template)
        return text.strip()[:MAX_CHARS] if any(_values(item, m) for m in PLACEHOLDER.findall(template)) else ""
    parts = [item.title] if item.title and not FILE_NAME_TITLE.match(item.title) else []
    for name in DESCRIPTIVE:
        parts.extend(v for v in _values(item, name) if v not in parts)
    return ". ".join(parts)[:MAX_CHARS]
