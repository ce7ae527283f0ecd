"""Distributed embedding on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes on loopback (the dask CLI, no in-process cluster), the coordinator in this process or
as ``iconodex ingest --cluster``. Workers run with one thread, little memory and no nanny, so a
kill -9 takes a worker away for good and the scheduler must run its chunk elsewhere."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _formats_helpers import vectors_by_id
from _net import free_port
from _servers_fetch import static_server
from PIL import Image

import iconodex
from iconodex.collection import Collection

distributed = pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(iconodex.__file__).parents[1]),
                                                                  os.environ.get("PYTHONPATH")]))}


class DaskCluster:
    """A scheduler and named workers, each a subprocess logging to a file."""

    def __init__(self, logs: Path, **scheduler_env: str) -> None:
        self.logs = logs
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.workers: dict[str, subprocess.Popen] = {}
        self.scheduler = self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port",
                                                   self.address.rsplit(":", 1)[1], "--no-dashboard"], scheduler_env)
        self.client = distributed.Client(self.address, timeout=60, set_as_default=False)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (the process owns it until it ends)
        return subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT, env={**ENV, **(env or {})})

    def ensure_workers(self, names: tuple[str, ...] = ("w1", "w2")) -> None:
        for name in names:
            if name not in self.workers or self.workers[name].poll() is not None:
                self.start_worker(name)
        self.client.wait_for_workers(len(names), timeout=60)

    def start_worker(self, name: str, *extra: str) -> None:
        self.workers[name] = self._spawn(name, ["worker", self.address, "--name", name, "--nthreads", "1",
                                                "--memory-limit", "1GiB", "--no-nanny", "--no-dashboard", *extra])

    def stop_worker(self, name: str) -> None:
        self.workers.pop(name).kill()
        deadline = time.monotonic() + 30
        while name in {w["name"] for w in self.client.scheduler_info(n_workers=-1)["workers"].values()}:
            assert time.monotonic() < deadline, f"the scheduler still lists {name}"
            time.sleep(0.05)

    def worker_named(self, address: str) -> str:
        return self.client.scheduler_info(n_workers=-1)["workers"][address]["name"]

    def close(self) -> None:
        self.client.close()
        for process in [*self.workers.values(), self.scheduler]:
            process.terminate()
        for process in [*self.workers.values(), self.scheduler]:
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    running = DaskCluster(tmp_path_factory.mktemp("dask-logs"))
    try:
        running.ensure_workers()
        yield running
    finally:
        running.close()


def make_pictures(folder: Path, n: int, start: int = 0) -> Path:
    rng = np.random.default_rng(start)
    folder.mkdir(exist_ok=True)
    for i in range(start, start + n):
        pixels = np.clip(rng.integers(0, 255, size=3) + rng.normal(0, 40, size=(40, 40, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i:04d}.jpg", quality=80)
    return folder


def ingest_cli(folder: Path, coll: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "iconodex", "ingest", str(folder), "-c", str(coll), "--json",
               "--set", "chunk_size=4", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def statuses(coll: Path) -> dict[str, int]:
    db = coll / "iconodex.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return dict(conn.execute("SELECT status, count(*) FROM items GROUP BY status").fetchall())
        except sqlite3.OperationalError:
            return {}


def committed(coll: Path) -> int:
    counts = statuses(coll)
    return counts.get("embedded", 0) + counts.get("indexed", 0)


def wait_for(condition, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, f"the run ended first: {process.communicate()[1][-500:]}"


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-1000:]
    return json.loads(out)


def assert_all_indexed_once(coll: Path, n: int) -> None:
    assert statuses(coll) == {"indexed": n}
    with Collection.open(coll, read_only=True) as opened:
        assert opened.engine.count("image") == n


def test_cluster_ingest_gives_the_local_vectors_and_keeps_each_workers_model(cluster, tmp_path):
    folder = make_pictures(tmp_path / "pictures", 12)
    with Collection.open_or_create(tmp_path / "local") as local:
        local.ingest(str(folder))
        expected = vectors_by_id(local, "image")
    with Collection.open_or_create(tmp_path / "remote", settings={"cluster": cluster.address,
                                                                  "chunk_size": 2}) as remote:
        report = remote.ingest(str(folder))
        assert (report.embedded, report.indexed, report.failed) == (12, 12, [])
        got = vectors_by_id(remote, "image")
    assert got.keys() == expected.keys()
    for item_id, vector in expected.items():
        np.testing.assert_allclose(got[item_id], vector, atol=1e-6)

    def loaded() -> dict:
        from iconodex.ingest import cluster as on_worker

        return {key: id(model) for key, model in on_worker._MODELS.items()}

    first = cluster.client.run(loaded)
    assert len(first) == 2 and all(len(models) == 1 for models in first.values()), first  # both worked
    make_pictures(folder, 6, start=12)
    with Collection.open(tmp_path / "remote", settings={"cluster": cluster.address, "chunk_size": 2}) as remote:
        assert remote.ingest(str(folder)).embedded == 6
    assert cluster.client.run(loaded) == first  # the same model objects: loaded once per worker


def test_a_collection_made_before_the_default_changed_embeds_on_the_cluster_with_its_own_model(cluster, tmp_path):
    """A Lite0 collection from before Lite2 became the default recorded no variant: the workers must
    load what its identity names (Lite0), as a local ingest does, not today's default."""
    folder = make_pictures(tmp_path / "pictures", 6)
    for name in ("local", "remote"):
        with Collection.create(tmp_path / name, model_options={"variant": "lite0"}) as made:
            made.store.set_meta("collection", {**made.store.get_meta("collection"), "model_options": {}})
    with Collection.open(tmp_path / "local") as local:
        local.ingest(str(folder))
        expected = vectors_by_id(local, "image")
    with Collection.open(tmp_path / "remote", settings={"cluster": cluster.address, "chunk_size": 2}) as remote:
        report = remote.ingest(str(folder))
        assert (report.embedded, report.failed) == (6, []), report.failed
        got = vectors_by_id(remote, "image")
    for item_id, vector in expected.items():
        np.testing.assert_allclose(got[item_id], vector, atol=1e-6)


def test_a_killed_coordinator_resumes_without_embedding_a_committed_chunk_again(cluster, tmp_path):
    n = 80
    folder, coll = make_pictures(tmp_path / "pictures", n), tmp_path / "coll"
    first = ingest_cli(folder, coll, "--cluster", cluster.address)
    wait_for(lambda: committed(coll) >= 12, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    done_before = committed(coll)
    assert 12 <= done_before < n
    report = finish(ingest_cli(folder, coll, "--cluster", cluster.address))
    assert report["embedded"] == n - done_before
    assert report["failed"] == []
    assert_all_indexed_once(coll, n)


def test_a_worker_that_cannot_reach_an_image_host_fails_those_items_alone(cluster, tmp_path):
    folder = make_pictures(tmp_path / "site", 6)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with static_server(folder) as live:
        listing = tmp_path / "pictures.txt"
        live_urls = [f"{live}/{name.name}" for name in sorted(folder.iterdir())]
        dead_urls = [f"{dead}/{i}.jpg" for i in range(4)]
        listing.write_text("\n".join(live_urls + dead_urls) + "\n")
        settings = {"cluster": cluster.address, "chunk_size": 3, "retries": 0, "timeout": 3}
        with Collection.open_or_create(tmp_path / "coll", settings=settings) as coll:
            report = coll.ingest(str(listing))
    assert report.embedded == 6 and report.indexed == 6
    assert len(report.failed) == 4
    assert all(dead.removeprefix("http://") in reason for _, reason in report.failed), report.failed
    assert statuses(tmp_path / "coll") == {"indexed": 6, "failed": 4}


def test_a_worker_whose_model_differs_from_the_collections_stops_the_run(cluster, tmp_path):
    from iconodex.errors import ModelMismatchError

    with Collection.create(tmp_path / "coll") as coll:  # records the offline model's identity
        config = coll.store.get_meta("collection")
        config["identity"] = {**config["identity"], "weights": "other files"}
        coll.store.set_meta("collection", config)
    settings = {"cluster": cluster.address}
    with Collection.open(tmp_path / "coll", settings=settings) as coll, \
            pytest.raises(ModelMismatchError, match="on this Dask worker differs .*weights"):
        coll.ingest(str(make_pictures(tmp_path / "pictures", 2)))
    assert statuses(tmp_path / "coll") == {"pending": 2}


def test_a_worker_with_another_iconodex_version_is_named_before_anything_runs(cluster, tmp_path):
    from iconodex.ingest.cluster import ClusterError

    preload = tmp_path / "other_version.py"
    preload.write_text("import iconodex\niconodex.__version__ = '0.0.1-other'\n")
    cluster.start_worker("other", "--preload", str(preload))
    try:
        cluster.client.wait_for_workers(3, timeout=60)
        with Collection.open_or_create(tmp_path / "coll", settings={"cluster": cluster.address}) as coll, \
                pytest.raises(ClusterError, match=r"Dask worker tcp://127\.0\.0\.1:\d+ runs iconodex 0\.0\.1-other"):
            coll.ingest(str(make_pictures(tmp_path / "pictures", 2)))
    finally:
        cluster.stop_worker("other")
    assert statuses(tmp_path / "coll") == {}  # refused before the harvest


FRAGILE = """
import os
from iconodex.ingest import cluster

real = cluster.__dict__.setdefault("real_embedder", cluster._embedder)  # preloads may run twice


class Fragile:
    def __init__(self, embedder):
        self.embedder = embedder

    def embed(self, work):
        if any("poison" in w.id for w in work):  # dies like a worker out of memory on one picture
            os._exit(9)
        if any("recurse" in w.id for w in work):  # a bug whose traceback is too deep to pickle
            return self.embed(work)
        return self.embedder.embed(work)


cluster._embedder = lambda job: Fragile(real(job))
"""


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """Two workers that die on a picture named poison and recurse forever on one named recurse; the
    scheduler gives a chunk up after one worker death."""
    logs = tmp_path_factory.mktemp("fragile")
    running = DaskCluster(logs, DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")
    (logs / "fragile.py").write_text(FRAGILE)
    try:
        for name in ("f1", "f2"):
            running.start_worker(name, "--preload", str(logs / "fragile.py"))
        running.client.wait_for_workers(2, timeout=60)
        yield running
    finally:
        running.close()


@pytest.mark.timeout(120)  # the failure this guards against is a coordinator waiting forever
def test_a_bug_on_a_worker_ends_the_run_in_one_line_instead_of_hanging(fragile, tmp_path):
    from iconodex.ingest.cluster import ClusterError

    folder = make_pictures(tmp_path / "pictures", 4)
    (folder / "0002.jpg").rename(folder / "recurse.jpg")
    with Collection.open_or_create(tmp_path / "coll", settings={"cluster": fragile.address, "chunk_size": 2}) as coll, \
            pytest.raises(ClusterError, match="failed on a chunk: unexpected RecursionError: maximum recursion depth"):
        coll.ingest(str(folder))


def test_a_chunk_that_kills_its_workers_fails_its_items_and_the_run_goes_on(fragile, tmp_path):
    folder = make_pictures(tmp_path / "pictures", 11)
    (folder / "0003.jpg").rename(folder / "poison.jpg")
    with Collection.open_or_create(tmp_path / "coll", settings={"cluster": fragile.address, "chunk_size": 2}) as coll:
        report = coll.ingest(str(folder))
    failed = dict(report.failed)
    assert any("poison" in item for item in failed), failed
    assert all("Dask workers that ran this item's chunk died" in reason for reason in failed.values())
    assert len(failed) <= 4  # the chunks the dead worker held, at most two of two items
    assert report.indexed == 11 - len(failed)
    assert statuses(tmp_path / "coll") == {"indexed": 11 - len(failed), "failed": len(failed)}


def test_a_scheduler_lost_mid_run_ends_it_in_one_line(tmp_path):
    own = DaskCluster(tmp_path)  # its own scheduler, without workers: the chunks wait while it is killed
    try:
        folder, coll = make_pictures(tmp_path / "pictures", 8), tmp_path / "coll"
        run = ingest_cli(folder, coll, "--cluster", own.address, "--set", "timeout=2")
        wait_for(lambda: statuses(coll).get("pending") == 8, run)
        own.scheduler.kill()
        out, err = run.communicate(timeout=60)
    finally:
        own.close()
    assert run.returncode == 2
    assert err.strip().splitlines()[-1].startswith(f"error: lost the Dask scheduler at {own.address}")
    assert "Traceback" not in err
    assert statuses(coll) == {"pending": 8}  # the same command resumes from here


def test_an_unreachable_scheduler_is_one_line_naming_it(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    folder = make_pictures(tmp_path / "pictures", 2)
    run = ingest_cli(folder, tmp_path / "coll", "--cluster", address, "--set", "timeout=1")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot reach the Dask scheduler at {address}")
    assert "Traceback" not in err
    assert statuses(tmp_path / "coll").get("embedded", 0) == 0


def test_the_cluster_setting_comes_from_the_environment(tmp_path, monkeypatch):
    from iconodex.ingest.cluster import ClusterError

    address = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ICONODEX_CLUSTER", address)
    monkeypatch.setenv("ICONODEX_TIMEOUT", "1")
    with Collection.open_or_create(tmp_path / "coll") as coll, pytest.raises(ClusterError, match=address):
        coll.ingest(str(make_pictures(tmp_path / "pictures", 2)))


def test_a_worker_killed_mid_chunk_loses_nothing_and_duplicates_nothing(cluster, tmp_path):
    cluster.ensure_workers()  # two, so that one can die (the last here to use the cluster: it leaves one)
    n = 80
    folder, coll = make_pictures(tmp_path / "pictures", n), tmp_path / "coll"
    run = ingest_cli(folder, coll, "--cluster", cluster.address)
    busy: list[str] = []

    def a_chunk_is_running_after_a_commit() -> bool:
        if committed(coll) < 4:
            return False
        busy[:] = [address for address, keys in cluster.client.processing().items() if keys]
        return bool(busy)

    wait_for(a_chunk_is_running_after_a_commit, run)
    victim = cluster.worker_named(busy[0])
    cluster.workers[victim].kill()  # SIGKILL, no nanny to restart it
    cluster.workers[victim].wait()
    assert run.poll() is None, "the run ended before the worker was killed"
    report = finish(run)
    assert (report["embedded"], report["indexed"], report["failed"]) == (n, n, [])
    assert_all_indexed_once(coll, n)


def test_without_dask_installed_the_cluster_option_says_what_to_install(tmp_path, monkeypatch):
    from iconodex.errors import ConfigError

    monkeypatch.setitem(sys.modules, "distributed", None)  # what `import distributed` meets when it is absent
    settings = {"cluster": "tcp://127.0.0.1:8786"}
    with Collection.open_or_create(tmp_path / "coll", settings=settings) as coll, \
            pytest.raises(ConfigError, match=r"pip install 'iconodex\[cluster\]'"):
        coll.ingest(str(make_pictures(tmp_path / "pictures", 2)))
