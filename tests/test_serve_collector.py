"""The server process keeps its long-lived objects (start-up's and the model's) out of the cyclic
garbage collector's full passes, which otherwise pause every request in flight; a process that
embeds the app is left as it is."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest
from _index_helpers import synthetic_collection

from iconodex import Collection
from iconodex.serve.state import ModelLoader

SERVE_WITHOUT_LISTENING = (
    "import gc, uvicorn\n"
    "from iconodex.serve import http_server\n"
    "uvicorn.Server.run = lambda self: print(gc.get_freeze_count())\n"
    "http_server.run(object(), '127.0.0.1', 0, 'warning')\n")


def test_the_server_process_freezes_its_start_up_objects_before_serving():
    done = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_LISTENING], capture_output=True, text=True,
                          env=os.environ, timeout=120)
    assert done.returncode == 0, done.stderr[-800:]
    assert int(done.stdout.strip()) > 10_000  # the modules and objects made before serving


@pytest.fixture
def unloaded(tmp_path):
    synthetic_collection(tmp_path / "coll", items=20).close()
    with Collection.open(tmp_path / "coll", read_only=True) as coll:
        assert not coll.model_loaded
        yield coll


def _load(coll: Collection) -> ModelLoader:
    loader = ModelLoader(coll)
    loader.start()
    loader._thread.join(120)
    assert loader.status == "ready"
    return loader


def test_the_model_s_objects_are_frozen_in_a_process_that_froze_its_start_up(unloaded):
    gc.freeze()  # as iconodex serve does before serving
    try:
        frozen = gc.get_freeze_count()
        _load(unloaded)
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()


def test_a_process_embedding_the_app_keeps_its_collector_as_it_is(unloaded):
    assert gc.get_freeze_count() == 0
    _load(unloaded)
    assert gc.get_freeze_count() == 0


SERVE_AND_COUNT_BLAS_THREADS = (
    "import uvicorn\n"
    "from threadpoolctl import threadpool_info\n"
    "from iconodex.serve import http_server\n"
    "uvicorn.Server.run = lambda self: print(max(i['num_threads'] for i in threadpool_info()"
    " if i['user_api'] == 'blas'))\n"
    "http_server.run(object(), '127.0.0.1', 0, 'warning')\n")


def test_the_server_process_runs_numpy_s_blas_on_one_thread():
    """Requests already run in parallel (one search thread per core); a BLAS pool of its own per
    matrix product only spins against them (bench_blas.py: half a picture query's CPU)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}  # a pool of 2 to begin with, whatever the machine
    done = subprocess.run([sys.executable, "-c", SERVE_AND_COUNT_BLAS_THREADS], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-800:]
    assert int(done.stdout.strip()) == 1
