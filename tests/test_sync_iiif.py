"""IIIF Change Discovery 1.0: a re-run reads the activities since the last one, not every manifest.

A loopback publisher (manifests from the real cookbook recipe, ETags, an Activity Streams log);
the real offline model, SQLite and index. The collection after a re-run must equal the one a full
harvest of the publisher's plain IIIF Collection gives.
"""

from __future__ import annotations

from _servers_harvest import IIIFPublisher, harvest

from iconodex import Collection
from iconodex.sources.iiif import IIIFSource


def snapshot(coll: Collection) -> dict[str, tuple]:
    return {item.id: (item.title, item.metadata, item.links, item.image, item.status)
            for item in coll.store.iter_items(status=None)}


def manifests_read(publisher: IIIFPublisher, since: int) -> list[str]:
    return [p for p in publisher.server.requests[since:] if p.startswith("/manifest/")]


def test_a_rerun_reads_only_the_changed_manifests_and_applies_deletes(tmp_path):
    with IIIFPublisher(page_size=10) as publisher:
        for number in range(1, 31):
            publisher.create(number)
        coll = Collection.create(tmp_path / "stream", model="offline")
        first = coll.ingest(publisher.stream_url)
        assert first.added == 30 and not first.failed and "whole stream" in first.counts_line()

        publisher.update(4, "Plate four, recatalogued")
        publisher.update(9, "Plate nine, recatalogued")
        publisher.delete(17)
        publisher.create(31)
        before, unchanged = len(publisher.server.requests), len(publisher.server.not_modified)
        again = coll.ingest(publisher.stream_url)
        assert (again.added, again.updated, again.deleted) == (1, 2, 1)
        # 30's Create shares the last run's end time (a publisher logs several a second): asked again, a 304
        assert sorted(manifests_read(publisher, before)) == ["/manifest/30.json", "/manifest/31.json",
                                                              "/manifest/4.json", "/manifest/9.json"]
        assert publisher.server.not_modified[unchanged:] == ["/manifest/30.json"]  # manifest 30 (page 2 gained a "next": read anew)
        assert [p for p in publisher.server.requests[before:] if p.startswith("/activity/page-")] == [
            "/activity/page-3", "/activity/page-2"]  # the new page, back to where the last run ended

        fresh = Collection.create(tmp_path / "full", model="offline")
        fresh.ingest(f"{publisher.base}/collection.json")
        assert snapshot(coll) == snapshot(fresh) and len(snapshot(coll)) == 30
        coll.close()
        fresh.close()


def test_the_newest_activity_about_a_manifest_wins():
    with IIIFPublisher(page_size=3) as publisher:
        for number in range(1, 6):
            publisher.create(number)
        publisher.delete(2)
        publisher.create(2, "Plate two, again")
        publisher.update(3, "Plate three, last state")
        publisher.delete(5)
        records, report = harvest(IIIFSource.from_spec(publisher.stream_url, {}), state={})
        titles = {r.links["manifest"].rsplit("/", 1)[1]: r.title for r in records}
        assert titles == {"1.json": "Plate 1", "2.json": "Plate two, again", "3.json": "Plate three, last state",
                          "4.json": "Plate 4"}
        assert report.complete and sorted(manifests_read(publisher, 0)) == [f"/manifest/{n}.json" for n in (1, 2, 3, 4)]


def test_an_unreadable_page_keeps_the_end_time_so_the_next_run_catches_up():
    with IIIFPublisher(page_size=2) as publisher:
        for number in range(1, 5):
            publisher.create(number)
        source, state = IIIFSource.from_spec(publisher.stream_url, {}), {}
        harvest(source, state=state)
        until = state["change_discovery"]["until"]
        publisher.update(1, "Changed")
        publisher.update(2, "Changed too")  # pages: [1 2] [3 4] [u1 u2]
        answer = publisher.server.handler
        publisher.server.handler = lambda path, query: (IIIFPublisher._tagged({"type": "Manifest"})
                                                        if path == "/activity/page-2" else answer(path, query))
        _, report = harvest(source, state=state)
        assert not report.complete and state["change_discovery"]["until"] == until
        publisher.server.handler = answer
        records, report = harvest(source, state=state)
        assert report.complete and sorted(r.title for r in records) == ["Changed", "Changed too", "Plate 4"]  # 4: at the mark


def test_a_move_drops_the_old_manifest_and_reads_the_new_one():
    with IIIFPublisher(page_size=10) as publisher:
        for number in (1, 2):
            publisher.create(number)
        source, state = IIIFSource.from_spec(publisher.stream_url, {}), {}
        first, _ = harvest(source, state=state)
        publisher.labels[3] = publisher.labels.pop(2)
        publisher.activities.append({"type": "Move", "object": {"id": publisher.manifest_url(2), "type": "Manifest"},
                                     "target": {"id": publisher.manifest_url(3), "type": "Manifest"},
                                     "endTime": "2026-01-02T00:00:00Z"})
        records, report = harvest(source, state=state, deleted=(gone := []))
        moved = [r for r in records if r.links["manifest"] == publisher.manifest_url(3)]
        assert len(moved) == 1 and moved[0].title == "Plate 2"
        assert gone == [r.id for r in first if r.links["manifest"] == publisher.manifest_url(2)]
