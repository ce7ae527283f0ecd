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

A query that binds a modification date (``?modified``, or the variable ``modified_variable``
names) is read incrementally: the newest date a complete run saw is the mark, and a re-run adds
``FILTER(!BOUND(?modified) || ?modified >= mark)`` before the closing brace of the WHERE clause,
so only rows changed since (and rows with no date) come back. Deletions cannot be seen that way:
``-o full=true`` (``sync --full``) reads everything and removes what is gone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FetchError, IconodexError
from ..fetch.http import mask_url
from ..fetch.iiif_image import service_base
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, option_flag, response_json, url_id, utc_time
from .sparql_labels import best_labels, labels_query, sparql_term

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
_MARK = "newest_modified"
_MODIFIED = re.compile(r"[?$]modified\b")
_IRI = re.compile(r'^[^\s<>"{}|^`\\]+$')


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
    modified_variable: str | None = None
    full: bool = False
    kind = "sparql"
    options = frozenset({"query", "page_size", "iiif_variable", "id_variable", "labels", "modified_variable"})  # what -o may set
    image_option = "iiif_variable"  # what --iiif-column sets

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
            modified_variable=_modified_variable(query, options.get("modified_variable")),
            full=option_flag(options.get("full")),
        )

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        paged = PagedQuery.parse(self.query)
        if "order by" not in paged.body.lower():
            log.warning("the SPARQL query has no ORDER BY; paging may skip or repeat rows")
        mark = ctx.state.get(_MARK) if self.modified_variable and not self.full else None
        if mark:
            paged = replace(paged, body=since_mark(paged.body, self.modified_variable, mark))  # type: ignore[arg-type]
            ctx.report.note = f"incremental: rows with ?{self.modified_variable} since {mark['value']}"
            ctx.report.partial = "deletions not checked: sync --full (or -o full=true) reads everything"
        newest = mark
        for record, modified in self._rows(ctx, paged):
            newest = _later(newest, modified)
            yield record
        if ctx.report.complete and newest:
            ctx.state[_MARK] = newest

    def _rows(self, ctx: HarvestContext, paged: PagedQuery) -> Iterator[tuple[SourceRecord, dict[str, Any] | None]]:
        """Each new record with its modification cell (None without one), page by page."""
        seen: set[str] = set()
        labels = self.labels
        for text, asked in paged.pages(self.page_size):
            rows = self._select(ctx, text)
            if rows is None:
                return
            page = self._new_records(ctx, rows, seen)
            labels = labels and self._add_titles(ctx, [(record, cell) for record, cell, _ in page if not record.title])
            for record, _, row in page:
                ctx.report.harvested += 1
                yield record, row.get(self.modified_variable or "")
            if len(rows) < asked:
                return

    def _new_records(self, ctx: HarvestContext, rows: list[dict[str, Any]],
                     seen: set[str]) -> list[tuple[SourceRecord, dict[str, Any], dict[str, Any]]]:
        """The page's records not seen before, each with the result cell of its access point and its row."""
        page = []
        for row in rows:
            record = self._record(ctx, row)
            if record is not None and record.id not in seen:
                seen.add(record.id)
                page.append((record, row[self.iiif_variable], row))
        return page

    def _add_titles(self, ctx: HarvestContext, untitled: list[tuple[SourceRecord, dict[str, Any]]]) -> bool:
        """Give records without a title the best label the endpoint has for their access point;
        False when the endpoint cannot answer, so that later pages do not ask again."""
        for start in range(0, len(untitled), LABEL_BATCH):
            batch = untitled[start:start + LABEL_BATCH]
            terms = {term for _, cell in batch if (term := sparql_term(cell))}
            if not terms:
                continue
            rows = self._select(ctx, labels_query(terms), listing=False)
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


def since_mark(body: str, variable: str, mark: dict[str, str]) -> str:
    """``body`` with a FILTER keeping rows changed at or after ``mark`` (or undated), put just before
    the WHERE clause's closing brace (the last ``}``: GROUP BY, HAVING and ORDER BY have none)."""
    end = body.rfind("}")
    if end < 0:
        raise ConfigError("the SPARQL query has no WHERE { … } to add the modification filter to")
    value = mark["value"].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    datatype = mark.get("datatype", "")
    typed = bool(_IRI.match(datatype))
    literal = f'"{value}"^^<{datatype}>' if typed else f'"{value}"'
    left = f"?{variable}" if typed else f"STR(?{variable})"
    return f"{body[:end]}  FILTER(!BOUND(?{variable}) || {left} >= {literal})\n{body[end:]}"


def _modified_variable(query: str, option: object) -> str | None:
    """The variable holding each row's modification date: the option's, else ``?modified`` when bound."""
    if option not in (None, ""):
        return str(option).lstrip("?$")
    return "modified" if _MODIFIED.search(query) else None


def _later(mark: dict[str, str] | None, cell: object) -> dict[str, str] | None:
    """The later of the mark and a result cell (dates compared as dates when both parse, else as text)."""
    if not isinstance(cell, dict) or not cell.get("value"):
        return mark
    candidate = {"value": str(cell["value"]), **({"datatype": str(cell["datatype"])} if cell.get("datatype") else {})}
    if mark is None:
        return candidate
    new, old = utc_time(candidate["value"]), utc_time(mark["value"])
    later = new > old if new is not None and old is not None else candidate["value"] > mark["value"]
    return candidate if later else mark


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
