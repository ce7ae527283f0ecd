"""iconodex export / import / neighbours / preview / duplicates: interoperating with the seeds' files."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

import click

from ..collection import MAX_NEIGHBOURS, Collection
from ..errors import ConfigError
from ..progress import counted, stages
from .new_collection import entries, remove_new_collection
from .options import collection_option, json_option, print_json

FORMAT_NAMES = ("uform-hf", "hdf5", "onit-jsonl", "sari-npy")
format_argument = click.argument("format_name", metavar="FORMAT", type=click.Choice(FORMAT_NAMES))
batch_option = click.option("--batch", default=4096, show_default=True, type=click.IntRange(1),
                            help="Rows read or written at a time (memory stays flat).")


def _say(report: dict, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    click.echo(f"{verb} {report['items']} item(s) as {report['format']}{_skipped_text(report.get('skipped'))}")


def _skipped_text(skipped: list | None) -> str:
    return f"; {len(skipped)} skipped, e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else ""


@click.command()
@format_argument
@click.argument("dest", type=click.Path(dir_okay=True))
@collection_option
@click.option("--space", help="Vector space to write (default: 'image' when present, else the visual space).")
@click.option("--image-space", default="image", show_default=True, help="uform-hf: the picture space.")
@click.option("--text-space", default="text", show_default=True, help="uform-hf: the text space.")
@batch_option
@json_option
def export(format_name: str, dest: str, collection: str, space: str | None, image_space: str, text_space: str,
           batch: int, as_json: bool) -> None:
    """Write the collection as FORMAT to DEST (a folder for uform-hf and sari-npy, else a file)."""
    from ..formats import FORMATS

    with Collection.open(collection, read_only=True) as coll, stages(as_json) as progress:
        progress.start("export", total=coll.store.status_counts()["indexed"])
        report = FORMATS.get(format_name).export(coll, Path(dest), space=space, image_space=image_space,
                                                 text_space=text_space, batch=batch,
                                                 advance=lambda n: progress.advance("export", n))
        progress.finish("export")
    _say(report.to_dict() | {"files": report.files}, "exported", as_json)


@click.command("import")
@format_argument
@click.argument("src", type=click.Path(exists=True))
@collection_option
@click.option("--model", help="Model that made the vectors (for text and picture queries); "
                              "default: recorded in the files, else the seed's model.")
@click.option("--space", help="Space to put the vectors in (hdf5/sari-npy: image, onit-jsonl: visual).")
@batch_option
@json_option
def import_(format_name: str, src: str, collection: str, model: str | None, space: str | None, batch: int,
            as_json: bool) -> None:
    """Make a new collection from FORMAT files at SRC, without re-embedding anything."""
    from ..formats import FORMATS

    options = {"model": model, "batch": batch} | ({"space": space} if space else {})
    there_before = entries(Path(collection))
    with stages(as_json) as progress:
        progress.start("import")
        coll, report = FORMATS.get(format_name).import_(Path(src), Path(collection), **options,
                                                        advance=lambda n: progress.advance("import", n))
        progress.finish("import")
    coll.close()
    if not report.items:
        remove_new_collection(Path(collection), there_before)
        raise ConfigError(f"nothing imported from {src}{_skipped_text(report.skipped)}")
    _say(report.to_dict(), "imported", as_json)


@click.command()
@collection_option
@click.option("--ids", "ids_file", type=click.File("r"), help="File of item ids, one a line ('-': stdin).")
@click.option("--all", "every", is_flag=True, help="Every indexed item (streamed).")
@click.option("--k", default=50, show_default=True, type=click.IntRange(1, MAX_NEIGHBOURS), help="Neighbours per item.")
@click.option("--space", help="Vector space (default: the collection's visual space).")
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(dir_okay=False),
              help="JSON file to write ('-': stdout).")
@click.option("--batch", default=256, show_default=True, type=click.IntRange(1), help="References per ANN batch.")
def neighbours(collection: str, ids_file, every: bool, k: int, space: str | None, output: str, batch: int) -> None:
    """Each reference's k nearest pictures with scores, in ONiT's neighbours.json shape."""
    from ..neighbours import all_ids, neighbour_entries, write_json_array

    if bool(ids_file) == every:
        raise ConfigError("give either --ids FILE (or - for stdin) or --all")
    missing: list[str] = []
    with Collection.open(collection, read_only=True) as coll, stages() as progress:
        ids = all_ids(coll) if every else ids_file
        progress.start("neighbours", total=coll.store.status_counts()["indexed"] if every else None)
        entries = neighbour_entries(coll, ids, k=k, space=space, batch=batch, missing=missing)
        target = nullcontext(sys.stdout) if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
        with target as out:
            count = write_json_array(counted(entries, lambda n: progress.advance("neighbours", n)), out)
        progress.finish("neighbours")
    if output != "-":
        click.echo(f"{count} reference(s) written to {output}", err=True)
    if missing:
        click.echo(f"{len(missing)} id(s) unknown or not indexed, e.g. {missing[0]!r}", err=True)


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--embed", is_flag=True, help="Inline remote pictures too (the page then needs no network).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N references.")
@click.option("--title", help="Page title (default: the JSON file's name).")
def preview(source: str, output: str, embed: bool, limit: int | None, title: str | None) -> None:
    """A self-contained HTML page of a neighbours.json: references, neighbour thumbnails, scores."""
    from ..preview import write_preview

    rows = write_preview(Path(source), Path(output), embed=embed, limit=limit, title=title)
    click.echo(f"{rows} row(s) written to {output}")


@click.command()
@collection_option
@click.option("--hash-distance", default=None, type=click.IntRange(0, 32),
              help="Max differing pHash bits of 64 (default: 10).")
@click.option("--min-score", default=None, type=click.FloatRange(0, 1),
              help="Min cosine similarity in the visual space (default: measured per model, 0.90 offline).")
@click.option("--no-hash", is_flag=True, help="Skip the perceptual-hash leg (no picture is read).")
@click.option("--no-embedding", is_flag=True, help="Skip the embedding leg.")
@click.option("--space", help="Vector space of the embedding leg (default: the visual space).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the groups as JSON here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write an HTML preview of the groups.")
@click.option("--embed", is_flag=True, help="HTML: inline remote pictures too.")
@json_option
def duplicates(collection: str, hash_distance: int | None, min_score: float | None, no_hash: bool,
               no_embedding: bool, space: str | None, output: str | None, html_path: str | None, embed: bool,
               as_json: bool) -> None:
    """Group near-identical pictures: copies, re-encodes, crops (pHash) and re-photographs (vectors)."""
    import json

    from ..duplicates import HASH_DISTANCE, MEASURED, find_duplicates
    from ..preview import render

    with Collection.open(collection) as coll:
        report = find_duplicates(
            coll, space=space,
            hash_distance=None if no_hash else (HASH_DISTANCE if hash_distance is None else hash_distance),
            min_score=None if no_embedding else (MEASURED if min_score is None else min_score))
    groups = report.to_json()
    if output:
        Path(output).write_text(json.dumps(groups, ensure_ascii=False, indent=2), encoding="utf-8")
    if html_path:
        Path(html_path).write_text(render(report.as_neighbours(), title="Near-duplicates", embed=embed),
                                   encoding="utf-8")
    if as_json:
        print_json(groups)
        return
    click.echo(f"{len(groups)} group(s) of near-duplicates among {report.hashed} hashed picture(s)"
               + (f"; {len(report.failed)} picture(s) unreadable" if report.failed else ""))
    for group in groups[:20]:
        click.echo(f"  {group['size']}: " + ", ".join(item["id"] for item in group["items"][:6]))
