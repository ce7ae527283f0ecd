"""Titles for harvested pictures from the endpoint's own labels, asked for with one ``VALUES`` query.

Best first: the Linked Art object the picture shows (its Name, else its ``_label``), the digital
object the image service makes available (likewise), then a label of the access point itself or
of what links to it (a ``la:DigitalService`` aside: its label is "IIIF Image API").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Best first: what the picture shows, then the digital object, then the image resource's neighbours.
_LABEL_VARIABLES = ("objectName", "objectLabel", "digitalName", "digitalLabel", "ownLabel", "holderLabel")
_LABELS_QUERY = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX dc: <http://purl.org/dc/elements/1.1/>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX schema: <http://schema.org/>
PREFIX crm: <http://www.cidoc-crm.org/cidoc-crm/>
PREFIX la: <https://linked.art/ns/terms/>
SELECT ?access ?objectName ?objectLabel ?digitalName ?digitalLabel ?ownLabel ?holderLabel WHERE {
  VALUES ?access { TERMS }
  OPTIONAL { ?access rdfs:label|skos:prefLabel|dcterms:title|dc:title|schema:name ?ownLabel }
  OPTIONAL { ?holder ?link ?access ; rdfs:label|skos:prefLabel|dcterms:title|dc:title|schema:name ?holderLabel
             FILTER NOT EXISTS { ?holder a la:DigitalService } }
  OPTIONAL {
    ?digital la:access_point|(la:digitally_available_via/la:access_point) ?access .
    OPTIONAL { ?digital rdfs:label ?digitalLabel }
    OPTIONAL { ?digital crm:P1_is_identified_by ?digitalNaming .
               ?digitalNaming a crm:E33_E41_Linguistic_Appellation ; crm:P190_has_symbolic_content ?digitalName }
    OPTIONAL {
      ?digital la:digitally_shows|^la:digitally_shown_by ?visual .
      ?object crm:P138i_has_representation|crm:P65_shows_visual_item ?visual .
      OPTIONAL { ?object rdfs:label ?objectLabel }
      OPTIONAL { ?object crm:P1_is_identified_by ?objectNaming .
                 ?objectNaming a crm:E33_E41_Linguistic_Appellation ; crm:P190_has_symbolic_content ?objectName }
    }
  }
}"""
_IRI_UNSAFE = re.compile(r'[\x00-\x20<>"{}|^`\\]')


def labels_query(terms: Iterable[str]) -> str:
    """The label query for these access points (SPARQL terms, see ``sparql_term``)."""
    return _LABELS_QUERY.replace("TERMS", " ".join(sorted(terms)))


def sparql_term(cell: dict[str, Any]) -> str | None:
    """A result cell written back as a SPARQL term for ``VALUES``; None for what cannot be."""
    value = str(cell.get("value", ""))
    if cell.get("type") == "uri":
        return None if not value or _IRI_UNSAFE.search(value) else f"<{value}>"
    if cell.get("type") not in ("literal", "typed-literal"):
        return None  # a blank node has no name outside its own result
    text = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
    if cell.get("xml:lang"):
        return f"{text}@{cell['xml:lang']}"
    datatype = str(cell.get("datatype", ""))
    return f"{text}^^<{datatype}>" if datatype and not _IRI_UNSAFE.search(datatype) else text


def best_labels(rows: list[dict[str, Any]], languages: tuple[str, ...]) -> dict[str, str]:
    """For each ``?access`` value, its best label: by ``_LABEL_VARIABLES`` order, then language."""
    best: dict[str, tuple[tuple[int, int, str], str]] = {}
    for row in rows:
        access = str(row.get("access", {}).get("value", ""))
        for rank, variable in enumerate(_LABEL_VARIABLES):
            cell = row.get(variable)
            label = str(cell.get("value", "")).strip() if isinstance(cell, dict) else ""
            if not access or not label:
                continue
            key = (rank, _language_rank(str(cell.get("xml:lang", "")), languages), label)
            if access not in best or key < best[access][0]:
                best[access] = (key, label)
    return {access: label for access, (_, label) in best.items()}


def _language_rank(tag: str, languages: tuple[str, ...]) -> int:
    """The user's languages first, in their order; then untagged text; then any other language."""
    primary = tag.lower().split("-")[0]
    if primary in languages:
        return languages.index(primary)
    return len(languages) + (1 if primary else 0)
