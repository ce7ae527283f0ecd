"""``iconodex reindex``: move a collection to another vector engine without re-embedding."""

from __future__ import annotations

import click

from ..collection import Collection
from .options import collection_option, json_option, parse_pairs, print_json


@click.command("reindex")
@collection_option
@click.option("--engine", required=True, help="The engine to move to: usearch or faiss (embedded), milvus or qdrant.")
@click.option("--engine-option", "engine_options", multiple=True, metavar="KEY=VALUE",
              help="Engine setting, repeatable, e.g. uri=http://milvus:19530 (milvus) or url=http://qdrant:6333 "
                   "(qdrant); secrets are better given as MILVUS_TOKEN / QDRANT_API_KEY.")
@json_option
def command(collection: str, engine: str, engine_options: tuple[str, ...], as_json: bool) -> None:
    """Rebuild the collection's ANN index in ENGINE from the vectors in its store, then use that engine.

    The store holds every vector, so nothing is fetched or embedded again; the old index is left
    where it was (delete it by hand once the new engine answers)."""
    settings = {k: v[-1] for k, v in parse_pairs(engine_options, "--engine-option").items()}
    with Collection.open(collection) as coll:
        counts = coll.reindex(engine, settings, quiet=as_json)
    if as_json:
        print_json({"engine": engine, "spaces": counts})
        return
    spaces = ", ".join(f"{space} {count}" for space, count in sorted(counts.items())) or "no vectors"
    click.echo(f"reindexed into {engine}: {spaces}", err=True)
