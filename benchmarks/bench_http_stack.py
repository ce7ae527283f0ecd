"""The server's HTTP stack: CPU per request of h11 on asyncio (the server before) against httptools on
asyncio (``iconodex serve`` now) and either on uvloop, on the load test's 100k-item collection.

Each stack serves the same app (``create_app`` on the collection, read-only) in a process pinned to
its own core, with the same process set-up as ``iconodex serve``; 8 keep-alive clients pinned to the
other core send one kind of request back to back for ``--seconds`` (after a warm-up), and the
server's CPU time per request is read from /proc. ``item``: ``/items/{id}`` (the request path
alone, one SQLite row); ``like``: ``/search?like=…&limit=20`` (an uncached search).

    python benchmarks/bench_http_stack.py --data /work/runs/server2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _report import markdown_table, publish
from load_test import DATA, Server, free_port, synthetic

STACKS = {"h11 on asyncio (before)": ("h11", "asyncio"), "httptools on asyncio (now)": ("httptools", "asyncio"),
          "h11 on uvloop": ("h11", "uvloop"), "httptools on uvloop": ("httptools", "uvloop")}
LAUNCH = """
import sys, uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from iconodex import Collection
from iconodex.serve.app import create_app
from iconodex.serve import http_server as hs
http, loop, port, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
app = create_app(Collection.open(path, read_only=True))
hs._raise_open_files(); hs._bound_malloc_retention(); hs._one_blas_thread(); hs.freeze_long_lived()
config = hs.server_config(app, "127.0.0.1", port, "warning")
config.http, config.loop, config.access_log = hs.HardenedProtocol if http == "httptools" else H11Protocol, loop, False
uvicorn.Server(config).run()
"""


class StackServer(Server):
    """The app on one HTTP stack, in a subprocess pinned to ``core``."""

    def __init__(self, collection: Path, port: int, http: str, loop: str, core: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.spawned = time.perf_counter()
        env = {**os.environ, "ICONODEX_API_KEY": ""}
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCH, http, loop, str(port), str(collection)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                        preexec_fn=lambda: os.sched_setaffinity(0, {core}))


def request(kind: str, rng: random.Random, items: int) -> tuple[str, dict | None]:
    if kind == "item":
        return f"/items/item-{rng.randrange(items)}", None
    return "/search", {"like": f"item-{rng.randrange(items)}", "limit": 20}


async def hammer(base: str, kind: str, items: int, seconds: float, seed: int) -> int:
    """Requests answered by 8 clients in ``seconds``."""
    deadline = time.monotonic() + seconds

    async def client(number: int) -> int:
        rng, done = random.Random(seed * 100 + number), 0
        async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as http:
            while time.monotonic() < deadline:
                path, params = request(kind, rng, items)
                (await http.get(path, params=params)).raise_for_status()
                done += 1
        return done
    return sum(await asyncio.gather(*(client(number) for number in range(8))))


def measure(collection: Path, items: int, seconds: float, http: str, loop: str) -> dict[str, tuple[float, float]]:
    """Per kind: (requests/s, server CPU ms per request)."""
    found = {}
    with StackServer(collection, free_port(), http, loop, core=1) as server:
        server.wait_for("/health")
        for seed, kind in enumerate(("item", "like")):
            asyncio.run(hammer(server.base, kind, items, 3, seed))  # warm: page cache, SQLite, code paths
            cpu, start = server.cpu_seconds(), time.monotonic()
            done = asyncio.run(hammer(server.base, kind, items, seconds, seed + 10))
            found[kind] = (done / (time.monotonic() - start), 1000 * (server.cpu_seconds() - cpu) / done)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DATA, help="Where load_test.py keeps its collection.")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    collection = synthetic(args.data, args.items)
    results = {name: measure(collection, args.items, args.seconds, *stack) for name, stack in STACKS.items()}
    before = results["h11 on asyncio (before)"]
    rows = [[name, *(f"{found[kind][1]:.3f} ({found[kind][1] / before[kind][1]:.2f}×)" for kind in ("item", "like")),
             *(f"{found[kind][0]:.0f}" for kind in ("item", "like"))] for name, found in results.items()]
    table = markdown_table(["stack", "item: CPU ms/request", "like: CPU ms/request", "item req/s", "like req/s"], rows)
    body = (f"{args.items:,}-item synthetic collection of load_test.py; server pinned to core 1, 8 keep-alive "
            f"clients on core 0, {args.seconds:g} s per kind after a 3 s warm-up; the ratio is to h11 on asyncio "
            f"in this run.\n\n{table}\n")
    publish("http-stack", "Server: HTTP stack, CPU per request (bench_http_stack.py)", body, write=not args.no_write)


if __name__ == "__main__":
    main()
