"""iconodex ingest SOURCE -c COLL"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..collection import DB_NAME, Collection
from ..errors import IconodexError
from ..ingest.report import IngestReport
from ..sources import IMAGE_OPTION
from .new_collection import entries, remove_new_collection
from .options import collection_option, json_option, parse_pairs, print_json, quiet_option
from .output import console as output_console

SHOWN = 20  # failures listed one by one; `iconodex info --failures` lists them all


@click.command()
@click.argument("source")
@collection_option
@click.option("--source-type", help="Force the kind of source (folder, csv, omeka, iiif, sparql, captions, urls).")
@click.option("--model", help="Model for a new collection (default: offline). An existing one keeps its own.")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="Model setting for a new collection, e.g. variant=lite0 (offline: the faster, older network).")
@click.option("--dims", type=int, help="Keep the first N components of every vector (new collections).")
@click.option("--pca", type=int, help="Fit a PCA to N dims once, on the first items (new collections).")
@click.option("--engine", help="Vector engine for a new collection: usearch (default) or faiss (embedded), milvus or qdrant.")
@click.option("--engine-option", "engine_options", multiple=True, metavar="KEY=VALUE",
              help="Engine setting for a new collection, e.g. uri=http://milvus:19530 (milvus), url=http://qdrant:6333 (qdrant).")
@click.option("--text-template", help="Text embedded for each item, e.g. 'Titre: {title}' or '{title}. {dcterms:description}'.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Source option, repeatable (e.g. image_column=url, item_set=7, properties=dcterms:title).")
@click.option("--iiif-column", help="The column (CSV, captions) or SPARQL variable holding the image URL (default iiif_url).")
@click.option("--query", "sparql_query", help="SPARQL query text or .rq file (SPARQL sources).")
@click.option("--cluster", metavar="ADDRESS",
              help="Fetch and embed on the workers of a Dask cluster, e.g. tcp://scheduler:8786 (setting: cluster).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Override a setting (e.g. workers=16).")
@quiet_option
@json_option
def command(source: str, collection: str, source_type: str | None, model: str | None,
            model_options: tuple[str, ...], dims: int | None,
            pca: int | None, engine: str | None, engine_options: tuple[str, ...], text_template: str | None, options: tuple[str, ...],
            iiif_column: str | None, sparql_query: str | None, cluster: str | None, settings: tuple[str, ...],
            quiet: bool, as_json: bool) -> None:
    """Harvest SOURCE (a folder, a CSV, a URL…) into the collection; run again to resume or update."""
    opts = {k: v[-1] for k, v in parse_pairs(options, "--option").items()}
    if iiif_column:
        opts.setdefault(IMAGE_OPTION, iiif_column)  # the source's own option for it: a CSV column, a SPARQL variable
    if sparql_query:
        opts["query"] = sparql_query
    overrides = {k: v[-1] for k, v in parse_pairs(settings, "--set").items()}
    if cluster is not None:
        overrides["cluster"] = cluster
    engine_settings = {k: v[-1] for k, v in parse_pairs(engine_options, "--engine-option").items()}
    model_settings = {k: v[-1] for k, v in parse_pairs(model_options, "--model-option").items()}
    path = Path(collection)
    is_new, there_before = not (path / DB_NAME).exists(), entries(path)
    coll = Collection.open_or_create(path, model=model, model_options=model_settings or None,
                                     dims=dims, pca=pca, engine=engine,
                                     engine_options=engine_settings or None, text_template=text_template,
                                     settings=overrides)
    unused = False
    try:
        report = coll.ingest(source, source_type=source_type, options=opts, quiet=quiet or as_json)
    except IconodexError:
        unused = is_new and not any(coll.store.status_counts().values())
        raise
    finally:
        coll.close()
        if unused:
            remove_new_collection(path, there_before)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report, quiet)
    sys.exit(0 if report.ok else 1)


def _print_report(report: IngestReport, quiet: bool) -> None:
    """The counts; without --quiet each failure (20 at most of each); always a line per kind."""
    console = output_console(stderr=True)
    console.print(report.counts_line(), highlight=False)
    if not quiet:
        for label, problems in (("source failed", report.harvest.failed), ("failed", report.failed)):
            for where, reason in problems[:SHOWN]:
                console.print(f"  {label}: {where}: {reason}", highlight=False, markup=False, soft_wrap=True)
        hidden = max(0, len(report.failed) - SHOWN) + max(0, len(report.harvest.failed) - SHOWN)
        if hidden > 0:
            console.print(f"  … and {hidden} more: iconodex info --failures", highlight=False)
    for line in report.kind_lines():
        console.print(line, highlight=False, markup=False, soft_wrap=True)
