"""A nightly re-run after a few changes: the incremental harvest against a full listing, same run.

    .venv/bin/python benchmarks/bench_sync.py --items 100000 --manifests 1000

* Omeka S: the loopback Omeka S 4.1 mock of the tests (real fixture documents, ``Link`` paging,
  ``Omeka-S-Total-Results``, ``modified_after``, ``return_scalar``), grown to ``--items`` items
  cloned from the real EDISEM item (one media each, a thumbnail URL), ``o:modified`` one second
  apart. It runs in its own process so that its work does not share the harvester's interpreter.
* IIIF: the loopback publisher of the tests (ETags and 304s, a Change Discovery 1.0 stream),
  ``--manifests`` manifests; its plain IIIF Collection re-read with conditional requests against
  the change stream.

For each: a first run, then 10 items changed and 2 deleted, then the re-run twice from the same
starting copy of the collection: the full listing and the incremental run. Both must leave the same
items (checked), with exactly 10 updated and 2 deleted. The runs are harvest + store + deletions
(``Pipeline.harvest``): pictures are not fetched nor embedded, since that cost is the same for the
10 changed items either way and would hide the listing's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _report import markdown_table, write_section

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CHANGED, DELETED = 10, 2


def omeka_server(items: int, commands) -> None:
    """The Omeka S mock with ``items`` items; answers (op, args) commands on the pipe."""
    from _servers_harvest import OmekaFixture

    omeka = OmekaFixture(version=(4, 1))
    for number in range(items - len(omeka.items)):
        item_id = 100_000 + 2 * number
        when = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(1_600_000_000 + number))
        omeka.add(item_id, created=when)
        omeka.touch(item_id, when)
    with omeka:
        commands.send(omeka.base)
        while (command := commands.recv()) != "stop":
            op, argument = command
            if op == "stats":
                commands.send((len(omeka.server.requests), omeka.server.bytes_sent, omeka.items_served))
            elif op == "edit":
                for item_id in argument["touch"]:
                    omeka.touch(item_id, "2030-01-01T00:00:00+00:00", title=f"Edited {item_id}")
                for item_id in argument["delete"]:
                    omeka.delete(item_id)
                commands.send(len(omeka.items))


def harvest_run(coll_path: Path, spec: str, options: dict):
    """One harvest (no embedding) of ``spec`` into the collection at ``coll_path``; (report, seconds)."""
    from iconodex import Collection
    from iconodex.ingest.pipeline import Pipeline
    from iconodex.progress import stages
    from iconodex.sources import open_source

    coll = Collection.open(coll_path) if coll_path.exists() else Collection.create(coll_path, model="offline")
    with coll, stages(True) as progress:
        started = time.perf_counter()
        source = open_source(spec, None, {**options, "workdir": str(coll_path / "cache")})
        report = Pipeline(coll, progress).harvest(source, source.kind, spec, options)
        seconds = time.perf_counter() - started
    return report, seconds


def items_of(coll_path: Path) -> dict:
    from iconodex import Collection

    with Collection.open(coll_path) as coll:
        return {item.id: (item.title, item.metadata, item.version) for item in coll.store.iter_items(status=None)}


def compare(first: Path, spec: str, options: dict, stats: Callable[[], tuple], label: str) -> list[list]:
    """The full listing and the incremental re-run, each from a copy of the first run's collection."""
    rows, kept = [], {}
    for mode, extra in (("full listing", {"full": "true"}), ("incremental", {})):
        copy = first.parent / f"{label}-{mode.replace(' ', '-')}"
        shutil.copytree(first, copy)
        before = stats()
        report, seconds = harvest_run(copy, spec, {**options, **extra})
        after = stats()
        kept[mode] = items_of(copy)
        assert (report.updated, report.deleted) == (CHANGED, DELETED), (mode, report.counts_line())
        rows.append([label, mode, after[0] - before[0], f"{(after[1] - before[1]) / 1e6:.2f}", after[2] - before[2],
                     f"{seconds:.2f}", report.updated, report.deleted])
    assert kept["full listing"] == kept["incremental"], "the incremental run left other items"
    return rows


def bench_omeka(work: Path, items: int) -> tuple[list[list], str]:
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    server = context.Process(target=omeka_server, args=(items, theirs), daemon=True)
    server.start()
    base = ours.recv()

    def stats() -> tuple:
        ours.send(("stats", None))
        return ours.recv()

    spec, options = f"{base}/api/items", {"per_page": 1000}
    before = stats()
    first, seconds = harvest_run(work / "omeka", spec, options)
    after = stats()
    first_row = ["Omeka S", "first run", after[0] - before[0], f"{(after[1] - before[1]) / 1e6:.2f}",
                 after[2] - before[2], f"{seconds:.2f}", first.added, 0]
    stored = sorted(int(i) for i in items_of(work / "omeka"))
    ours.send(("edit", {"touch": stored[5:5 + CHANGED], "delete": stored[-DELETED:]}))
    ours.recv()
    rows = [first_row, *compare(work / "omeka", spec, options, stats, "Omeka S")]
    ours.send("stop")
    server.join(timeout=30)
    return rows, f"{items} items ({first.added} with a picture)"


def bench_iiif(work: Path, manifests: int) -> tuple[list[list], str]:
    from _servers_harvest import IIIFPublisher

    rows = []
    with IIIFPublisher(page_size=100) as publisher:
        for number in range(1, manifests + 1):
            publisher.create(number)

        def stats() -> tuple:
            served = sum(1 for p in publisher.server.requests if p.startswith("/manifest/"))
            unchanged = sum(1 for p in publisher.server.not_modified if p.startswith("/manifest/"))
            return len(publisher.server.requests), publisher.server.bytes_sent, served - unchanged

        firsts = {}
        for label, spec in (("IIIF collection", f"{publisher.base}/collection.json"),
                            ("IIIF change stream", publisher.stream_url)):
            before = stats()
            report, seconds = harvest_run(work / label, spec, {})
            after = stats()
            firsts[label] = spec
            rows.append([label, "first run", after[0] - before[0], f"{(after[1] - before[1]) / 1e6:.2f}",
                         after[2] - before[2], f"{seconds:.2f}", report.added, 0])
        for number in range(manifests // 2, manifests // 2 + CHANGED):
            publisher.update(number, f"Plate {number}, recatalogued")
        for number in (manifests - 1, manifests):
            publisher.delete(number)
        for label, spec in firsts.items():
            copy = work / f"{label}-rerun"
            shutil.copytree(work / label, copy)
            before = stats()
            report, seconds = harvest_run(copy, spec, {})
            after = stats()
            assert (report.updated, report.deleted) == (CHANGED, DELETED), (label, report.counts_line())
            rows.append([label, "re-run", after[0] - before[0], f"{(after[1] - before[1]) / 1e6:.2f}",
                         after[2] - before[2], f"{seconds:.2f}", report.updated, report.deleted])
        assert items_of(work / "IIIF collection-rerun").keys() == items_of(work / "IIIF change stream-rerun").keys()
    return rows, f"{manifests} manifests"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="Omeka S items (default 100000)")
    parser.add_argument("--manifests", type=int, default=1000, help="IIIF manifests (default 1000)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as folder:
        work = Path(folder)
        omeka_rows, omeka_size = bench_omeka(work, args.items)
        iiif_rows, iiif_size = bench_iiif(work, args.manifests)
    header = ["source", "run", "requests", "MB sent", "item documents", "seconds", "added or updated", "deleted"]
    table = markdown_table(header, [*omeka_rows, *iiif_rows])
    print(table)
    if args.no_write:
        return
    body = (f"Omeka S mock with {omeka_size} (4.1: `modified_after`, `return_scalar=id`, 1000 a page), IIIF "
            f"publisher with {iiif_size} (ETags, Change Discovery stream of 100 activities a page); after the "
            f"first run {CHANGED} items change and {DELETED} are deleted, and the re-run starts twice from a copy "
            "of the same collection: a full listing (`-o full=true`; for IIIF the plain Collection, each manifest "
            "asked with `If-None-Match`) and the incremental run. *item documents*: whole item or manifest "
            "documents the server sent (ids-only pages and 304s aside). Harvest, store and deletions only: the "
            "changed items' pictures are embedded afterwards either way. Both re-runs leave the same items "
            "(checked).\n\n" + table)
    write_section("sync", "Continuous sync: re-run after 10 changes and 2 deletions (bench_sync.py)", body)


if __name__ == "__main__":
    main()
