"""Omeka S re-runs read what changed, not what exists, and still apply deletions.

A loopback Omeka S API (the real fixture documents) that honours the parameters each release
understands: 4.x filters by date, 3.2 lists ids only but does not filter, 3.0 only sorts. The real
offline model, SQLite and index: an incremental re-run must leave the same collection as a full one.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from _servers_harvest import OmekaFixture, harvest

from iconodex import Collection
from iconodex.sources.omeka import OmekaSource

VERSIONS = [(4, 1), (3, 2), (3, 0)]
TEXT = "{title}"  # a short text to embed: the EDISEM items' long descriptions cost seconds per run


def snapshot(coll: Collection) -> dict[str, tuple]:
    """What a user sees of each item (not the store's keys or timestamps)."""
    return {item.id: (item.title, item.metadata, item.links, item.image, item.version, item.status)
            for item in coll.store.iter_items(status=None)}


def item_documents(requests: list[str]) -> int:
    """How many whole item documents the listing requests asked for (ids-only pages and probes aside)."""
    return sum(1 for path in requests if path.startswith("/api/items?")
               and "return_scalar" not in path and parse_qs(urlsplit(path).query).get("per_page") != ["1"])


def edit(omeka: OmekaFixture) -> None:
    """Two edits (one of a title), one new item never edited (``o:modified`` null), one deletion."""
    omeka.touch(14030, "2030-01-01T00:00:00+00:00", title="Retitled map")
    omeka.touch(10777, "2030-01-03T10:00:00+00:00")
    omeka.add(20000)
    omeka.delete(14031)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v[0]}.{v[1]}")
def test_an_incremental_rerun_gives_the_collection_a_full_harvest_gives(tmp_path, version):
    with OmekaFixture(version=version) as omeka:
        omeka.delete(14020)  # its IIIF media is on a host that does not exist here: slow to fail
        spec = f"{omeka.base}/api/items"
        coll = Collection.create(tmp_path / "incremental", model="offline", text_template=TEXT)
        assert coll.ingest(spec, options={"per_page": 5}).added == 20
        edit(omeka)
        listed_before = len(omeka.server.requests)
        again = coll.ingest(spec, options={"per_page": 5})
        rerun_requests = omeka.server.requests[listed_before:]

        fresh = Collection.create(tmp_path / "full", model="offline", text_template=TEXT)
        fresh.ingest(spec, options={"per_page": 5})
        if version < (3, 2):  # no id-only listing: deletions wait for the periodic full listing
            assert "deletions not checked" in again.counts_line() and again.deleted == 0
            assert coll.get("14031") is not None
            assert coll.ingest(spec, options={"per_page": 5, "full": "true"}).deleted == 1
        else:
            assert again.deleted == 1 and "incremental" in again.counts_line()
        assert (again.added, again.updated) == (1, 2)
        assert snapshot(coll) == snapshot(fresh)
        assert coll.get("14030").title == "Retitled map" and coll.get("20000") is not None
        assert item_documents(rerun_requests) <= 4  # modified pass + created pass (+ their last pages)
        assert sum(1 for p in rerun_requests if p.startswith("/api/media/")) == 3  # the 3 changed items only
        coll.close()
        fresh.close()


def test_the_rerun_asks_from_just_before_the_last_mark(omeka_41):
    source = OmekaSource.from_spec(omeka_41.base, {"per_page": 10, "overlap": 90})
    state: dict = {}
    harvest(source, state=state)
    assert state["newest_modified"] == "2024-10-10T13:57:49+00:00"  # 10777, the newest fixture item
    before = len(omeka_41.server.requests)
    records, report = harvest(source, state=state)
    asked = [parse_qs(urlsplit(p).query) for p in omeka_41.server.requests[before:]]
    assert {"modified_after": ["2024-10-10T13:56:19+0000"], "per_page": ["10"], "page": ["1"], "sort_by": ["id"]} in asked
    assert [r.id for r in records] == ["10777"] and report.complete and not report.partial


def test_a_failed_page_keeps_the_mark_so_nothing_is_skipped_next_time(omeka_41):
    source = OmekaSource.from_spec(omeka_41.base, {"per_page": 10})
    state: dict = {}
    harvest(source, state=state)
    mark = state["newest_modified"]
    omeka_41.touch(14030)
    omeka_41.faults[1] = "html"
    _, report = harvest(source, state=state)
    assert not report.complete and state["newest_modified"] == mark
    omeka_41.faults.clear()
    records, _ = harvest(source, state=state)
    assert [r.id for r in records] == ["10777", "14030"]  # 10777 is on the mark: the overlap reads it again


def test_an_old_server_is_read_newest_first_up_to_the_mark(tmp_path):
    with OmekaFixture(version=(3, 0)) as omeka:
        source = OmekaSource.from_spec(omeka.base, {"per_page": 5, "full_every": 3})
        state: dict = {}
        harvest(source, state=state)
        omeka.touch(14030)
        before = len(omeka.server.requests)
        records, report = harvest(source, state=state)
        assert [r.id for r in records] == ["14030", "10777"] and "deletions not checked" in report.partial
        sorts = [parse_qs(urlsplit(p).query).get("sort_by") for p in omeka.server.requests[before:]]
        assert ["modified"] in sorts and ["created"] in sorts
        harvest(source, state=state)  # the second incremental run
        _, third = harvest(source, state=state)  # every third run lists everything
        assert not third.partial and "every 3 runs" in third.note


@pytest.fixture()
def omeka_41():
    with OmekaFixture(version=(4, 1)) as server:
        yield server
