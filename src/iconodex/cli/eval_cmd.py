"""iconodex eval -c COLL queries.jsonl [--compare OTHER_COLL ...] [--legs] [--alpha A] [--json]"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..collection import Collection
from ..errors import ConfigError
from ..evaluate import DEFAULT_KS, VARIANTS, EvalReport, Variant, evaluate, load_queries
from .options import collection_option, json_option, print_json


@click.command()
@click.argument("queries", type=click.Path(dir_okay=False))
@collection_option
@click.option("--compare", "others", multiple=True, type=click.Path(file_okay=False), metavar="COLL",
              help="Also evaluate these collections (e.g. the same source ingested with other models) "
                   "and print one row per collection. Repeatable.")
@click.option("--legs", is_flag=True,
              help="One row per way of ranking on the same queries: the picture leg, the catalogue leg, the "
                   "keyword leg alone, the plain-mean hybrid and the calibrated hybrid (the default).")
@click.option("--alpha", type=float, help="For queries without their own alpha: 0 = catalogue, 1 = picture.")
@click.option("--no-keyword", is_flag=True, help="Do not merge the keyword (full-text) leg.")
@click.option("-k", "ks", multiple=True, type=int, help=f"Cut-offs for recall@k (default {DEFAULT_KS}).")
@click.option("--show-skipped", default=5, show_default=True, help="How many skipped queries to list.")
@json_option
def command(queries: str, collection: str, others: tuple[str, ...], legs: bool, alpha: float | None,
            no_keyword: bool, ks: tuple[int, ...], show_skipped: int, as_json: bool) -> None:
    """Measure recall@k and MRR on a labelled set (JSONL: text|image|like + relevant ids)."""
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ConfigError("--alpha must be between 0 (catalogue only) and 1 (picture only)")
    labelled, bad = load_queries(queries)
    keyword = False if no_keyword else None
    variants = [_with_defaults(v, alpha, keyword) for v in VARIANTS] if legs else [Variant("", alpha, keyword)]
    reports = []
    for path in (collection, *others):
        with Collection.open(path, read_only=True) as coll:
            reports.extend(evaluate(coll, labelled, ks or DEFAULT_KS, skipped=bad, variant=variant)
                           for variant in variants)
    if as_json:
        print_json([report.to_dict() for report in reports] if len(reports) > 1 else reports[0].to_dict())
        return
    console = Console()
    console.print(_table(reports))
    _print_skipped(console, reports[0], show_skipped)


def _with_defaults(variant: Variant, alpha: float | None, keyword: bool | None) -> Variant:
    """A fusion variant takes --alpha / --no-keyword; a single leg keeps its own."""
    if variant.single_leg or variant.keyword_only:
        return variant
    return Variant(variant.name, alpha, keyword, variant.fusion)


def _table(reports: list[EvalReport]) -> Table:
    ks = list(reports[0].recall) or list(DEFAULT_KS)
    by_variant = any(report.variant for report in reports)
    table = Table("collection", "model", *(["ranking"] if by_variant else []), "queries",
                  *(f"recall@{k}" for k in ks), "MRR", box=None)
    for report in reports:
        cells = [f"{report.recall[k]:.3f}" if k in report.recall else "-" for k in ks]
        table.add_row(report.collection, report.model, *([report.variant] if by_variant else []),
                      str(report.queries), *cells, f"{report.mrr:.3f}")
    return table


def _print_skipped(console: Console, report: EvalReport, limit: int) -> None:
    if not report.skipped:
        return
    console.print(f"{len(report.skipped)} quer{'y' if len(report.skipped) == 1 else 'ies'} skipped:")
    for line, reason in report.skipped[:limit]:
        console.print(f"  line {line}: {reason}", markup=False)
