"""A damaged or missing ANN index never breaks a command or a server: every file is checked
before USearch reads it, searches are answered exactly from the store meanwhile, and the index
is rebuilt from the store (issue 9, point 3)."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import time

import httpx
import pytest
from _index_helpers import (
    DAMAGES,
    ICONODEX,
    cli,
    cli_json,
    damage,
    pictures,
    ranking,
    synthetic_collection,
)
from _net import free_port, wait_until_up
from _serve_fixtures import serve

from iconodex import Collection
from iconodex.serve import ServeSettings

QUERY = "red boat harbour"
LIKE = "item-00042"
ITEMS = 400  # enough for a graph part after the vectors: the last 16 KB of each file is graph


EMBEDDED = pytest.mark.parametrize("pristine", ["usearch", "faiss"], indirect=True)  # the engines with files


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, request):
    """(path, expected text ranking, expected like ranking) of an undamaged collection, on the
    engine the test is parametrized with (usearch when it is not)."""
    path = tmp_path_factory.mktemp("integrity") / "coll"
    synthetic_collection(path, ITEMS, engine=getattr(request, "param", "usearch")).close()
    text = ranking(cli_json("search", QUERY, "-c", str(path), "--limit", "10"))
    like = ranking(cli_json("search", "--like", LIKE, "-c", str(path), "--limit", "10"))
    assert len(text) == 10 and len(like) == 10
    return path, text, like


def damaged_copy(pristine, tmp_path, how: str):
    path = tmp_path / "coll"
    shutil.copytree(pristine[0], path)
    if how != "none":
        damage(path, how)
    return path


# Each case runs five CLI processes: faiss, whose files go through the same checks, gets two of the damages.
COMMAND_CASES = [*((how, "usearch") for how in DAMAGES), ("truncated", "faiss"), ("random bytes in vectors", "faiss")]


@pytest.mark.parametrize(("how", "pristine"), COMMAND_CASES, indirect=["pristine"])
def test_every_command_keeps_working_on_a_damaged_index(pristine, tmp_path, how):
    path = damaged_copy(pristine, tmp_path, how)
    assert ranking(cli_json("search", QUERY, "-c", str(path), "--limit", "10")) == pristine[1]
    info = cli_json("info", "-c", str(path))
    assert info["indexed"] == ITEMS
    assert all(space["indexed"] == ITEMS and space["index"] != "ok" for space in info["spaces"].values())

    ingested = cli("ingest", str(pictures(tmp_path / "more", ("coffee.png",))), "-c", str(path), "--quiet")
    assert ingested.returncode == 0, ingested.stderr[-800:]
    checked = cli("verify", "-c", str(path))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count(f"{ITEMS + 1} indexed items, {ITEMS + 1} in the index: ok") == 3


@EMBEDDED
def test_repair_rebuilds_only_what_is_unsound(pristine, tmp_path):
    path = damaged_copy(pristine, tmp_path, "truncated")
    checked = cli("verify", "-c", str(path))
    assert checked.returncode == 1 and "iconodex repair" in checked.stderr
    assert checked.stdout.count(f"{ITEMS} indexed items, ? in the index: index file") == 3
    repaired = cli("repair", "-c", str(path))
    assert repaired.returncode == 0, repaired.stderr
    assert sorted(repaired.stdout.split("\n")[:3]) == [f"rebuilt {s}: {ITEMS} vectors" for s in ("image", "text", "visual")]
    assert cli("verify", "-c", str(path)).stdout.count(": ok") == 3
    again = cli("repair", "-c", str(path))
    assert again.returncode == 0 and again.stdout.strip() == "index sound: nothing to repair"


@EMBEDDED
@pytest.mark.parametrize("how", DAMAGES)
def test_server_answers_exactly_then_rebuilds_in_the_background(pristine, tmp_path, how, caplog):
    path = damaged_copy(pristine, tmp_path, how)
    before = _listing(path / "index")
    caplog.set_level(logging.WARNING, logger="iconodex")
    with Collection.open(path, read_only=True) as coll, serve(coll, ServeSettings(load_model=False)) as server, \
            server.client() as client:
        first = client.get("/health").json()
        assert first["items"] == ITEMS
        assert first["index"]["state"] == "ok" or set(first["index"]["problems"]) <= {"image", "text", "visual"}
        page = client.get("/search", params={"like": LIKE, "limit": 10})
        assert page.status_code == 200
        assert [(r["id"], round(r["score"], 4)) for r in page.json()["results"]] == pristine[2]
        health = _wait_for(client, lambda h: h["index"]["state"] == "ok")
        assert health["status"] == "ok"
        assert client.get(f"/items/{LIKE}/similar", params={"limit": 10}).status_code == 200
    assert any("rebuilt in memory" in record.getMessage() for record in caplog.records)
    assert _listing(path / "index") == before, "a read-only server wrote into the collection"


@EMBEDDED
def test_a_server_with_write_access_saves_the_index_it_rebuilds(pristine, tmp_path):
    path = damaged_copy(pristine, tmp_path, "truncated")
    with Collection.open(path) as coll, serve(coll, ServeSettings(load_model=False, api_key="k" * 32)) as server, \
            server.client() as client:
        _wait_for(client, lambda h: h["index"]["state"] == "ok")
        assert _like(client) == pristine[2]
    checked = cli("verify", "-c", str(path))
    assert checked.returncode == 0 and checked.stdout.count(f"{ITEMS} in the index: ok") == 3


@EMBEDDED
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the garbage served before it is noticed overflows
def test_a_file_changed_under_a_running_server_is_noticed(pristine, tmp_path):
    path = damaged_copy(pristine, tmp_path, "none")
    with Collection.open(path, read_only=True) as coll, serve(coll, ServeSettings(load_model=False)) as server, \
            server.client() as client:
        assert _like(client) == pristine[2]  # the files are open (memory-mapped) now
        damage(path, "random bytes in vectors")
        deadline = time.monotonic() + 5
        while _like(client) != pristine[2]:
            assert time.monotonic() < deadline, "vectors changed in place still served after 5 s"
            time.sleep(0.1)
        assert _wait_for(client, lambda h: h["index"]["state"] == "ok")["status"] == "ok"
        assert _like(client) == pristine[2]


def _like(client) -> list[tuple[str, float]]:
    return ranking(client.get("/search", params={"like": LIKE, "limit": 10}).json()["results"])


@EMBEDDED
def test_health_says_which_spaces_are_degraded_and_why(pristine, tmp_path):
    path = damaged_copy(pristine, tmp_path, "random bytes in vectors")
    with Collection.open(path, read_only=True) as coll:
        from iconodex.serve.state import IndexKeeper

        keeper = IndexKeeper(coll)
        assert keeper.status() == {"state": "ok"}  # nothing opened yet: no file checked
        coll.engine.check()
        status = keeper.status()
        assert status["state"] == "degraded" and status["exact_search"] == ["image", "text", "visual"]
        assert "does not match its checksum" in status["problems"]["visual"]
        keeper.schedule("visual")
        _until(lambda: "visual" not in keeper.status().get("problems", {}))
        assert keeper.status()["exact_search"] == ["image", "text"]


@EMBEDDED
def test_a_server_process_on_an_overwritten_index_does_not_abort(pristine, tmp_path):
    path = damaged_copy(pristine, tmp_path, "tail overwritten")
    port = free_port()
    process = subprocess.Popen([*ICONODEX, "serve", "-c", str(path), "--port", str(port), "--no-model"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process, "iconodex serve")
        page = httpx.get(f"http://127.0.0.1:{port}/search", params={"like": LIKE, "limit": 10}, trust_env=False)
        assert page.status_code == 200
        assert [(r["id"], round(r["score"], 4)) for r in page.json()["results"]] == pristine[2]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            assert _wait_for(client, lambda h: h["status"] == "ok")["items"] == ITEMS
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr[-800:]
    assert "Traceback" not in stderr and "does not match its checksum" in stderr


def test_files_written_by_an_older_version_without_checksums_are_rebuilt(pristine, tmp_path):
    path = damaged_copy(pristine, tmp_path, "truncated")
    shutil.rmtree(path / "index")
    (path / "index").mkdir()
    (path / "index" / "spaces.json").write_text(json.dumps({"image": 384, "text": 384, "visual": 1280}))
    (path / "index" / "image.usearch").write_bytes(b"\0" * 4096)  # the old layout, any bytes
    assert ranking(cli_json("search", "--like", LIKE, "-c", str(path), "--limit", "10")) == pristine[2]
    assert cli("repair", "-c", str(path)).returncode == 0
    assert cli("verify", "-c", str(path)).returncode == 0
    assert not (path / "index" / "image.usearch").exists()


def _listing(folder) -> list[tuple[str, int]] | None:
    return sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) if folder.exists() else None


def _wait_for(client: httpx.Client, ready, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = client.get("/health").json()
        if ready(health):
            return health
        time.sleep(0.05)
    raise AssertionError(f"/health never got there: {health}")


def _until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
