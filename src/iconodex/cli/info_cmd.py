"""iconodex info -c COLL [--failures] [--json]; iconodex delete -c COLL ID…"""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from ..collection import Collection
from .options import collection_option, json_option, print_json
from .output import console as output_console
from .output import print_table


@click.command()
@collection_option
@click.option("--failures", is_flag=True, help="List failed items, and what each source's last run could not "
              "read or skipped, with their reasons.")
@json_option
def command(collection: str, failures: bool, as_json: bool) -> None:
    """Items per stage, model, spaces, dims, sources and failures."""
    with Collection.open(collection, read_only=True) as coll:
        stats = coll.stats()
        failed = [{"id": i.id, "source": i.source, "reason": i.error} for i in coll.failures()] if failures else []
        problems = coll.source_problems() if failures else []
    if as_json:
        print_json({**stats, "failures": failed, "source_failures": problems} if failures else stats)
        return
    console = output_console()
    console.print(f"[bold]{escape(str(stats['path']))}[/]  model [cyan]{escape(_model_label(stats))}[/]  "
                  f"engine {stats['engine']}")
    stages = stats["stages"]
    console.print("items: " + ", ".join(f"{n} {stage}" for stage, n in stages.items()), highlight=False)
    print_table(("space", "dims", "indexed", "index"),
                [(name, str(space["dims"]), str(space["indexed"]), _index_state(space["index"]))
                 for name, space in stats["spaces"].items()])
    for source in stats["sources"]:
        # soft_wrap: a URL cut at the terminal's width cannot be copied back into a command
        console.print(f"source {source['kind']}: {source['spec']} (runs: {source['last_run']})", highlight=False,
                      markup=False, soft_wrap=True)
    for row in failed:
        console.print(f"[red]failed[/] {escape(row['id'])}: {escape(row['reason'])}", highlight=False)
    for row in problems:
        label = "source failed" if row["kind"] == "failed" else "skipped"
        console.print(f"{label} (run {row['run']} of {row['source']}) {row['location']}: {row['reason']}",
                      highlight=False, markup=False, soft_wrap=True)


@click.command()
@click.argument("ids", nargs=-1, required=True)
@collection_option
def delete(ids: tuple[str, ...], collection: str) -> None:
    """Remove items from the collection and its index; an id it does not hold sets the exit status 1."""
    with Collection.open(collection) as coll:
        unknown = [item_id for item_id in dict.fromkeys(ids) if coll.get(item_id) is None]
        removed = coll.delete(list(ids))
    click.echo(f"{removed} removed")
    if unknown:
        shown = ", ".join(repr(item_id) for item_id in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        click.echo(f"no such item: {shown} (ids as `iconodex search --json` shows them)", err=True)
        sys.exit(1)


def _index_state(state: str) -> str:
    return state if state == "ok" else f"{state} (iconodex repair)"


def _model_label(stats: dict) -> str:
    """The model's name, with the variant and version its identity records where it has them
    (``offline (lite2, version 3)``): two offline collections may hold different vectors."""
    identity = stats.get("identity") or {}
    details = [str(identity["variant"])] if identity.get("variant") else []
    if details and identity.get("version") is not None:
        details.append(f"version {identity['version']}")
    return f"{stats['model']} ({', '.join(details)})" if details else str(stats["model"])
