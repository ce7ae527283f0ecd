"""iconodex eval -c COLL queries.jsonl [--compare OTHER_COLL ...] [--alpha A] [--json]"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..collection import Collection
from ..errors import ConfigError
from ..evaluate import DEFAULT_KS, EvalReport, evaluate, load_queries
from .options import collection_option, json_option, print_json


@click.command()
@click.argument("queries", type=click.Path(dir_okay=False))
@collection_option
@click.option("--compare", "others", multiple=True, type=click.Path(file_okay=False), metavar="COLL",
              help="Also evaluate these collections (e.g. the same source ingested with other models) "
                   "and print one row per collection. Repeatable.")
@click.option("--alpha", type=float, help="For queries without their own alpha: 0 = catalogue, 1 = picture.")
@click.option("--no-keyword", is_flag=True, help="Do not merge the keyword (full-text) leg.")
@click.option("-k", "ks", multiple=True, type=int, help=f"Cut-offs for recall@k (default {DEFAULT_KS}).")
@click.option("--show-skipped", default=5, show_default=True, help="How many skipped queries to list.")
@json_option
def command(queries: str, collection: str, others: tuple[str, ...], alpha: float | None, no_keyword: bool,
            ks: tuple[int, ...], show_skipped: int, as_json: bool) -> None:
    """Measure recall@k and MRR on a labelled set (JSONL: text|image|like + relevant ids)."""
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ConfigError("--alpha must be between 0 (catalogue only) and 1 (picture only)")
    labelled, bad = load_queries(queries)
    reports = []
    for path in (collection, *others):
        with Collection.open(path, read_only=True) as coll:
            reports.append(evaluate(coll, labelled, ks or DEFAULT_KS, alpha=alpha,
                                    keyword=False if no_keyword else None, skipped=bad))
    if as_json:
        print_json([report.to_dict() for report in reports] if others else reports[0].to_dict())
        return
    console = Console()
    console.print(_table(reports))
    _print_skipped(console, reports[0], show_skipped)


def _table(reports: list[EvalReport]) -> Table:
    ks = list(reports[0].recall) or list(DEFAULT_KS)
    table = Table("collection", "model", "queries", *(f"recall@{k}" for k in ks), "MRR", box=None)
    for report in reports:
        cells = [f"{report.recall[k]:.3f}" if k in report.recall else "-" for k in ks]
        table.add_row(report.collection, report.model, str(report.queries), *cells, f"{report.mrr:.3f}")
    return table


def _print_skipped(console: Console, report: EvalReport, limit: int) -> None:
    if not report.skipped:
        return
    console.print(f"{len(report.skipped)} quer{'y' if len(report.skipped) == 1 else 'ies'} skipped:")
    for line, reason in report.skipped[:limit]:
        console.print(f"  line {line}: {reason}", markup=False)
