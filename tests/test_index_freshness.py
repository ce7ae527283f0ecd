"""A running server sees what another process ingests or deletes, without a restart, and never
calls an item indexed that its searches cannot find (issue 9, point 4)."""

from __future__ import annotations

import subprocess
import time

import pytest
from _index_helpers import ICONODEX, cli, pictures, synthetic_collection
from _serve_fixtures import serve

from iconodex import Collection
from iconodex.serve import ServeSettings

EMBEDDED = pytest.mark.parametrize("engine", ["usearch", "faiss"])  # the engines a server maps from files


@EMBEDDED
def test_server_sees_items_another_process_ingests_and_deletes(tmp_path, engine):
    path = tmp_path / "coll"
    synthetic_collection(path, items=50, engine=engine).close()
    with Collection.open(path, read_only=True) as coll, serve(coll, ServeSettings(load_model=False)) as server, \
            server.client() as client:
        assert client.get("/search", params={"like": "item-00001"}).status_code == 200  # indexes now open
        assert client.get("/health").json()["items"] == 50

        ingested = cli("ingest", str(pictures(tmp_path / "more")), "-c", str(path), "--quiet")
        assert ingested.returncode == 0, ingested.stderr[-800:]
        # No waiting: by the time the store calls them indexed, the index that holds them is saved.
        assert client.get("/health").json()["items"] == 52
        assert client.get("/items/chelsea.png").json()["status"] == "indexed"
        similar = client.get("/items/chelsea.png/similar", params={"alpha": 1.0, "limit": 5})
        assert similar.status_code == 200, similar.text
        assert similar.json()["results"][0]["id"] == "coffee.png"  # the only other picture in the visual space
        assert "chelsea.png" in _ids(client.get("/search", params={"like": "coffee.png", "alpha": 1.0}))

        deleted = cli("delete", "coffee.png", "-c", str(path))
        assert deleted.returncode == 0, deleted.stderr[-800:]
        deadline = time.monotonic() + 5
        while "coffee.png" in _ids(client.get("/search", params={"like": "chelsea.png", "alpha": 1.0})):
            assert time.monotonic() < deadline, "a deleted item is still found after 5 s"
            time.sleep(0.1)
        assert client.get("/items/coffee.png/similar").status_code == 404
        assert client.get("/health").json() == {"status": "ok", "model": "off", "items": 51,
                                                "index": {"state": "ok"}}


@EMBEDDED
def test_every_item_called_indexed_is_found_while_another_process_ingests(tmp_path, engine):
    path = tmp_path / "coll"
    synthetic_collection(path, items=50, engine=engine).close()
    folder = pictures(tmp_path / "more")
    with Collection.open(path, read_only=True) as coll, serve(coll, ServeSettings(load_model=False)) as server, \
            server.client() as client:
        assert client.get("/search", params={"like": "item-00001"}).status_code == 200
        process = subprocess.Popen([*ICONODEX, "ingest", str(folder), "-c", str(path), "--quiet"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seen_indexed, deadline = False, time.monotonic() + 60
        while process.poll() is None or not seen_indexed:
            assert time.monotonic() < deadline, "coffee.png never became indexed"
            item = client.get("/items/coffee.png")
            if item.status_code == 200 and item.json()["status"] == "indexed":
                seen_indexed = True
                assert client.get("/items/coffee.png/similar").status_code == 200
            assert process.poll() in (None, 0), process.stderr.read()[-800:]
            time.sleep(0.01)


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [result["id"] for result in response.json()["results"]]
