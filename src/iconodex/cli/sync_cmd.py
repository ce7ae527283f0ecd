"""iconodex sync -c COLL [--every 1h] [--full]"""

from __future__ import annotations

import sys
import time

import click

from ..collection import Collection
from ..ingest.sync import SyncBusy, parse_every, sync_lock, sync_sources
from .options import collection_option

BUSY_EXIT = 75  # EX_TEMPFAIL: a timer or cron sees "try later", not a failure


@click.command()
@collection_option
@click.option("--every", help="Run again every DURATION (90s, 15m, 1h, 1d) in the foreground, until stopped.")
@click.option("--full", is_flag=True, help="List every item this time (finds deletions on servers that "
                                           "cannot list ids only).")
@click.option("--source", "only", help="Only this source (its name as iconodex info shows it).")
def command(collection: str, every: str | None, full: bool, only: str | None) -> None:
    """Re-run every source of the collection: only what changed upstream is read, embedded and indexed."""
    interval = parse_every(every) if every else None
    while True:
        started = time.monotonic()
        status = _run_once(collection, full, only, stamp=interval is not None)
        if interval is None:
            sys.exit(status)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))


def _run_once(collection: str, full: bool, only: str | None, *, stamp: bool) -> int:
    """One sync under the lock; one line per source. Exit status: 0 ok, 1 a source had problems, 75 busy."""
    prefix = time.strftime("%Y-%m-%d %H:%M:%S ") if stamp else ""
    try:
        with Collection.open(collection) as coll, sync_lock(collection):
            runs = sync_sources(coll, full=full, only=only)
    except SyncBusy as exc:
        click.echo(f"{prefix}{exc}", err=True)
        return BUSY_EXIT
    for run in runs:
        click.echo(f"{prefix}{run.line()}", err=not run.ok)
    return 0 if all(run.ok for run in runs) else 1
