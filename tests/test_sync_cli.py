"""``iconodex sync``: re-runs every remembered source, keys from the environment, one run at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from _servers_harvest import OmekaFixture

from iconodex.cli import main
from iconodex.ingest.sync import LOCK_NAME, sync_lock

KEYS = ("sync-identity", "sync-s3cret-credential")
SHORT_TEXT = ("--text-template", "{title}")  # long catalogue texts cost seconds of embedding per ingest


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return stopped.value.code or 0, out, err


@pytest.fixture()
def private_omeka():
    with OmekaFixture(keys=KEYS) as omeka:
        omeka.delete(14020)  # its IIIF media is on a host that does not exist here
        yield omeka


@pytest.fixture()
def synced(tmp_path, capsys, private_omeka, sample_pictures):
    """A collection of two sources: a folder, and a private Omeka S ingested with keys and per_page=5."""
    coll = tmp_path / "coll"
    assert run(capsys, "ingest", str(sample_pictures), "-c", str(coll), "-q", *SHORT_TEXT)[0] == 0
    code, _, err = run(capsys, "ingest", f"{private_omeka.base}/api/items", "-c", str(coll), "-q", *SHORT_TEXT, "-o", "per_page=5",
                       "-o", f"key_identity={KEYS[0]}", "-o", f"key_credential={KEYS[1]}")
    assert code == 0, err
    return coll


def test_sync_reruns_every_source_with_its_options_and_keys_from_the_environment(synced, capsys, private_omeka,
                                                                               monkeypatch):
    monkeypatch.setenv("ICONODEX_OMEKA_KEY_IDENTITY", KEYS[0])
    monkeypatch.setenv("ICONODEX_OMEKA_KEY_CREDENTIAL", KEYS[1])
    private_omeka.touch(14030, title="Retitled by sync")
    private_omeka.delete(14031)
    before = len(private_omeka.server.requests)
    code, out, err = run(capsys, "sync", "-c", str(synced))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("folder:") and lines[1].startswith("omeka:")
    assert "1 updated" in lines[1] and "1 deleted" in lines[1] and "incremental" in lines[1]
    pages = [p for p in private_omeka.server.requests[before:] if p.startswith("/api/items?")]
    assert pages and all("per_page=5" in p or "per_page=1&" in p or "return_scalar" in p for p in pages)
    for stored in synced.iterdir():
        if stored.is_file():
            assert KEYS[1].encode() not in stored.read_bytes()


def test_sync_without_the_keys_says_so_and_still_runs_the_other_sources(synced, capsys, monkeypatch):
    monkeypatch.delenv("ICONODEX_OMEKA_KEY_IDENTITY", raising=False)
    monkeypatch.delenv("ICONODEX_OMEKA_KEY_CREDENTIAL", raising=False)
    code, out, err = run(capsys, "sync", "-c", str(synced))
    assert code == 1 and out.startswith("folder:") and ": 0 added" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("omeka:") and "not run" in line and "ICONODEX_OMEKA_KEY_IDENTITY" in line


def test_keys_given_in_the_url_are_not_kept_and_come_from_the_environment(tmp_path, capsys, private_omeka,
                                                                        monkeypatch):
    coll = tmp_path / "coll"
    url = f"{private_omeka.base}/api/items?key_identity={KEYS[0]}&key_credential={KEYS[1]}&per_page=7"
    assert run(capsys, "ingest", url, "-c", str(coll), "-q", *SHORT_TEXT)[0] == 0
    monkeypatch.setenv("ICONODEX_OMEKA_KEY_IDENTITY", KEYS[0])
    monkeypatch.setenv("ICONODEX_OMEKA_KEY_CREDENTIAL", KEYS[1])
    private_omeka.touch(14030)
    before = len(private_omeka.server.requests)
    code, out, err = run(capsys, "sync", "-c", str(coll))
    assert code == 0 and "1 updated" in out, err
    assert any("per_page=7" in p for p in private_omeka.server.requests[before:])  # the URL's own option kept
    assert KEYS[1].encode() not in (coll / "iconodex.db").read_bytes()


def test_full_finds_the_deletions_an_old_server_cannot_report(tmp_path, capsys):
    with OmekaFixture(version=(3, 0)) as omeka:
        omeka.delete(14020)  # its IIIF media is on a host that does not exist here
        coll = tmp_path / "coll"
        assert run(capsys, "ingest", f"{omeka.base}/api/items", "-c", str(coll), "-q", *SHORT_TEXT)[0] == 0
        omeka.delete(14031)
        code, out, _ = run(capsys, "sync", "-c", str(coll))
        assert code == 0 and "0 deleted" in out and "deletions not checked" in out
        code, out, _ = run(capsys, "sync", "-c", str(coll), "--full")
        assert code == 0 and "1 deleted" in out and "full listing: --full" in out
        code, out, _ = run(capsys, "sync", "-c", str(coll))  # --full was for that run only
        assert code == 0 and "incremental" in out


def test_a_second_sync_says_one_is_running_and_exits(synced):
    with sync_lock(synced):
        completed = subprocess.run([sys.executable, "-m", "iconodex", "sync", "-c", str(synced)],
                                   capture_output=True, text=True, env=os.environ, timeout=60)
    assert completed.returncode == 75 and completed.stdout == ""
    (line,) = completed.stderr.strip().splitlines()
    assert "another sync" in line and f"pid {os.getpid()}" in line
    assert (synced / LOCK_NAME).exists()


def test_every_runs_again_in_the_foreground(tmp_path, capsys, sample_pictures):
    coll = tmp_path / "coll"
    assert run(capsys, "ingest", str(sample_pictures), "-c", str(coll), "-q", *SHORT_TEXT)[0] == 0
    process = subprocess.Popen([sys.executable, "-m", "iconodex", "sync", "-c", str(coll), "--every", "1s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)
    try:
        lines = [process.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert all(" folder:" in line and ": 0 added" in line for line in lines)
    stamps = [time.strptime(line[:19], "%Y-%m-%d %H:%M:%S") for line in lines]
    assert time.mktime(stamps[1]) > time.mktime(stamps[0])


@pytest.mark.parametrize("every", ["soon", "0", "-5m"])
def test_a_bad_interval_is_a_one_line_error(tmp_path, capsys, every):
    code, _, err = run(capsys, "sync", "-c", str(tmp_path), "--every", every)
    assert code == 2 and err.count("\n") == 1 and "90s, 15m, 1h or 1d" in err


def test_sync_of_an_imported_collection_says_its_vectors_came_from_files(tmp_path, capsys, sample_pictures):
    """An import is remembered as a source of its format's name; sync reported it "not run: unknown
    source 'hdf5'" and exited 1, on a collection that has nothing to re-read."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in ("coffee.png", "chelsea.png"):
        (folder / name).write_bytes((sample_pictures / name).read_bytes())
    assert run(capsys, "ingest", str(folder), "-c", str(tmp_path / "made"), "-q", *SHORT_TEXT)[0] == 0
    assert run(capsys, "export", "-c", str(tmp_path / "made"), "hdf5", str(tmp_path / "made.h5"))[0] == 0
    assert run(capsys, "import", "hdf5", str(tmp_path / "made.h5"), "-c", str(tmp_path / "coll"))[0] == 0
    code, out, err = run(capsys, "sync", "-c", str(tmp_path / "coll"))
    lines = (out + err).strip().splitlines()
    assert code == 0 and len(lines) == 1, (out, err)
    assert "imported" in lines[0] and "iconodex import" in lines[0] and "unknown source" not in lines[0]


def test_sync_drops_options_an_older_version_stored_that_the_source_never_read(tmp_path, capsys, sample_pictures):
    """An older --iiif-column stored image_column and iiif_variable on every source, a folder's too;
    sources now refuse options they do not take, so sync leaves those out rather than fail."""
    import json
    import sqlite3

    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "coffee.png").write_bytes((sample_pictures / "coffee.png").read_bytes())
    coll = tmp_path / "coll"
    assert run(capsys, "ingest", str(folder), "-c", str(coll), "-q", *SHORT_TEXT)[0] == 0
    with sqlite3.connect(coll / "iconodex.db") as db:
        db.execute("UPDATE sources SET options = ?", (json.dumps({"image_column": "url", "iiif_variable": "url",
                                                                   "id": "path"}),))
    code, out, err = run(capsys, "sync", "-c", str(coll))
    assert code == 0 and "1 unchanged" in out + err and "no option" not in out + err, (out, err)
