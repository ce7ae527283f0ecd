"""Ingest on a Dask cluster (``--cluster``) against local ingest, in one run on one machine:

* local ``Collection.ingest`` of a folder of 2–4 megapixel JPEGs (model loaded before the clock);
* the same with a real ``dask scheduler`` and 1, then 2 ``dask worker`` processes (one thread
  each) on loopback, every worker warmed up first so each holds its model;
* the chunk round trip alone: a chunk's real work items sent to a worker that returns a result
  of the same shape without fetching or embedding, to price the messaging per item, as shipped
  (one matrix per space) and as one small array per item.

Workers on the same machine share its cores with the coordinator, so 2 workers cannot beat
local ingest on 2 cores; the figures price the overhead a real cluster must amortise.

    .venv/bin/python benchmarks/bench_cluster.py --count 240 --chunk-size 32 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import markdown_table, publish
from bench_ingest import make_jpegs

DASK = str(Path(sys.executable).with_name("dask"))
ROUND_TRIPS = 20


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, workers: int) -> None:
        import distributed

        src = str(Path(__file__).resolve().parents[1] / "src")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        self.address = f"tcp://127.0.0.1:{_port()}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        self.processes = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                            self.address.rsplit(":", 1)[1], "--no-dashboard"], **quiet)]
        self.processes += [subprocess.Popen([DASK, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                             "--no-dashboard", "--memory-limit", "2GiB"], **quiet)
                           for _ in range(workers)]
        self.client = distributed.Client(self.address, timeout=60, set_as_default=False)
        self.client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        self.client.close()
        for process in self.processes:
            process.terminate()
            process.wait(timeout=20)


def timed_ingest(folder: Path, root: Path, chunk_size: int, cluster: str = "") -> dict:
    from iconodex import Collection

    with Collection.create(root, settings={"cluster": cluster, "chunk_size": chunk_size}) as coll:
        start = time.perf_counter()
        report = coll.ingest(str(folder))
        seconds = time.perf_counter() - start
    return {"items": report.indexed, "failed": len(report.failed), "seconds": seconds}


def warm_up(cluster: Cluster, folder: Path, tmp: Path) -> None:
    """Small ingests until every worker has loaded the model, which the timed runs then find loaded."""
    from iconodex import Collection

    pictures = sorted(folder.iterdir())
    for attempt in range(5):
        if all(cluster.client.run(_holds_a_model).values()):
            return
        sample = tmp / f"warm-{attempt}"
        sample.mkdir(parents=True)
        for path in pictures[attempt * 8:(attempt + 1) * 8]:
            (sample / path.name).symlink_to(path.resolve())
        with Collection.create(tmp / f"warm-coll-{attempt}",
                               settings={"cluster": cluster.address, "chunk_size": 1}) as coll:
            coll.ingest(str(sample))
    raise RuntimeError("a worker got no chunk to warm up with")


def _holds_a_model() -> bool:  # runs on each worker
    from iconodex.ingest import cluster

    return bool(cluster._MODELS)


def _as_shipped(work, dims):  # runs on a worker (pickled by value from __main__)
    from iconodex.ingest.executors import ChunkResult

    return ChunkResult(vectors=_vectors(work, dims), hashes={w.key: "0" * 32 for w in work})


def _one_array_per_item(work, dims):  # the alternative: the same dicts pickled as they are
    return {"vectors": _vectors(work, dims), "hashes": {w.key: "0" * 32 for w in work}}


def _vectors(work, dims):
    return {space: {w.key: np.zeros(size, np.float32) for w in work} for space, size in dims.items()}


def round_trips(cluster: Cluster, ingested: Path, chunk: int) -> dict[str, float]:
    """Median seconds per item for a chunk of real work items (from the ``ingested`` collection) to
    reach a worker and a result of the collection's shape (no fetching, no embedding) to come back,
    per way of shipping it."""
    from iconodex import Collection

    with Collection.open(ingested, read_only=True) as coll:
        work, dims = _work_items(coll, chunk), dict(coll.spaces)
    seconds: dict[str, list[float]] = {"as_shipped": [], "one_array_per_item": []}
    for _ in range(ROUND_TRIPS):  # alternated, so a change in the machine's load hits both alike
        for name, task in (("as_shipped", _as_shipped), ("one_array_per_item", _one_array_per_item)):
            start = time.perf_counter()
            cluster.client.submit(task, work, dims, pure=False).result()
            seconds[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) / len(work) for name, values in seconds.items()}


def _work_items(coll, chunk: int) -> list:
    """Work items as the pipeline builds them, read back from a finished collection."""
    from iconodex.store import WorkItem

    rows = coll.store.conn.execute("SELECT key, id FROM items ORDER BY key LIMIT ?", (chunk,)).fetchall()
    return [WorkItem(row[0], row[1], coll.get(row[1]), True, True) for row in rows]


def measure(folder: Path, tmp: Path, chunk_size: int, repeats: int) -> tuple[dict[str, dict], dict[str, float]]:
    """The best of ``repeats`` runs per case, the cases interleaved (local, 1 worker, 2 workers, local…)
    so that the load of a shared machine weighs on each alike."""
    clusters = {"1 worker": Cluster(1), "2 workers": Cluster(2)}
    try:
        for name, cluster in clusters.items():
            warm_up(cluster, folder, tmp / f"warm-{name}")
        timed_ingest(folder, tmp / "warm-local", chunk_size)  # this process's lazily loaded parts too
        best: dict[str, dict] = {}
        for attempt in range(repeats):
            for name, address in [("local", ""), *((name, c.address) for name, c in clusters.items())]:
                result = timed_ingest(folder, tmp / f"{name}-{attempt}", chunk_size, address)
                if name not in best or result["seconds"] < best[name]["seconds"]:
                    best[name] = result
        return best, round_trips(clusters["1 worker"], tmp / "local-0", chunk_size)
    finally:
        for cluster in clusters.values():
            cluster.close()


def report(args: argparse.Namespace, best: dict[str, dict], overhead: dict[str, float]) -> str:
    local = best["local"]["seconds"]
    rows = [[case, result["items"], result["failed"], f"{result['seconds']:.1f}",
             f"{result['items'] / result['seconds']:.1f}", f"{local / result['seconds']:.2f}×"]
            for case, result in best.items()]
    table = markdown_table(["case", "items", "failed", "seconds", "items/s", "speed vs local"], rows)
    shipped, loose = overhead["as_shipped"], overhead["one_array_per_item"]
    return (f"{args.count} JPEGs of 2–4 megapixels, offline model, chunks of {args.chunk_size} items (one task each) "
            f"in every case, other settings default; best of {args.repeats} interleaved runs per case. Scheduler, "
            f"workers (`--nthreads 1 --no-nanny`) and coordinator all on this machine, sharing its cores; each "
            f"worker, and the local process, ran a warm-up ingest before the clock.\n\n{table}\n\n"
            f"Chunk round trip without fetching or embedding ({args.chunk_size} real work items out, a result of "
            f"the collection's three spaces back, median of {ROUND_TRIPS}): **{shipped * 1000:.2f} ms per item** "
            f"with `ChunkResult` as shipped (one matrix per space), {loose * 1000:.2f} ms per item with one "
            f"array per item: **{loose / shipped:.1f}×** the cost.{_load_note()}")


def _load_note() -> str:
    if os.getloadavg()[0] <= (os.cpu_count() or 1):
        return ""
    return ("\n\nTaken while other work shared the machine (load average above its core count): the absolute rates "
            "are low and noisy; the ratios within this run are what to compare.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=240, help="JPEGs ingested in each case")
    parser.add_argument("--chunk-size", type=int, default=32, help="items per chunk (task), in every case")
    parser.add_argument("--repeats", type=int, default=2, help="runs per case; the best counts")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    paths = make_jpegs(args.count)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "pictures"
        folder.mkdir()
        for path in paths:
            (folder / path.name).symlink_to(path)
        best, overhead = measure(folder, tmp, args.chunk_size, args.repeats)
    body = report(args, best, overhead)
    publish("cluster", "Ingest on a Dask cluster (bench_cluster.py)", body, write=not args.no_write)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
