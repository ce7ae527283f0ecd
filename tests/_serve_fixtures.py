"""One small real collection and real uvicorn servers for the server tests.

The collection (skimage's pictures with JSON sidecars, the offline model) is built once per test
session and shared by every ``test_serve_*`` module; each server runs in a thread on a free
loopback port and is stopped by the fixture that started it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import skimage
import uvicorn
from _net import free_port

from iconodex import Collection
from iconodex.serve import ServeSettings, create_app

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PICTURES = {
    "chelsea.png": {"title": "Chelsea the cat", "type": "animal", "subject": ["cat", "pet"]},
    "coffee.png": {"title": "A cup of coffee", "type": "object", "subject": ["drink"]},
    "astronaut.png": {"title": "Astronaut portrait", "type": "person", "subject": ["space", "portrait"]},
    "rocket.jpg": {"title": "Rocket on the launch pad", "type": "object", "subject": ["space"]},
    "horse.png": {"title": "Horse silhouette", "type": "animal", "subject": ["horse"]},
    "coins.png": {"title": "Old coins", "type": "object", "subject": ["money"]},
    "camera.png": {"title": "The cameraman", "type": "person", "subject": ["photography"]},
    "hubble_deep_field.jpg": {"title": "Hubble deep field", "type": "sky", "subject": ["space", "stars"]},
}

_shared: dict = {}


def picture_folder(root: Path) -> Path:
    """skimage pictures, each with a JSON sidecar (title + facets)."""
    folder = root / "pictures"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sidecar in PICTURES.items():
        shutil.copy(SKIMAGE_DATA / name, folder / name)
        (folder / f"{Path(name).stem}.json").write_text(json.dumps(sidecar))
    return folder


def shared_collection() -> Collection:
    """The session's collection, built on first use (the model stays loaded in it)."""
    if "coll" not in _shared:
        root = Path(tempfile.mkdtemp(prefix="iconodex-serve-"))
        coll = Collection.create(root / "coll")
        folder = picture_folder(root)
        report = coll.ingest(str(folder))
        assert not report.failed, report.failed
        _shared["coll"] = coll
        _shared["folder"] = folder
    return _shared["coll"]


def shared_folder() -> Path:
    """The folder the shared collection was ingested from."""
    shared_collection()
    return _shared["folder"]


def item_id(coll: Collection, file_name: str) -> str:
    return next(item.id for item in coll.items() if item.id.endswith(file_name))


class RunningServer:
    def __init__(self, base: str) -> None:
        self.base = base

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=60, trust_env=False, **kwargs)


@contextmanager
def serve(coll: Collection, settings: ServeSettings | None = None) -> Iterator[RunningServer]:
    """uvicorn on 127.0.0.1:<free port> in a thread, serving ``create_app(coll, settings)``."""
    port = free_port()
    config = uvicorn.Config(create_app(coll, settings or ServeSettings()), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
