"""iconodex map -c COLL [--refit] [--perplexity N] [--html map.html]"""

from __future__ import annotations

from pathlib import Path

import click

from ..collection import Collection
from .options import collection_option


@click.command()
@collection_option
@click.option("--refit", is_flag=True, help="Lay out every item anew (default: keep the map, place new items in it).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained map page that opens from disk.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed of the layout.")
@click.option("--perplexity", type=click.FloatRange(2, 200), default=None,
              help="Lay the map out anew with this neighbourhood size (default 10: nearest neighbours kept "
                   "together; 30 or more: the arrangement of groups). Implies --refit.")
def command(collection: str, refit: bool, html_path: Path | None, seed: int, perplexity: float | None) -> None:
    """Lay out the collection on a 2-D map where similar pictures sit together, with named clusters."""
    from ..map import PERPLEXITY, build_map
    from ..map_atlas import build_atlases

    with Collection.open(collection) as coll:
        report = build_map(coll, refit=refit or perplexity is not None, seed=seed, perplexity=perplexity or PERPLEXITY)
        drawn = build_atlases(coll)
        how = "new layout" if report.refitted else f"{report.kept} kept"
        click.echo(f"map: {report.placed} placed ({how}), {report.clusters} clusters, {drawn} atlas(es) drawn")
        if html_path is not None:
            from ..map_page import write_offline_map

            write_offline_map(coll, html_path)
            click.echo(f"wrote {html_path}")
