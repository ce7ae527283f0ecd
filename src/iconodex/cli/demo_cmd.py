"""iconodex demo"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .. import demo


@click.command()
@click.option("--dir", "directory", default="demo-collection", show_default=True, type=click.Path(file_okay=False),
              help="Where the demo pictures and collection go.")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the search page afterwards.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def command(directory: str, serve: bool, host: str, port: int, quiet: bool) -> None:
    """Build a demo collection from sample pictures (no network) and answer sample queries."""
    console = Console()
    coll = demo.build(Path(directory), quiet=quiet)
    stats = coll.stats()
    console.print(f"[bold]{stats['indexed']} pictures indexed[/] in {coll.path} with model [cyan]{coll.model_name}[/]")
    for label, results in demo.sample_answers(coll):
        table = Table("score", "id", "title", title=f"search {label}", title_justify="left", box=None)
        for result in results:
            table.add_row(f"{result.score:.3f}", result.id, result.title)
        console.print(table)
    if serve:
        from ..serve import ServeSettings, run_server

        console.print(f"Search page: http://{host}:{port}/  (Ctrl+C to stop)")
        run_server(coll, ServeSettings.from_env(), host=host, port=port)
    coll.close()
