"""SPARQL harvester (the SARI seed's SPARQL mode): a SELECT query that binds IIIF image URLs.

The query binds the image service to ``?iiif_url`` (option ``iiif_variable``); every other bound
variable becomes metadata, ``?title``/``?label`` the title. Results are read page by page with
``LIMIT``/``OFFSET`` appended to the query (replacing the query's own ``LIMIT``/``OFFSET``), unless
the query's own ``LIMIT`` already fits in one page. Paging needs ``ORDER BY`` to be stable, so
its absence is logged as a warning.

Real Linked Art data writes the access point as an ``…/info.json`` URL; it is cut back to the
service base. Ids are ``blake2b(url, digest_size=20)`` like SARI's, unless ``id_variable`` names
a variable that holds a stable id.

A query that binds no title (the SARI seed's binds only ``?iiif_url``) is followed, page by page,
by one query for the labels of the harvested access points (``VALUES``, ``LABEL_BATCH`` at a time):
the Linked Art object shown (its Name, else its ``_label``), else the digital object's, else a
label of the access point itself or of what links to it. Option ``labels=false`` turns this off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FetchError, IconodexError
from ..fetch.http import mask_url
from ..fetch.iiif_image import service_base
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, option_flag, response_json, url_id

log = logging.getLogger(__name__)

# A trailing "LIMIT n", "OFFSET n", or both in either order (SPARQL allows both orders).
_TAIL = re.compile(
    r"(?:\s+(?:LIMIT\s+(?P<limit>\d+)(?:\s+OFFSET\s+(?P<offset>\d+))?"
    r"|OFFSET\s+(?P<offset2>\d+)(?:\s+LIMIT\s+(?P<limit2>\d+))?))\s*$",
    re.IGNORECASE,
)
_TITLE_VARIABLES = ("title", "label", "name")
_RESULTS_JSON = "application/sparql-results+json"
LABEL_BATCH = 100
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


@dataclass(frozen=True)
class PagedQuery:
    """A SELECT query split into its body and the slice of results the user asked for."""

    body: str
    offset: int = 0
    limit: int | None = None

    @classmethod
    def parse(cls, text: str) -> PagedQuery:
        text = text.strip()
        match = _TAIL.search(text)
        if not match:
            return cls(text)
        limit = match.group("limit") or match.group("limit2")
        offset = match.group("offset") or match.group("offset2")
        return cls(text[: match.start()].rstrip(), int(offset or 0), int(limit) if limit else None)

    def pages(self, page_size: int) -> Iterator[tuple[str, int]]:
        """(query text, rows asked) for each page; the caller stops at the first short page."""
        start, end = self.offset, None if self.limit is None else self.offset + self.limit
        while end is None or start < end:
            size = page_size if end is None else min(page_size, end - start)
            yield f"{self.body}\nLIMIT {size}\nOFFSET {start}", size
            start += size


@dataclass
class SparqlSource:
    """Harvests IIIF image URLs bound by a SPARQL SELECT query on an endpoint."""

    endpoint: str
    query: str
    iiif_variable: str = "iiif_url"
    id_variable: str | None = None
    page_size: int = 1000
    labels: bool = True
    kind = "sparql"

    @property
    def name(self) -> str:
        return f"sparql:{self.endpoint}"

    @classmethod
    def detect(cls, spec: str) -> bool:
        path = spec.split("?", 1)[0].rstrip("/").lower()
        return is_url(spec) and path.endswith(("/sparql", "/query"))

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> SparqlSource:
        if not is_url(spec):
            raise ConfigError(f"a SPARQL source is an endpoint URL (https://…/sparql), not {spec!r}")
        query = _query_text(options.get("query"))
        try:
            page_size = int(options.get("page_size", 1000))
        except (TypeError, ValueError):
            page_size = 0
        if page_size < 1:
            raise ConfigError(f"sparql option page_size={options.get('page_size')!r} must be a whole number above 0")
        return cls(
            spec,
            query,
            iiif_variable=str(options.get("iiif_variable") or "iiif_url").lstrip("?$"),
            id_variable=str(options["id_variable"]).lstrip("?$") if options.get("id_variable") else None,
            page_size=page_size,
            labels=options.get("labels") is None or option_flag(options["labels"]),
        )

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        paged = PagedQuery.parse(self.query)
        if "order by" not in paged.body.lower():
            log.warning("the SPARQL query has no ORDER BY; paging may skip or repeat rows")
        seen: set[str] = set()
        labels = self.labels
        for text, asked in paged.pages(self.page_size):
            rows = self._select(ctx, text)
            if rows is None:
                return
            page = self._new_records(ctx, rows, seen)
            labels = labels and self._add_titles(ctx, [(record, cell) for record, cell in page if not record.title])
            for record, _ in page:
                ctx.report.harvested += 1
                yield record
            if len(rows) < asked:
                return

    def _new_records(self, ctx: HarvestContext, rows: list[dict[str, Any]],
                     seen: set[str]) -> list[tuple[SourceRecord, dict[str, Any]]]:
        """The page's records not seen before, each with the result cell of its access point."""
        page = []
        for row in rows:
            record = self._record(ctx, row)
            if record is not None and record.id not in seen:
                seen.add(record.id)
                page.append((record, row[self.iiif_variable]))
        return page

    def _add_titles(self, ctx: HarvestContext, untitled: list[tuple[SourceRecord, dict[str, Any]]]) -> bool:
        """Give records without a title the best label the endpoint has for their access point;
        False when the endpoint cannot answer, so that later pages do not ask again."""
        for start in range(0, len(untitled), LABEL_BATCH):
            batch = untitled[start:start + LABEL_BATCH]
            terms = {term for _, cell in batch if (term := sparql_term(cell))}
            if not terms:
                continue
            rows = self._select(ctx, _LABELS_QUERY.replace("TERMS", " ".join(sorted(terms))), listing=False)
            if rows is None:
                return False  # titles are a courtesy: the records stand without them
            titles = best_labels(rows, ctx.languages)
            for record, cell in batch:
                record.title = titles.get(str(cell.get("value", "")), "")
        return True

    def _select(self, ctx: HarvestContext, text: str, *, listing: bool = True) -> list[dict[str, Any]] | None:
        """The bindings of one query, or ``None``: a failure of the listing (``listing``) is reported,
        making it incomplete; a failure of the follow-up label query is a warning."""
        try:
            response = _send_query(ctx.http, self.endpoint, text)
            document = response_json(response)
        except FetchError as exc:
            if exc.status == 400 and listing:  # endpoints answer 400 to a query they cannot parse
                raise ConfigError(f"{mask_url(self.endpoint)} rejected the SPARQL query (HTTP 400): check its syntax") from None
            return self._failed(ctx, str(exc), listing)
        except IconodexError as exc:
            return self._failed(ctx, str(exc), listing)
        bindings = document.get("results", {}).get("bindings") if isinstance(document, dict) else None
        if not isinstance(bindings, list):
            return self._failed(ctx, "not SPARQL JSON results (no results.bindings)", listing)
        return [row for row in bindings if isinstance(row, dict)]

    def _failed(self, ctx: HarvestContext, reason: str, listing: bool) -> None:
        if listing:
            ctx.report.fail(mask_url(self.endpoint), reason, listing=True)
        else:
            log.warning("no titles from %s: the label query failed (%s)", mask_url(self.endpoint), reason)

    def _record(self, ctx: HarvestContext, row: dict[str, Any]) -> SourceRecord | None:
        values = {name: str(cell.get("value", "")) for name, cell in row.items() if isinstance(cell, dict)}
        own_id = values.get(self.id_variable or "", "")
        url = values.pop(self.iiif_variable, "").strip()
        if not is_url(url):
            ctx.report.skip(str(values or row)[:120], f"no URL bound to ?{self.iiif_variable}")
            return None
        base = service_base(url)
        record_id = own_id or url_id(base)
        metadata: Metadata = {}
        for name, value in values.items():
            add_value(metadata, name, value)
        title = next((values[v] for v in _TITLE_VARIABLES if values.get(v)), "")
        return SourceRecord(id=record_id, image=ImageRef("iiif", base), title=title, metadata=metadata)


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


def _query_text(value: object) -> str:
    """The query itself, or the text of the ``.rq`` file it names."""
    if not value or not str(value).strip():
        raise ConfigError("a SPARQL source needs option query (the SELECT text or a path to a .rq file)")
    text = str(value).strip()
    if "\n" not in text and len(text) < 1024 and text.lower().endswith((".rq", ".sparql")):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"SPARQL query file {text} does not exist")
        text = path.read_text(encoding="utf-8").strip()
    if "select" not in text.lower():
        raise ConfigError("the SPARQL query must be a SELECT query binding the IIIF image URLs")
    return text


SOURCES.register("sparql", SparqlSource)


# Past this length a query travels in a POST body (SPARQL 1.1 Protocol, query via POST directly),
# since servers and proxies cap URL lengths.
MAX_GET_QUERY = 1500


def _send_query(http, endpoint: str, text: str):
    if len(text) <= MAX_GET_QUERY:
        return http.get(endpoint, params={"query": text}, headers={"Accept": _RESULTS_JSON})
    return http.post(endpoint, content=text.encode(),
                     headers={"Accept": _RESULTS_JSON, "Content-Type": "application/sparql-query"})
