"""The public server under abuse: good clients' latency, 5xx answers and the server's memory.

Two modes, each against a real ``iconodex serve`` subprocess on loopback (load_test.py's server,
synthetic collection and good clients):

- ``uploads``: 8 concurrent uploads of a 6000×6000 16-bit greyscale PNG (300 KB), then of a
  36 MP 16-bit RGB PNG, while one client sends text searches: the server's peak RSS, and the
  text searches' p99 against a quiet p99 measured first in the same run. Then 4 rounds of 64
  uploads (8 at a time): resident memory after each round (what is retained).
- ``load``: G good clients (load_test's mix of like/text/SARI/item requests) for D seconds alone
  (quiet), then again with A attackers beside them: uploads of both PNGs to ``/search`` and
  ``/query``, bad parameters (``limit=²``, a 5000-digit limit, NaN alpha, a garbage SPARQL query…),
  500 idle sockets and 500 sockets with half-sent headers (reopened when the server closes
  them). Reports good p50/p99 quiet vs under abuse, every 5xx, and the server's peak RSS.

    .venv/bin/python benchmarks/abuse.py                                   # both modes, 100k items
    .venv/bin/python benchmarks/abuse.py --mode uploads --items 20000 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from _report import markdown_table, publish
from load_test import DATA, TEXTS, Mix, Server, _client, free_port, summarise, synthetic

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _big_pictures import GREY, RGB, png16  # noqa: E402 - the tests' own abusive pictures

PICTURES = {"grey 6000² 16-bit": (6000, 6000, GREY), "RGB 36 MP 16-bit": (7200, 5000, RGB)}
BAD_REQUESTS = [
    ("/search", {"q": "cat", "limit": "²"}), ("/search", {"q": "cat", "limit": "9" * 5000}),
    ("/search", {"q": "cat", "alpha": "nan"}), ("/search", {"q": "cat", "offset": "-1"}),
    ("/search", {"q": "x" * 5000}), ("/search", {"like": "no-such-item"}), ("/search", {"where": "::"}),
    ("/query", {"str": "cat", "limit": "abc"}), ("/query", {"str": "cat", "minScore": "inf"}),
    ("/sparql", {"query": "SELECT * WHERE { ?s ?p ?o "}), ("/items/%2e%2e%2fetc%2fpasswd", {}),
    ("/facets/" + "f" * 3000, {"limit": "-5"}),
]
SOCKETS = 500  # idle ones, and again as many with half-sent headers


# -- the server's memory ------------------------------------------------------------------------

def memory_mb(pid: int) -> dict[str, float]:
    """Resident (``VmRSS``), peak resident (``VmHWM``) and anonymous resident (``RssAnon``: the
    heap, without pages of the memory-mapped index that searches touch) memory of ``pid``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM", "RssAnon")}


# -- clients ------------------------------------------------------------------------------------

async def upload(client: httpx.AsyncClient, picture: bytes, path: str = "/search") -> int:
    response = await client.post(path, files={"image": ("big.png", picture, "image/png")})
    return response.status_code


async def text_searches(client: httpx.AsyncClient, until: asyncio.Event | float, times: list[float]) -> None:
    """Text searches back to back until ``until`` (an event set, or a perf_counter deadline)."""
    rng = random.Random(3)
    while not (until.is_set() if isinstance(until, asyncio.Event) else time.perf_counter() > until):
        started = time.perf_counter()
        response = await client.get("/search", params={"q": rng.choice(TEXTS), "limit": 20})
        response.raise_for_status()
        times.append(time.perf_counter() - started)


async def uploader(base: str, pictures: list[bytes], deadline: float, statuses: Counter) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as client:
        turn = 0
        while time.perf_counter() < deadline:
            path = "/query" if turn % 2 else "/search"
            statuses[f"upload {path} {await _status(upload(client, pictures[turn % len(pictures)], path))}"] += 1
            turn += 1


async def bad_parameters(base: str, deadline: float, seed: int, statuses: Counter) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as client:
        while time.perf_counter() < deadline:
            path, params = rng.choice(BAD_REQUESTS)
            status = await _status(client.get(path, params=params))
            statuses[f"bad {path[:16]} {sorted(params)} {status}"] += 1


async def _status(request: object) -> int | str:
    try:
        result = await request  # type: ignore[misc]
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return result if isinstance(result, int) else result.status_code


async def hold_sockets(port: int, deadline: float, half_sent: bool, reopened: list[int]) -> None:
    """Keep ``SOCKETS`` connections open that never finish a request; reopen those the server closes."""
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " if half_sent else b""

    async def one() -> None:
        while time.perf_counter() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            writer.write(head)
            try:
                await asyncio.wait_for(reader.read(), max(0.1, deadline - time.perf_counter()))
                reopened[0] += 1  # the server closed it
            except (TimeoutError, OSError):
                pass
            writer.close()

    await asyncio.gather(*(one() for _ in range(SOCKETS)))


# -- uploads mode -------------------------------------------------------------------------------

async def uploads_run(server: Server) -> dict:
    pictures = {name: png16(*shape) for name, shape in PICTURES.items()}
    pid = server.process.pid
    async with httpx.AsyncClient(base_url=server.base, timeout=120, trust_env=False) as client:
        quiet: list[float] = []
        await text_searches(client, time.perf_counter() + 15, quiet)
        result = {"baseline_mb": memory_mb(pid)["VmRSS"], "quiet_p99": _p99(quiet), "bursts": []}
        for name, picture in pictures.items():
            done, during = asyncio.Event(), []
            texts = asyncio.create_task(text_searches(client, done, during))
            started = time.perf_counter()
            statuses = await asyncio.gather(*(upload(client, picture) for _ in range(8)))
            seconds = time.perf_counter() - started
            done.set()
            await texts
            result["bursts"].append({"picture": name, "statuses": Counter(statuses), "seconds": seconds,
                                     "texts": len(during), "text_p99": _p99(during),
                                     "peak_mb": memory_mb(pid)["VmHWM"]})
        rounds = []
        for _ in range(4):
            for start in range(0, 64, 8):
                await asyncio.gather(*(upload(client, list(pictures.values())[(start + i) % 2]) for i in range(8)))
            await asyncio.sleep(1)
            rounds.append(memory_mb(pid))
        result["rounds_mb"] = rounds
        result["peak_mb"] = memory_mb(pid)["VmHWM"]
    return result


def uploads_report(result: dict) -> str:
    quiet = result["quiet_p99"]
    rows = [[burst["picture"], dict(burst["statuses"]), f"{burst['seconds']:.1f}", burst["texts"],
             f"{burst['text_p99']:.0f}", f"{burst['text_p99'] / quiet:.2f}×", f"{burst['peak_mb']:.0f}"]
            for burst in result["bursts"]]
    table = markdown_table(["8 concurrent uploads of", "statuses", "s", "text searches meanwhile",
                            "their p99 ms", "vs quiet p99", "server peak RSS MB so far"], rows)
    resident = [memory["VmRSS"] for memory in result["rounds_mb"]]
    heap = [memory["RssAnon"] for memory in result["rounds_mb"]]
    return (f"Idle server {result['baseline_mb']:.0f} MB resident; text searches alone: p99 "
            f"**{quiet:.0f} ms** (15 s, one client).\n\n{table}\n\n"
            f"**Retained memory** after each of 4 rounds of 64 uploads (8 at a time, both pictures): resident "
            f"{', '.join(f'{mb:.0f}' for mb in resident)} MB ({resident[-1] - resident[0]:+.0f} MB after the first "
            f"round), of which anonymous (heap, not the memory-mapped index) {', '.join(f'{mb:.0f}' for mb in heap)} "
            f"MB (**{heap[-1] - heap[0]:+.0f} MB**); peak over the whole run **{result['peak_mb']:.0f} MB**.\n")


def _p99(seconds: list[float]) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000, 99)) if seconds else float("nan")


# -- load mode ----------------------------------------------------------------------------------

async def load_run(server: Server, items: int, good: int, attackers: int, duration: float) -> dict:
    port = int(server.base.rsplit(":", 1)[1])
    pictures = [png16(*shape) for shape in PICTURES.values()]
    runs = {}
    for label in ("quiet", "abuse"):
        log: list[tuple[str, float, tuple]] = []
        errors: list[str] = []
        statuses: Counter = Counter()
        reopened = [0]
        started = time.perf_counter()
        deadline = started + duration
        cpu = server.cpu_seconds()
        tasks = [_client(server.base, Mix("documented", items), deadline, seed, log, errors) for seed in range(good)]
        if label == "abuse":
            uploaders = max(1, attackers // 2)
            tasks += [uploader(server.base, pictures, deadline, statuses) for _ in range(uploaders)]
            tasks += [bad_parameters(server.base, deadline, seed, statuses) for seed in range(attackers - uploaders)]
            tasks += [hold_sockets(port, deadline, half, reopened) for half in (False, True)]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=duration + 90)
        runs[label] = {"rows": summarise(label, log, time.perf_counter() - started, server.cpu_seconds() - cpu),
                       "errors": errors,
                       "statuses": statuses, "reopened": reopened[0]}
    runs["peak_mb"] = memory_mb(server.process.pid)["VmHWM"]
    return runs


def load_report(runs: dict, good: int, attackers: int, duration: float) -> str:
    quiet, abuse = runs["quiet"], runs["abuse"]
    q_all, a_all = quiet["rows"][0], abuse["rows"][0]
    rows = [["quiet", *q_all[2:6], "1.00×"],  # summarise's rows: label, kind, count, req/s, p50, p99, CPU
            ["under abuse", *a_all[2:6], f"{float(a_all[5]) / float(q_all[5]):.2f}×"]]
    table = markdown_table(["good requests", "count", "req/s", "p50 ms", "p99 ms", "p99 vs quiet"], rows)
    good_5xx = [e for e in abuse["errors"] + quiet["errors"] if e.split(": ")[-1].startswith("5")]
    abuse_5xx = {k: v for k, v in abuse["statuses"].items() if k.rsplit(" ", 1)[-1].startswith("5")}
    other = {k: v for k, v in abuse["statuses"].items() if k not in abuse_5xx}
    return (f"{good} good clients (load_test.py's mix) for {duration:.0f} s alone, then {duration:.0f} s with "
            f"{attackers} attackers beside them ({max(1, attackers // 2)} uploading the two PNGs above to "
            f"`/search` and `/query`, the rest sending bad parameters) and {SOCKETS} idle plus {SOCKETS} "
            f"half-sent-header sockets held open (the server closed {abuse['reopened']:,} of them, which were "
            f"reopened).\n\n{table}\n\n"
            f"**5xx**: good requests {len(good_5xx)}, attackers' requests **{sum(abuse_5xx.values())}**"
            f"{' (' + '; '.join(f'{k}: {v}' for k, v in sorted(abuse_5xx.items())) + ')' if abuse_5xx else ''}. "
            f"Other errors of good requests: {len(quiet['errors']) + len(abuse['errors']) - len(good_5xx)}. "
            f"Server peak RSS **{runs['peak_mb']:.0f} MB**.\n\n"
            f"<details><summary>attackers' answers</summary>\n\n"
            f"{markdown_table(['request', 'count'], sorted(other.items()))}\n\n</details>\n")


# -- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["uploads", "load", "both"], default="both")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DATA, help="Where load_test.py keeps its collections.")
    parser.add_argument("--good", type=int, default=40, help="good clients (load mode)")
    parser.add_argument("--attackers", type=int, default=10, help="abusive HTTP clients beside them (load mode)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of each load run")
    parser.add_argument("--no-write", action="store_true", help="Print only; leave docs/benchmarks.md alone.")
    args = parser.parse_args()
    _raise_open_files(4 * SOCKETS)
    collection = synthetic(args.data, args.items)
    if args.mode in ("uploads", "both"):
        with Server(collection, free_port()) as server:
            server.wait_for("/health", lambda r: r.json().get("model") == "ready")
            body = uploads_report(asyncio.run(uploads_run(server)))
        publish("serve-uploads", "Server: big 16-bit picture uploads", body, write=not args.no_write)
    if args.mode in ("load", "both"):
        with Server(collection, free_port()) as server:
            server.wait_for("/health", lambda r: r.json().get("model") == "ready")
            runs = asyncio.run(load_run(server, args.items, args.good, args.attackers, args.duration))
        publish("serve-abuse", "Server: load with abuse", load_report(runs, args.good, args.attackers, args.duration),
                write=not args.no_write)


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard))


if __name__ == "__main__":
    main()
