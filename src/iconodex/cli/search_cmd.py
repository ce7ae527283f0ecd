"""iconodex search -c COLL "text" | --image FILE|URL | --like ID"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..collection import Collection
from ..errors import ConfigError
from .options import collection_option, json_option, parse_pairs, print_json


@click.command()
@click.argument("text", required=False)
@collection_option
@click.option("--image", help="Search by a picture: a file path or an image URL.")
@click.option("--like", help="More like this item id (the item itself is excluded).")
@click.option("--alpha", type=float, help="0 = catalogue text only, 1 = picture only (default 0.5).")
@click.option("--no-keyword", is_flag=True, help="Do not merge the keyword (full-text) leg.")
@click.option("--limit", default=10, show_default=True, type=int)
@click.option("--offset", default=0, show_default=True, type=int)
@click.option("--min-score", type=float, help="Drop results scoring below this.")
@click.option("--where", multiple=True, metavar="FIELD=VALUE", help="Filter on metadata, repeatable.")
@json_option
def command(text: str | None, collection: str, image: str | None, like: str | None, alpha: float | None,
            no_keyword: bool, limit: int, offset: int, min_score: float | None, where: tuple[str, ...],
            as_json: bool) -> None:
    """Find pictures by a description (any language), a picture, or an item."""
    if not (text or image or like):
        raise ConfigError("give a text, --image or --like")
    with Collection.open(collection, read_only=True) as coll:
        results = coll.search(text, image=image, like=like, alpha=alpha, keyword=False if no_keyword else None,
                              limit=limit, offset=offset, min_score=min_score,
                              where=parse_pairs(where, "--where") or None)
    if as_json:
        print_json([result.to_dict() for result in results])
        return
    table = Table("score", "id", "title", "image", box=None)
    for result in results:
        table.add_row(f"{result.score:.3f}", result.id, result.title[:60], result.image or "")
    Console().print(table if results else "no results")
