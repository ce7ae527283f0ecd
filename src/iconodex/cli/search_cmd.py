"""iconodex search -c COLL "text" | --image FILE|URL | --like ID"""

from __future__ import annotations

import click

from ..collection import Collection
from ..errors import ConfigError
from ..search import SearchResult, SearchResults
from .options import collection_option, parse_pairs, print_json
from .output import console, print_table, tsv_line

FORMATS = ("table", "paths", "tsv", "json")


@click.command()
@click.argument("text", required=False)
@collection_option
@click.option("--image", help="Search by a picture: a file path or an image URL.")
@click.option("--like", help="More like this item id (the item itself is excluded).")
@click.option("--alpha", type=float, help="0 = catalogue text only, 1 = picture only (default 0.5).")
@click.option("--no-keyword", is_flag=True, help="Do not merge the keyword (full-text) leg.")
@click.option("--limit", default=10, show_default=True, type=int)
@click.option("--offset", default=0, show_default=True, type=int)
@click.option("--min-score", type=float,
              help="Drop results scoring below this (default for text: the model's measured cut; 0: no cut).")
@click.option("--where", multiple=True, metavar="FIELD=VALUE", help="Filter on metadata, repeatable.")
@click.option("-f", "--format", "output", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table; paths: the picture's path or URL (else the id), one a line; tsv: with a header; json.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def command(text: str | None, collection: str, image: str | None, like: str | None, alpha: float | None,
            no_keyword: bool, limit: int, offset: int, min_score: float | None, where: tuple[str, ...],
            output: str, as_json: bool) -> None:
    """Find pictures by a description (any language), a picture, or an item."""
    if not (text or image or like):
        raise ConfigError("give a text, --image or --like")
    with Collection.open(collection, read_only=True) as coll:
        results = coll.search(text, image=image, like=like, alpha=alpha, keyword=False if no_keyword else None,
                              limit=limit, offset=offset, min_score=min_score,
                              where=parse_pairs(where, "--where") or None)
    PRINTERS["json" if as_json else output](results)


COLUMNS = ("score", "id", "title", "image")


def _cells(result: SearchResult) -> list[str]:
    return [f"{result.score:.3f}", result.id, result.title, result.image or ""]


def _print_table(results: SearchResults[SearchResult]) -> None:
    if results:
        print_table(COLUMNS, [_cells(result) for result in results])
    elif results.no_good_match:
        console().print(f"no good match: nothing scored {results.min_score:g} or more "
                        "(--min-score 0 lists the closest anyway)", markup=False)
    else:
        console().print("no results")


def _print_paths(results: list[SearchResult]) -> None:
    for result in results:
        click.echo(result.image or result.id)


def _print_tsv(results: list[SearchResult]) -> None:
    for cells in (COLUMNS, *(_cells(result) for result in results)):
        click.echo(tsv_line(cells))


def _print_json(results: list[SearchResult]) -> None:
    print_json([result.to_dict() for result in results])


PRINTERS = {"table": _print_table, "paths": _print_paths, "tsv": _print_tsv, "json": _print_json}
