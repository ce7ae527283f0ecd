"""What an Omeka S re-run must read: the items changed since the last run, and which items still exist.

- Omeka S 4.0 and later filter by ``modified_after`` / ``created_after`` (strictly later, to the
  second): a re-run asks for both, since an item never edited since its creation has no
  ``o:modified``. Older servers ignore those parameters, so the harvester reads newest first
  (``sort_by=modified&sort_order=desc``, then by ``created``) and stops at the mark.
- The mark is the newest ``o:modified``/``o:created`` a complete run saw; the next run asks from a
  little before it (``overlap`` seconds, for equal timestamps and a save that was in flight).
  Unchanged items that the overlap brings back cost no media request.
- Deletions need to know every item that still exists: Omeka S 3.2 and later answer
  ``return_scalar=id`` with an id → id object, paged like any list, about 10 bytes an item. An
  older server only lists whole items, so there every ``full_every``-th run (or ``--full``) lists
  everything and the runs between say that deletions were not checked.

Which server this is, is found by asking, not by version number (Omeka S does not publish it): a
filter that an old server ignores returns items where a new one returns none.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .documents import utc_time

FAR_FUTURE = "9999-01-01T00:00:00"
MARK = "newest_modified"
RUNS_SINCE_FULL = "runs_since_full"


@dataclass(frozen=True)
class Listing:
    """One pass over ``/api/items``: extra query parameters, and for newest-first reading the date
    field whose value, once older than ``stop_before``, ends the pass."""

    params: dict[str, str] = field(default_factory=dict)
    date_field: str | None = None
    stop_before: datetime | None = None

    def reached_end(self, item: dict[str, Any]) -> bool:
        if self.date_field is None or self.stop_before is None:
            return False
        when = parse_date(item.get(self.date_field))
        return when is None or when <= self.stop_before


@dataclass(frozen=True)
class Plan:
    """Full (``since`` None) or incremental, the passes to read, and whether ids are listed after."""

    listings: tuple[Listing, ...]
    since: datetime | None = None
    id_listing: bool = False
    why_full: str = ""

    @property
    def incremental(self) -> bool:
        return self.since is not None


def full_plan(why: str) -> Plan:
    return Plan((Listing(),), why_full=why)


def incremental_plan(since: datetime, *, date_filters: bool, id_listing: bool) -> Plan:
    after = query_date(since)
    if date_filters:
        listings = (Listing({"modified_after": after}), Listing({"created_after": after}))
    else:
        listings = tuple(Listing({"sort_by": name, "sort_order": "desc"}, f"o:{name}", since)
                         for name in ("modified", "created"))
    return Plan(listings, since=since, id_listing=id_listing)


def choose_plan(state: dict[str, Any], *, full: bool, full_every: int, overlap: int,
                probe: Any) -> Plan:
    """The plan for this run. ``probe()`` → (date filters, id listing), asked only for a re-run."""
    mark = parse_date(state.get(MARK))
    if mark is None:
        return full_plan("first run")
    if full:
        return full_plan("--full")
    date_filters, id_listing = probe()
    if not id_listing and int(state.get(RUNS_SINCE_FULL, 0)) + 1 >= full_every:
        return full_plan(f"every {full_every} runs: this server cannot list ids only")
    return incremental_plan(mark - timedelta(seconds=overlap), date_filters=date_filters, id_listing=id_listing)


def run_notes(plan: Plan, read: int, full_every: int) -> tuple[str, str]:
    """(how the run read the source, why absent items are not deletions) for the summary."""
    if not plan.incremental:
        return f"full listing: {plan.why_full}" if plan.why_full not in ("", "first run") else "", ""
    note = f"incremental: {read} items read, changed since {query_date(plan.since)}"  # type: ignore[arg-type]
    if plan.id_listing:
        return note, ""
    return note, (f"deletions not checked: this Omeka S (before 3.2) cannot list ids only; every {full_every}th run, "
                  "or sync --full, lists everything")


def scalar_ids(page: object) -> list[str] | None:
    """The ids of a ``return_scalar=id`` page, or None when the server answered whole items instead."""
    if isinstance(page, dict):
        values: list[Any] = list(page.keys())
    elif isinstance(page, list) and all(isinstance(v, int | str) and not isinstance(v, bool) for v in page):
        values = page
    else:
        return None
    ids = [str(v).strip() for v in values]
    return [i for i in ids if i.isascii() and i.isdigit()]


def parse_date(value: object) -> datetime | None:
    """An Omeka date (``{"@value": "2023-12-07T15:25:14+00:00"}`` or the bare text) in UTC."""
    return utc_time(value.get("@value") if isinstance(value, dict) else value)


def query_date(when: datetime) -> str:
    """A date as Omeka S parses it (PHP's ISO8601 format, offset without a colon)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def newer(mark: str, value: str) -> str:
    """The later of two dates as text (either may be empty or unparsable)."""
    a, b = parse_date(mark), parse_date(value)
    if b is None:
        return mark
    return value if a is None or b > a else mark


def unique_items(passes: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each item once, although a new item may be in both the ``modified`` and the ``created`` pass."""
    seen: set[str] = set()
    for item in passes:
        key = item.get("o:id")
        if isinstance(key, int | str):  # any other o:id is reported by the record reader
            if str(key) in seen:
                continue
            seen.add(str(key))
        yield item
