"""iconodex demo"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .. import demo
from .output import console as output_console
from .output import print_table


@click.command()
@click.option("--dir", "directory", default="demo-collection", show_default=True, type=click.Path(file_okay=False),
              help="Where the demo pictures and collection go.")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the search page afterwards.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def command(directory: str, serve: bool, host: str, port: int, quiet: bool) -> None:
    """Build a demo collection from sample pictures (no network) and answer sample queries."""
    console = output_console()
    coll = demo.build(Path(directory), quiet=quiet)
    stats = coll.stats()
    console.print(f"[bold]{stats['indexed']} pictures indexed[/] in {escape(str(coll.path))} "
                  f"with model [cyan]{escape(coll.model_name)}[/]")
    for label, results in demo.sample_answers(coll):
        rows = [(f"{result.score:.3f}", result.id, result.title) for result in results]
        if rows:
            print_table(("score", "id", "title"), rows, title=f"search {label}")
        else:
            console.print(f"search {label}: no good match", markup=False)
    if serve:
        from ..serve import ServeSettings, run_server

        console.print(f"Search page: http://{host}:{port}/  (Ctrl+C to stop)")
        run_server(coll, ServeSettings.from_env(), host=host, port=port)
    coll.close()
