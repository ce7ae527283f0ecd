"""The server under load: start-up time on a 100k-item collection, then 50 clients for 60 s.

1. Builds (once, cached in ``--data``, default benchmarks/_data/) a synthetic collection of N items
   with random unit vectors in every space of the offline model, through the store and engine APIs
   (embedding 100k pictures would measure the model, not the server).
2. Start-up: runs ``iconodex serve`` as a subprocess and times spawn → first answer to a
   ``like=`` query (the model loads in the background meanwhile), three times.
3. Load: waits until the model is ready, then runs C httpx async clients on loopback for D
   seconds, each sending a mix of ``like`` searches (50%), text searches (30%), ``/query``
   (10%) and ``/items/{id}`` (10%) back to back; reports errors, throughput, p50/p99 and the
   server's CPU time per request. Texts are drawn as search logs repeat them (Zipf over a
   vocabulary of phrases), items uniformly; the share of requests that repeat an earlier one
   is reported.

The client is pinned to one core and the server to another (``--client-core``/``--server-core``),
so the client's own CPU does not decide the result. ``--baseline-src DIR`` also runs the server
from another source tree (``git archive COMMIT src | tar -x -C DIR``), on the same collection
with the same requests, so a change and what it replaces are compared in one run; ``--variant``
runs this tree again with other ``iconodex serve`` options (a setting's default against another).

    .venv/bin/python benchmarks/load_test.py                      # 100k items, 50 clients, 60 s
    .venv/bin/python benchmarks/load_test.py --items 20000 --duration 10 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
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
from _report import markdown_table, publish
from _synthetic import build_synthetic

from iconodex.index.usearch_engine import EXACT_BELOW
from iconodex.records import ImageRef, SourceRecord

DATA = Path(__file__).resolve().parent / "_data"
SRC = Path(__file__).resolve().parents[1] / "src"
ICONODEX = [sys.executable, "-m", "iconodex"]
CHUNK = 10_000
TEXTS = ["a cat", "mountain lake", "portrait of a woman", "ein Segelschiff", "une cathédrale gothique",
         "old map of a city", "flowers in a vase", "a horse and rider", "stormy sea", "children playing"]
SUBJECTS = ["cat", "dog", "horse", "ship", "church", "bridge", "castle", "garden", "river", "mountain", "harbour",
            "market", "village", "forest", "portrait", "king", "queen", "soldier", "child", "woman", "man", "bird",
            "tree", "flower", "street", "train", "map", "battle", "saint", "angel"]
QUALIFIERS = ["", "old", "winter", "night", "painted", "small", "in the rain", "at sunset", "with people",
              "engraving of a", "photo of a", "drawing of a", "view of the", "red", "blue", "famous", "ruined",
              "medieval", "modern", "large"]
PLACES = ["", "in Paris", "in Venice", "in Rome", "in London", "in Amsterdam", "in winter", "by the sea",
          "in the mountains", "at night", "in 1900", "in the 18th century", "in Japan", "in Egypt", "in Berlin",
          "in a museum", "on a postcard"]
TYPES = ["painting", "photograph", "drawing", "print", "map"]
ZIPF_S = 1.0  # query popularity in search logs falls off roughly as 1/rank
MIXES = ("logs", "documented")


# -- the synthetic collection -----------------------------------------------------------------

def build(path: Path, items: int, seed: int = 7) -> None:
    """``items`` IIIF-like records with random unit vectors in every space, all indexed."""
    build_synthetic(path, items, _record, chunk=CHUNK, seed=seed)


def _record(i: int) -> SourceRecord:
    return SourceRecord(id=f"item-{i}", image=ImageRef("iiif", f"https://iiif.example.org/iiif/2/img-{i}", "2"),
                        title=f"Synthetic picture {i}", metadata={"type": [TYPES[i % len(TYPES)]]})


def synthetic(data: Path, items: int) -> Path:
    path = data / f"serve-synthetic-{items}"
    if not (path / "iconodex.db").exists():
        print(f"building a synthetic collection of {items} items in {path}", flush=True)
        build(path, items)
    return path


# -- the server -------------------------------------------------------------------------------

class Server:
    """``iconodex serve`` from the source tree ``src`` in a subprocess on a free port, on ``core``
    alone when given; stopped on exit."""

    def __init__(self, collection: Path, port: int, src: Path = SRC, core: int | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.spawned = time.perf_counter()
        env = {**os.environ, "ICONODEX_API_KEY": "", "PYTHONPATH": str(src)}
        pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
        self.process = subprocess.Popen(
            [*ICONODEX, "serve", "-c", str(collection), "--port", str(port), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, preexec_fn=pin)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its children so far (Linux /proc)."""
        total = 0.0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

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


def _children(pid: int) -> list[int]:
    try:
        found = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return found + [grandchild for child in found for grandchild in _children(child)]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def startup(collection: Path, items: int, runs: int = 3, core: int | None = None) -> list[dict]:
    rows = []
    for _ in range(runs):
        with Server(collection, free_port(), core=core) as server:
            first = server.wait_for(f"/search?like=item-{items // 2}&limit=10")
            model = server.wait_for("/health", lambda r: r.json().get("model") == "ready")
        rows.append({"first_answer_s": first, "model_ready_s": model})
        print(f"  first like answer {first:.2f} s, model ready {model:.2f} s", flush=True)
    return rows


# -- the load ---------------------------------------------------------------------------------

def vocabulary(mix: str) -> list[str]:
    """``documented``: the ten texts of the earlier runs; ``logs``: those first, then 10,000 phrases, in
    a fixed popularity order."""
    if mix == "documented":
        return TEXTS
    phrases = [f"{qualifier} {subject} {place}".strip().replace("  ", " ")
               for subject in SUBJECTS for qualifier in QUALIFIERS for place in PLACES]
    random.Random(0).shuffle(phrases)
    return TEXTS + phrases


class Mix:
    """50% ``like`` (items drawn uniformly), 30% text ``/search``, 10% SARI ``/query``, 10%
    ``/items/{id}``; texts drawn by popularity rank (Zipf) from ``vocabulary(name)``."""

    def __init__(self, name: str, items: int) -> None:
        self.items = items
        self.texts = vocabulary(name)
        weights = 1.0 / np.arange(1, len(self.texts) + 1) ** ZIPF_S
        self.cumulative = list(np.cumsum(weights / weights.sum()))

    def text(self, rng: random.Random) -> str:
        return self.texts[min(bisect.bisect(self.cumulative, rng.random()), len(self.texts) - 1)]

    def request(self, rng: random.Random) -> tuple[str, str, dict]:
        roll = rng.random()
        item = f"item-{rng.randrange(self.items)}"
        if roll < 0.5:
            return "like", "/search", {"like": item, "limit": 20}
        if roll < 0.8:
            return "text", "/search", {"q": self.text(rng), "limit": 20}
        if roll < 0.9:
            return "sari", "/query", {"str": self.text(rng), "minScore": 0, "limit": 10}
        return "item", f"/items/{item}", {}


async def _client(base: str, mix: Mix, deadline: float, seed: int, log: list, errors: list) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
        while time.perf_counter() < deadline:
            kind, path, params = mix.request(rng)
            started = time.perf_counter()
            try:
                response = await client.get(path, params=params)
                ok = response.status_code == 200
            except httpx.HTTPError as exc:
                ok, response = False, exc
            log.append((kind, time.perf_counter() - started, (path, tuple(sorted(params.items())))))
            if not ok:
                errors.append(f"{kind}: {getattr(response, 'status_code', response)}")


async def load(base: str, mix: Mix, clients: int, duration: float) -> tuple[list, list, float]:
    log: list[tuple[str, float, tuple]] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.wait_for(
        asyncio.gather(*(_client(base, mix, deadline, seed, log, errors) for seed in range(clients))),
        timeout=duration + 60)  # bounded even if the server hangs
    return log, errors, time.perf_counter() - started


def repeat_shares(log: list[tuple[str, float, tuple]]) -> dict[str, float]:
    """Per kind, the share of requests identical to an earlier one in the run."""
    seen: set[tuple] = set()
    counts: dict[str, list[int]] = {}
    for kind, _, request in log:
        for name in ("all", kind):
            counts.setdefault(name, [0, 0])[0] += request in seen
            counts[name][1] += 1
        seen.add(request)
    return {kind: repeated / total for kind, (repeated, total) in counts.items()}


def summarise(label: str, log: list[tuple[str, float, tuple]], elapsed: float, cpu: float) -> list[list[object]]:
    rows = []
    for kind in ("all", "like", "text", "sari", "item"):
        times = np.asarray([t for k, t, _ in log if kind in ("all", k)]) * 1000
        if len(times):
            cost = f"{cpu / len(times) * 1000:.2f}" if kind == "all" else ""
            rows.append([label, kind, len(times), f"{len(times) / elapsed:.1f}", f"{np.percentile(times, 50):.0f}",
                         f"{np.percentile(times, 99):.0f}", cost])
    return rows


def measure(mix: str, label: str, collection: Path, args: argparse.Namespace, src: Path,
            extra: tuple[str, ...] = ()) -> dict:
    print(f"load, {mix} mix, {label}: {args.clients} clients for {args.duration:g} s", flush=True)
    with Server(collection, free_port(), src, args.server_core, extra) as server:
        server.wait_for("/health", lambda r: r.json().get("model") == "ready")
        cpu = server.cpu_seconds()
        log, errors, elapsed = asyncio.run(load(server.base, Mix(mix, args.items), args.clients, args.duration))
        cpu = server.cpu_seconds() - cpu
    rows = summarise(f"{mix}: {label}", log, elapsed, cpu)
    for row in rows:
        print("  ", row, flush=True)
    return {"mix": mix, "label": label, "rows": rows, "errors": errors, "rate": len(log) / elapsed,
            "repeats": repeat_shares(log)}


def pin_client(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--data", type=Path, default=DATA, help="Where the synthetic collection is kept.")
    parser.add_argument("--mix", choices=MIXES, nargs="+", default=list(MIXES),
                        help="logs: texts as search logs repeat them; documented: the ten texts of earlier runs.")
    parser.add_argument("--baseline-src", type=Path, help="A src/ tree to run as the baseline, in the same run.")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=OPTIONS",
                        help="Also run this tree with these `iconodex serve` options (repeatable), "
                             "e.g. '1 search thread=--search-threads 1'.")
    parser.add_argument("--client-core", type=int, default=0, help="-1: do not pin.")
    parser.add_argument("--server-core", type=int, default=1, help="-1: do not pin.")
    parser.add_argument("--no-startup", action="store_true", help="Skip the start-up timing.")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md alone.")
    args = parser.parse_args()
    args.client_core = None if args.client_core < 0 else args.client_core
    args.server_core = None if args.server_core < 0 else args.server_core
    pin_client(args.client_core)

    collection = synthetic(args.data, args.items)
    starts = []
    if not args.no_startup:
        print("start-up:", flush=True)
        starts = startup(collection, args.items, core=args.server_core)
    servers = ([("baseline", args.baseline_src.resolve(), ())] if args.baseline_src else []) + [("this tree", SRC, ())]
    servers += [(f"this tree, {label}", SRC, tuple(options.split())) for label, _, options in
                (variant.partition("=") for variant in args.variant)]
    runs = [measure(mix, label, collection, args, src, extra) for mix in args.mix for label, src, extra in servers]
    body = _report(args, starts, runs)
    publish("serve-load", "Server: start-up and load", body, write=not args.no_write)


def _report(args: argparse.Namespace, starts: list[dict], runs: list[dict]) -> str:
    table = markdown_table(["mix: server", "requests", "count", "req/s", "p50 ms", "p99 ms", "server CPU ms/request"],
                           [row for run in runs for row in run["rows"]])
    pinned = (f"the load client pinned to core {args.client_core}, the server to core {args.server_core}"
              if args.client_core is not None and args.server_core is not None else "nothing pinned")
    lines = [f"Synthetic collection: {args.items:,} items, random unit vectors in the offline model's three "
             f"spaces (visual 1280-d, image/text 384-d), usearch ({_search_kind(args.items)}), memory-mapped at "
             f"start-up; {pinned}."]
    if starts:
        first = ", ".join(f"{s['first_answer_s']:.2f}" for s in starts)
        ready = ", ".join(f"{s['model_ready_s']:.1f}" for s in starts)
        lines.append(f"**Start-up** (`iconodex serve` spawn → first `like=` answer, 3 runs): {first} s; "
                     f"model ready in the background after {ready} s.")
    lines.append(f"**Load**: {args.clients} concurrent httpx clients on loopback for {args.duration:g} s per row "
                 f"group, one server process; 50% `like` (items drawn uniformly), 30% text `/search`, 10% SARI "
                 f"`/query`, 10% `/items/{{id}}`. Texts are drawn by popularity (Zipf s={ZIPF_S:g}): `logs` from "
                 f"{len(vocabulary('logs')):,} phrases, `documented` from the ten phrases of the earlier runs.")
    for run in runs:
        share = run["repeats"]
        lines.append(f"- {run['mix']}: {run['label']}: {share['all']:.0%} of requests repeat an earlier one "
                     f"({share.get('text', 0):.0%} of text searches, {share.get('sari', 0):.0%} of `/query`, "
                     f"{share.get('like', 0):.0%} of `like`); errors **{len(run['errors'])}**"
                     f"{_error_kinds(run['errors'])}" + _ratio(run, runs))
    return "\n\n".join(lines[:-len(runs)]) + "\n\n" + "\n".join(lines[-len(runs):]) + f"\n\n{table}\n"


def _search_kind(items: int) -> str:
    return "HNSW" if items >= EXACT_BELOW else f"exact search: fewer than {EXACT_BELOW:,} vectors"


def _ratio(run: dict, runs: list[dict]) -> str:
    base = next((other for other in runs if other["mix"] == run["mix"] and other["label"] == "baseline"), None)
    return f"; throughput **{run['rate'] / base['rate']:.2f}×** the baseline's" if base and base is not run else ""


def _error_kinds(errors: list[str]) -> str:
    return f" ({'; '.join(sorted(set(errors))[:5])})" if errors else ""


if __name__ == "__main__":
    main()
