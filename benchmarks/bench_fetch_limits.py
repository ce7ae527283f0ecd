"""Hostile image servers on loopback: memory and time that the fetch limits allow.

    python benchmarks/bench_fetch_limits.py              # --no-write: print only

*memory*: 16 URLs (8 endless bodies, 8 gzip bombs of 1 GB of zeros) fetched with 8 workers at the
default cap (64 MB a body), each case in a fresh process: the peak RSS it grew by, with the shared
byte budget (default 128 MB) and without it (a budget of 100 GB). *dead host*: 148 items on a port
where nothing listens, default retries and backoff, with the circuit breaker (default 6 failures)
and without it (0).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

from _report import markdown_table, no_options, publish

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
MB = 1024 * 1024


def child(args: dict) -> None:
    """Fetch ``args['urls']`` with 8 workers; print the peak RSS growth, time and outcomes."""
    from iconodex.fetch.http import HttpClient
    from iconodex.fetch.images import ImageFetcher
    from iconodex.records import ImageRef

    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    with HttpClient(**args["client"]) as http:
        fetcher = ImageFetcher(http)
        before, started = peak(), time.monotonic()
        outcomes = [str(o) for _, o in fetcher.fetch_many([ImageRef("url", u) for u in args["urls"]], workers=8)]
    print(json.dumps({"grown_mb": (peak() - before) / MB, "seconds": time.monotonic() - started,
                      "failed": sum(1 for o in outcomes if "://" in o)}))


def run_case(urls: list[str], client: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps({"urls": urls, "client": client})],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout)


def main() -> None:
    args = no_options(__doc__)
    from _net import free_port
    from _servers_fetch import Reply, scripted_server

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(packer.compress(bytes(MB)) for _ in range(1024)) + packer.flush()
    rows = []
    with scripted_server() as server:
        endless = Reply(200, os.urandom(MB), endless=True)
        gzipped = Reply(200, bomb, headers={"Content-Encoding": "gzip"})
        urls = [server.route(f"/{i}.jpg", endless if i % 2 else gzipped) for i in range(16)]
        for label, budget in (("shared budget 128 MB (default)", 128 * MB), ("no budget", 100_000 * MB)):
            result = run_case(urls, {"retries": 0, "budget": budget})
            rows.append(("16 endless / gzip-bomb bodies", label, result["failed"], f"{result['seconds']:.1f}",
                         f"{result['grown_mb']:.0f}"))
    port = free_port()  # nothing listens there
    dead = [f"http://127.0.0.1:{port}/{i}.jpg" for i in range(148)]
    for label, limit in (("given up after 6 failures (default)", 6), ("never given up", 0)):
        result = run_case(dead, {"host_failures": limit})
        rows.append(("148 items on a dead host", label, result["failed"], f"{result['seconds']:.1f}",
                     f"{result['grown_mb']:.0f}"))
    body = ("Each case runs in a fresh process on loopback, 8 fetch workers, a 64 MB cap per body, default "
            "retries (3) and backoff. *grown* is how far the process's peak RSS rose during the fetches; the "
            "budget bounds the bodies being read at 8 × 1 MiB + 128 MB. Before the limits, issue 9 measured "
            "1.23 GB for the same 16 URLs, and 66 s for 148 items on a dead server.\n\n"
            + markdown_table(("case", "setting", "failed", "seconds", "peak RSS grown MB"), rows))
    publish("fetch-limits", "Fetching from hostile servers (bench_fetch_limits.py)", body, write=not args.no_write)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    else:
        main()
