"""What a run tells the user: a line per kind of failure and skip (quiet or not), source-level
failures kept with their run for `info --failures`, honest counts, one-line errors."""

from __future__ import annotations

import json
import sys

import pytest
from _cli import run_cli as run
from _images_fetch import jpeg_bytes
from _servers_fetch import Reply, scripted_server

from iconodex import Collection


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


def _folder(tmp_path, good: int = 3, broken: int = 0):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(good):
        (folder / f"good{i}.jpg").write_bytes(jpeg_bytes(color=(40 * i, 90, 200)))
    for i in range(broken):
        (folder / f"broken{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    return folder


def test_a_quiet_run_still_names_each_kind_of_failure(capsys, tmp_path):
    folder = _folder(tmp_path, broken=2)
    (folder / "dangling.jpg").symlink_to("gone.jpg")
    code, _, err = run(capsys, "ingest", str(folder), "-c", str(tmp_path / "c"), "--quiet")
    lines = err.strip().splitlines()
    assert code == 1 and lines[0].startswith("5 added")
    assert "source failed: 1 document: no such file: a broken symbolic link to gone.jpg (dangling.jpg)" in lines
    assert any(line.startswith("failed: 2 items: ") and "(e.g. broken" in line for line in lines), lines


def test_skipped_records_are_named_and_a_run_that_takes_nothing_is_not_a_success(capsys, server, tmp_path,
                                                                                  shared_fixtures):
    manifest = (shared_fixtures / "iiif" / "cookbook_0003_v3_video_only.json").read_bytes()
    url = server.route("/manifest.json", Reply(200, manifest, headers={"Content-Type": "application/json"}))
    code, _, err = run(capsys, "ingest", url, "--source-type", "iiif", "-c", str(tmp_path / "c"), "-q")
    assert code == 1, err
    assert any(line.startswith("skipped: 1 record: no image on the canvas, only Video (") for line in err.splitlines())
    assert "nothing to index" in err


def test_source_failures_are_kept_with_their_run_for_info_failures(capsys, server, tmp_path):
    said = {"errors": {"error": "Permission denied for the current user to read items"}}
    server.route("/api/items", Reply(403, json.dumps(said).encode(), headers={"Content-Type": "application/json"}))
    coll = str(tmp_path / "c")
    code, _, err = run(capsys, "ingest", f"{server.base}/api", "--source-type", "omeka", "-c", coll)
    failure = next(line for line in err.splitlines() if line.strip().startswith("source failed:"))
    assert code == 1 and failure.count(f"{server.base}/api/items") == 1, failure
    assert 'HTTP 403 Forbidden: "Permission denied' in failure

    _, out, _ = run(capsys, "info", "-c", coll, "--failures", "--json")
    [problem] = json.loads(out)["source_failures"]
    assert problem["kind"] == "failed" and problem["run"] == 1 and "403" in problem["reason"]
    assert problem["location"].startswith(f"{server.base}/api/items")
    _, out, _ = run(capsys, "info", "-c", coll, "--failures")
    assert "source failed (run 1 of" in out and "Permission denied" in out


def test_the_stored_report_is_the_final_one_and_failed_items_are_retried_not_updated(tmp_path):
    folder = _folder(tmp_path, good=3, broken=2)
    with Collection.create(tmp_path / "c") as coll:
        first = coll.ingest(str(folder))
        stored = coll.stats()["sources"][0]["last_report"]
        assert (stored["embedded"], stored["indexed"], len(stored["failed"])) == (3, 3, 2)
        again = coll.ingest(str(folder))
    assert first.added == 5 and (again.updated, again.retried, again.unchanged) == (0, 2, 3)


def test_a_missing_path_is_said_to_be_missing(capsys, tmp_path):
    code, _, err = run(capsys, "ingest", "nothere", "-c", str(tmp_path / "c"))
    assert code == 2 and err.strip() == "error: nothere: no such file or folder"


@pytest.mark.parametrize(("fmt", "modules", "needs"), [
    ("hdf5", ("h5py",), "the hdf5 format needs h5py"),
    ("uform-hf", ("pyarrow", "pyarrow.parquet"), "the uform-hf format needs pyarrow"),
])
def test_an_export_without_its_extra_gives_the_pip_line(capsys, tmp_path, monkeypatch, fmt, modules, needs):
    folder = _folder(tmp_path)
    with Collection.create(tmp_path / "c") as coll:
        coll.ingest(str(folder))
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    code, _, err = run(capsys, "export", fmt, str(tmp_path / "out"), "-c", str(tmp_path / "c"))
    assert code == 2 and err.strip() == f"error: {needs}: pip install 'iconodex[formats]'"
