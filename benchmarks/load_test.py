"""The server under load: start-up time on a 100k-item collection, then 50 clients for 60 s.

1. Builds (once, cached in benchmarks/_data/) a synthetic collection of N items with random unit
   vectors in every space of the offline model, through the store and engine APIs (embedding
   100k pictures would measure the model, not the server).
2. Start-up: runs ``iconodex serve`` as a subprocess and times spawn → first answer to a
   ``like=`` query (the model loads in the background meanwhile), three times.
3. Load: waits until the model is ready, then runs C httpx async clients on loopback for D
   seconds, each sending a mix of ``like`` searches (50%), text searches (30%), ``/query``
   (10%) and ``/items/{id}`` (10%) back to back; reports errors, throughput and p50/p99.

    .venv/bin/python benchmarks/load_test.py                      # 100k items, 50 clients, 60 s
    .venv/bin/python benchmarks/load_test.py --items 20000 --duration 10 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from _report import markdown_table, write_section
from _synthetic import build_synthetic

from iconodex.records import ImageRef, SourceRecord

DATA = Path(__file__).resolve().parent / "_data"
ICONODEX = [str(Path(sys.executable).parent / "iconodex")]
CHUNK = 10_000
TEXTS = ["a cat", "mountain lake", "portrait of a woman", "ein Segelschiff", "une cathédrale gothique",
         "old map of a city", "flowers in a vase", "a horse and rider", "stormy sea", "children playing"]
TYPES = ["painting", "photograph", "drawing", "print", "map"]


# -- the synthetic collection -----------------------------------------------------------------

def build(path: Path, items: int, seed: int = 7) -> None:
    """``items`` IIIF-like records with random unit vectors in every space, all indexed."""
    build_synthetic(path, items, _record, chunk=CHUNK, seed=seed)


def _record(i: int) -> SourceRecord:
    return SourceRecord(id=f"item-{i}", image=ImageRef("iiif", f"https://iiif.example.org/iiif/2/img-{i}", "2"),
                        title=f"Synthetic picture {i}", metadata={"type": [TYPES[i % len(TYPES)]]})


def synthetic(items: int) -> Path:
    path = DATA / f"serve-synthetic-{items}"
    if not (path / "iconodex.db").exists():
        print(f"building a synthetic collection of {items} items in {path}", flush=True)
        build(path, items)
    return path


# -- the server -------------------------------------------------------------------------------

class Server:
    """``iconodex serve`` in a subprocess on a free port, stopped on exit."""

    def __init__(self, collection: Path, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.spawned = time.perf_counter()
        self.process = subprocess.Popen(
            [*ICONODEX, "serve", "-c", str(collection), "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ICONODEX_API_KEY": ""})

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def wait_for(self, path: str, ready: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
                 limit: float = 120) -> float:
        """Seconds from spawn until ``GET path`` satisfies ``ready``."""
        with httpx.Client(base_url=self.base, timeout=10, trust_env=False) as client:
            while time.perf_counter() - self.spawned < limit:
                try:
                    if ready(client.get(path)):
                        return time.perf_counter() - self.spawned
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
        raise RuntimeError(f"{path} not ready after {limit} s")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def startup(collection: Path, items: int, runs: int = 3) -> list[dict]:
    rows = []
    for _ in range(runs):
        with Server(collection, free_port()) as server:
            first = server.wait_for(f"/search?like=item-{items // 2}&limit=10")
            model = server.wait_for("/health", lambda r: r.json().get("model") == "ready")
        rows.append({"first_answer_s": first, "model_ready_s": model})
        print(f"  first like answer {first:.2f} s, model ready {model:.2f} s", flush=True)
    return rows


# -- the load ---------------------------------------------------------------------------------

def _request(rng: random.Random, items: int) -> tuple[str, str, dict]:
    roll = rng.random()
    item = f"item-{rng.randrange(items)}"
    if roll < 0.5:
        return "like", "/search", {"like": item, "limit": 20}
    if roll < 0.8:
        return "text", "/search", {"q": rng.choice(TEXTS), "limit": 20}
    if roll < 0.9:
        return "sari", "/query", {"str": rng.choice(TEXTS), "minScore": 0, "limit": 10}
    return "item", f"/items/{item}", {}


async def _client(base: str, items: int, deadline: float, seed: int, log: list, errors: list) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
        while time.perf_counter() < deadline:
            kind, path, params = _request(rng, items)
            started = time.perf_counter()
            try:
                response = await client.get(path, params=params)
                ok = response.status_code == 200
            except httpx.HTTPError as exc:
                ok, response = False, exc
            log.append((kind, time.perf_counter() - started))
            if not ok:
                errors.append(f"{kind}: {getattr(response, 'status_code', response)}")


async def load(base: str, items: int, clients: int, duration: float) -> tuple[list, list, float]:
    log: list[tuple[str, float]] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.wait_for(
        asyncio.gather(*(_client(base, items, deadline, seed, log, errors) for seed in range(clients))),
        timeout=duration + 60)  # bounded even if the server hangs
    return log, errors, time.perf_counter() - started


def summarise(log: list[tuple[str, float]], elapsed: float) -> list[list[object]]:
    rows = []
    for kind in ("all", "like", "text", "sari", "item"):
        times = np.asarray([t for k, t in log if kind in ("all", k)]) * 1000
        if len(times):
            rows.append([kind, len(times), f"{len(times) / elapsed:.1f}", f"{np.percentile(times, 50):.0f}",
                         f"{np.percentile(times, 99):.0f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md alone.")
    args = parser.parse_args()

    collection = synthetic(args.items)
    print("start-up:", flush=True)
    starts = startup(collection, args.items)
    print(f"load: {args.clients} clients for {args.duration:g} s", flush=True)
    with Server(collection, free_port()) as server:
        server.wait_for("/health", lambda r: r.json().get("model") == "ready")
        log, errors, elapsed = asyncio.run(load(server.base, args.items, args.clients, args.duration))
    rows = summarise(log, elapsed)
    body = _report(args, starts, rows, errors, elapsed)
    print(body)
    if not args.no_write:
        write_section("serve-load", "Server: start-up and load", body)


def _report(args: argparse.Namespace, starts: list[dict], rows: list, errors: list, elapsed: float) -> str:
    first = ", ".join(f"{s['first_answer_s']:.2f}" for s in starts)
    ready = ", ".join(f"{s['model_ready_s']:.1f}" for s in starts)
    table = markdown_table(["requests", "count", "req/s", "p50 ms", "p99 ms"], rows)
    return (f"Synthetic collection: {args.items:,} items, random unit vectors in the offline model's three "
            f"spaces (visual 1280-d, image/text 384-d), usearch HNSW, memory-mapped at start-up.\n\n"
            f"**Start-up** (`iconodex serve` spawn → first `like=` answer, 3 runs): {first} s; "
            f"model ready in the background after {ready} s.\n\n"
            f"**Load**: {args.clients} concurrent httpx clients on loopback for {elapsed:.0f} s, one uvicorn "
            f"worker, searches in a 4-thread pool; mix 50% `like`, 30% text `/search`, 10% SARI `/query`, "
            f"10% `/items/{{id}}`. Errors: **{len(errors)}**{' (' + '; '.join(sorted(set(errors))[:5]) + ')' if errors else ''}.\n\n"
            f"{table}\n")


if __name__ == "__main__":
    main()
