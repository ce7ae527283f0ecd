"""Ingest on a Dask cluster (``--cluster``) against local ingest, in one run on one machine:

* local ``Collection.ingest`` of a folder of 2–4 megapixel JPEGs (model loaded before the clock);
* the same with a real ``dask scheduler`` and 1, then 2 ``dask worker`` processes (one thread
  each) on loopback, every worker warmed up first so each holds its model;
* the chunk round trip alone: a chunk's real work items sent to a worker that returns a result
  of the same shape without fetching or embedding, to price the messaging per item, as shipped
  (one matrix per space) and as one small array per item.

Workers on the same machine share its cores with the coordinator, so 2 workers cannot beat
local ingest on 2 cores; the figures price the overhead a real cluster must amortise.

    .venv/bin/python benchmarks/bench_cluster.py --count 240 --chunk-size 32
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
from _report import markdown_table, write_section
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
    """A chunk per worker thread, so every worker has loaded the model before the timed run."""
    sample = tmp / "warm"
    sample.mkdir(parents=True)
    for path in sorted(folder.iterdir())[:8]:
        (sample / path.name).symlink_to(path.resolve())
    from iconodex import Collection

    with Collection.create(tmp / "warm-coll", settings={"cluster": cluster.address, "chunk_size": 1}) as coll:
        coll.ingest(str(sample))


def _as_shipped(work, dims):  # runs on a worker (pickled by value from __main__)
    from iconodex.ingest.executors import ChunkResult

    return ChunkResult(vectors=_vectors(work, dims), hashes={w.key: "0" * 32 for w in work})


def _one_array_per_item(work, dims):  # the alternative: the same dicts pickled as they are
    return {"vectors": _vectors(work, dims), "hashes": {w.key: "0" * 32 for w in work}}


def _vectors(work, dims):
    return {space: {w.key: np.zeros(size, np.float32) for w in work} for space, size in dims.items()}


def round_trips(cluster: Cluster, folder: Path, tmp: Path, chunk: int) -> dict[str, float]:
    """Median seconds per item for a chunk of real work items to reach a worker and a result of
    the collection's shape (no fetching, no embedding) to come back, per way of shipping it."""
    from iconodex import Collection

    with Collection.create(tmp / "rt") as coll:
        coll.ingest(str(folder))
        work, dims = _work_items(coll, chunk), dict(coll.spaces)
    medians = {}
    for task in (_as_shipped, _one_array_per_item):
        seconds = []
        for _ in range(ROUND_TRIPS):
            start = time.perf_counter()
            cluster.client.submit(task, work, dims, pure=False).result()
            seconds.append(time.perf_counter() - start)
        medians[task.__name__.strip("_")] = float(np.median(seconds)) / len(work)
    return medians


def _work_items(coll, chunk: int) -> list:
    """Work items as the pipeline builds them, read back from a finished collection."""
    from iconodex.store import WorkItem

    rows = coll.store.conn.execute("SELECT key, id FROM items ORDER BY key LIMIT ?", (chunk,)).fetchall()
    return [WorkItem(row[0], row[1], coll.get(row[1]), True, True) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=240, help="JPEGs ingested in each case")
    parser.add_argument("--chunk-size", type=int, default=32, help="items per chunk (task), in every case")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    paths = make_jpegs(args.count)
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "pictures"
        folder.mkdir()
        for path in paths:
            (folder / path.name).symlink_to(path)
        seconds["local"] = timed_ingest(folder, tmp / "local", args.chunk_size)
        overhead: dict[str, float] = {}
        for workers in (1, 2):
            cluster = Cluster(workers)
            try:
                warm_up(cluster, folder, tmp / f"w{workers}")
                seconds[f"{workers} worker(s)"] = timed_ingest(folder, tmp / f"c{workers}", args.chunk_size,
                                                               cluster.address)
                if workers == 1:
                    overhead = round_trips(cluster, folder, tmp / "w1", args.chunk_size)
            finally:
                cluster.close()
    local = seconds["local"]["seconds"]
    for case, result in seconds.items():
        rate = result["items"] / result["seconds"]
        rows.append([case, result["items"], result["failed"], f"{result['seconds']:.1f}", f"{rate:.1f}",
                     f"{local / result['seconds']:.2f}×"])
    table = markdown_table(["case", "items", "failed", "seconds", "items/s", "speed vs local"], rows)
    shipped, loose = overhead["as_shipped"], overhead["one_array_per_item"]
    body = (f"{args.count} JPEGs of 2–4 megapixels, offline model, chunks of {args.chunk_size} items (one task each) "
            f"in every case, other settings default. Scheduler, workers (`--nthreads 1 --no-nanny`) and "
            f"coordinator all on this machine, sharing its cores; each worker loaded its model before the clock, "
            f"as the local case did.\n\n{table}\n\n"
            f"Chunk round trip without fetching or embedding ({args.chunk_size} real work items out, a result of "
            f"the collection's three spaces back, median of {ROUND_TRIPS}): **{shipped * 1000:.2f} ms per item** "
            f"with `ChunkResult` as shipped (one matrix per space), {loose * 1000:.2f} ms per item with one "
            f"array per item: **{loose / shipped:.1f}×** the cost.")
    print(body)
    if not args.no_write:
        write_section("cluster", "Ingest on a Dask cluster (bench_cluster.py)", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
