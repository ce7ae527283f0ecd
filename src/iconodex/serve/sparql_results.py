"""SPARQL 1.1 Query Results in JSON (https://www.w3.org/TR/sparql11-results-json/) and XML
(https://www.w3.org/TR/rdf-sparql-XMLres/), and the choice between them by ``Accept``."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape, quoteattr

JSON_TYPE = "application/sparql-results+json"
XML_TYPE = "application/sparql-results+xml"
XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"

Binding = dict[str, dict[str, str]]  # variable -> {"type": "uri"|"literal"|"bnode", "value", ["datatype"]}


def uri(value: str) -> dict[str, str]:
    return {"type": "uri", "value": value}


def literal(value: str, datatype: str | None = None) -> dict[str, str]:
    term = {"type": "literal", "value": value}
    if datatype:
        term["datatype"] = datatype
    return term


def double(value: float) -> dict[str, str]:
    return literal(repr(float(value)), XSD_DOUBLE)


def bnode(label: str) -> dict[str, str]:
    return {"type": "bnode", "value": label}


def choose_format(accept: str | None) -> str:
    """XML when the client prefers it; JSON otherwise (also for ``*/*`` and unknown types)."""
    ranked = []
    for position, part in enumerate((accept or "").split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = next((_float(p[2:]) for p in params if p.startswith("q=")), 1.0)
        ranked.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranked):
        if media in (JSON_TYPE, "application/json"):
            return JSON_TYPE
        if media in (XML_TYPE, "application/xml", "text/xml"):
            return XML_TYPE
    return JSON_TYPE


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def to_json(variables: list[str], bindings: list[Binding]) -> str:
    return json.dumps({"head": {"vars": variables}, "results": {"bindings": bindings}}, ensure_ascii=False)


def to_xml(variables: list[str], bindings: list[Binding]) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<sparql xmlns="http://www.w3.org/2005/sparql-results#">', "  <head>"]
    lines += [f"    <variable name={quoteattr(name)}/>" for name in variables]
    lines += ["  </head>", "  <results>"]
    for binding in bindings:
        lines.append("    <result>")
        lines += [f"      <binding name={quoteattr(name)}>{_xml_term(term)}</binding>"
                  for name, term in binding.items()]
        lines.append("    </result>")
    lines += ["  </results>", "</sparql>"]
    return "\n".join(lines) + "\n"


def _xml_term(term: dict[str, str]) -> str:
    value = escape(term["value"])
    if term["type"] == "uri":
        return f"<uri>{value}</uri>"
    if term["type"] == "bnode":
        return f"<bnode>{value}</bnode>"
    datatype = f" datatype={quoteattr(term['datatype'])}" if "datatype" in term else ""
    return f"<literal{datatype}>{value}</literal>"


def render(variables: list[str], bindings: list[Binding], media_type: str) -> str:
    return to_xml(variables, bindings) if media_type == XML_TYPE else to_json(variables, bindings)
