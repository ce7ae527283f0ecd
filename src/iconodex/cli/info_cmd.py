"""iconodex info -c COLL [--failures] [--json]; iconodex delete -c COLL ID…"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..collection import Collection
from .options import collection_option, json_option, print_json


@click.command()
@collection_option
@click.option("--failures", is_flag=True, help="List failed items with their reasons.")
@json_option
def command(collection: str, failures: bool, as_json: bool) -> None:
    """Items per stage, model, spaces, dims, sources and failures."""
    with Collection.open(collection, read_only=True) as coll:
        stats = coll.stats()
        failed = [{"id": i.id, "source": i.source, "reason": i.error} for i in coll.failures()] if failures else []
    if as_json:
        print_json({**stats, "failures": failed} if failures else stats)
        return
    console = Console()
    console.print(f"[bold]{stats['path']}[/]  model [cyan]{stats['model']}[/]  engine {stats['engine']}")
    stages = stats["stages"]
    console.print("items: " + ", ".join(f"{n} {stage}" for stage, n in stages.items()), highlight=False)
    table = Table("space", "dims", "indexed", "index", box=None)
    for name, space in stats["spaces"].items():
        state = space["index"] if space["index"] == "ok" else f"[red]{space['index']}[/] (iconodex repair)"
        table.add_row(name, str(space["dims"]), str(space["indexed"]), state)
    console.print(table)
    for source in stats["sources"]:
        console.print(f"source {source['kind']}: {source['spec']} (runs: {source['last_run']})", highlight=False)
    for row in failed:
        console.print(f"[red]failed[/] {row['id']}: {row['reason']}", highlight=False)


@click.command()
@click.argument("ids", nargs=-1, required=True)
@collection_option
def delete(ids: tuple[str, ...], collection: str) -> None:
    """Remove items from the collection and its index."""
    with Collection.open(collection) as coll:
        removed = coll.delete(list(ids))
    click.echo(f"{removed} removed")
