"""iconodex verify -c COLL [--json]; iconodex repair -c COLL [--all]

The ANN index is derived from the vectors in SQLite: ``verify`` checks each space's index file
(size, count, checksum) and its count against the store; ``repair`` rebuilds what is wrong."""

from __future__ import annotations

import sys

import click

from ..collection import Collection
from .options import collection_option, json_option, print_json


@click.command()
@collection_option
@json_option
def verify(collection: str, as_json: bool) -> None:
    """Check every space's index against its checksum and the store; exit 1 if any is unsound."""
    with Collection.open(collection, read_only=True) as coll:
        report = coll.index_report()
    if as_json:
        print_json(report)
    else:
        for space, row in report.items():
            state = row["problem"] or "ok"
            click.echo(f"{space}: {row['indexed']} indexed items, {_held(row['in_index'])} in the index: {state}")
    if any(row["problem"] for row in report.values()):
        if not as_json:
            click.echo(f"run: iconodex repair -c {collection}", err=True)
        sys.exit(1)


@click.command()
@collection_option
@click.option("--all", "rebuild_all", is_flag=True, help="Rebuild every space, not only unsound ones.")
def repair(collection: str, rebuild_all: bool) -> None:
    """Rebuild unsound index spaces from the vectors in the store (searches keep working meanwhile)."""
    with Collection.open(collection) as coll:
        rebuilt = coll.verify_index(rebuild_all=rebuild_all, quiet=False)
        counts = {space: coll.engine.count(space) for space in rebuilt}
    if not rebuilt:
        click.echo("index sound: nothing to repair")
    for space, count in counts.items():
        click.echo(f"rebuilt {space}: {count} vectors")


def _held(count: int | None) -> str:
    return "?" if count is None else str(count)
