"""Retrieval quality on a labelled set: recall@k and MRR for queries whose relevant items are known.

A labelled set is JSON Lines, one query a line, in one of three forms::

    {"text": "a red lighthouse", "relevant": ["id1", "id2"]}
    {"image": "queries/boat.jpg", "relevant": ["id7"]}          # a path (relative to the file) or URL
    {"like": "id3", "relevant": ["id4", "id5"]}                 # more like an item already indexed

with optional ``"alpha"`` (0 catalogue … 1 picture) and ``"where"`` ({field: value(s)}) per query.

Metrics, over the queries that could be run:

* recall@k — the share of a query's relevant items found in its top k, out of ``min(k, |relevant|)``
  (so a query with 25 relevant items can still score 1.0 at k=5; with one relevant item it is the
  hit rate);
* MRR — the mean of 1/rank of the first relevant item in the top ``max(ks)`` (0 when none is).

A query that cannot be run (a malformed line, a missing picture, an unknown ``like`` id) is listed
in ``EvalReport.skipped`` with its line number and reason and does not stop the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, IconodexError, NotFoundError

if TYPE_CHECKING:
    from .collection import Collection

DEFAULT_KS = (1, 5, 10)
KINDS = ("text", "image", "like")


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of ranking: a single leg, or the legs fused one way (``iconodex eval --legs``)."""

    name: str
    alpha: float | None = None  # for queries without their own (None: the collection's default)
    keyword: bool | None = None
    single_leg: bool = False  # alpha 0 or 1 applies to every query, whatever alpha it sets
    fusion: str = "calibrated"
    keyword_only: bool = False


# The legs alone and both fusions, run on the same queries so their rows compare.
VARIANTS = (
    Variant("picture", alpha=1.0, keyword=False, single_leg=True),
    Variant("catalogue", alpha=0.0, keyword=False, single_leg=True),
    Variant("keyword", keyword_only=True),
    Variant("hybrid (mean)", fusion="mean"),
    Variant("hybrid (calibrated)"),
)


@dataclass(slots=True)
class EvalQuery:
    """One labelled query; exactly one of text / image / like is set."""

    relevant: list[str]
    text: str | None = None
    image: str | None = None
    like: str | None = None
    alpha: float | None = None
    where: dict[str, str | list[str]] | None = None
    line: int = 0

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)


@dataclass(slots=True)
class EvalReport:
    """Averages over the queries that ran, plus the ones that could not."""

    collection: str
    model: str
    variant: str = ""
    queries: int = 0
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "model": self.model, "variant": self.variant, "queries": self.queries,
                "recall": {f"@{k}": value for k, value in self.recall.items()}, "mrr": self.mrr,
                "by_kind": self.by_kind, "skipped": [{"line": line, "reason": why} for line, why in self.skipped]}


# -- reading a labelled set --------------------------------------------------------------------

def parse_query(data: Any, line: int, base: Path | None = None) -> EvalQuery:
    """One JSON object → an :class:`EvalQuery`; a :class:`ConfigError` says what is wrong with it."""
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object")
    given = [kind for kind in KINDS if data.get(kind) not in (None, "")]
    if len(given) != 1:
        raise ConfigError("give exactly one of text, image, like")
    relevant = data.get("relevant")
    if isinstance(relevant, str):
        relevant = [relevant]
    if not relevant or not isinstance(relevant, list) or not all(isinstance(r, str | int) for r in relevant):
        raise ConfigError("'relevant' must be a non-empty list of item ids")
    alpha = data.get("alpha")
    if alpha is not None and not isinstance(alpha, int | float):
        raise ConfigError("'alpha' must be a number between 0 and 1")
    where = data.get("where")
    if where is not None and not isinstance(where, dict):
        raise ConfigError("'where' must be an object of field: value(s)")
    query = EvalQuery(relevant=[str(r) for r in relevant], alpha=alpha, where=where, line=line)
    setattr(query, given[0], str(data[given[0]]))
    if query.image and base is not None and not query.image.startswith(("http://", "https://")):
        query.image = str((base / query.image).resolve()) if not Path(query.image).is_absolute() else query.image
    return query


def load_queries(path: str | Path) -> tuple[list[EvalQuery], list[tuple[int, str]]]:
    """The queries of a JSONL file, and (line, reason) for each line that is not a usable query."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"labelled set {path} does not exist")
    queries: list[EvalQuery] = []
    bad: list[tuple[int, str]] = []
    with path.open(encoding="utf-8") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            try:
                queries.append(parse_query(json.loads(raw), number, path.parent))
            except json.JSONDecodeError as err:
                bad.append((number, f"not JSON ({err.msg})"))
            except ConfigError as err:
                bad.append((number, str(err)))
    if not queries and not bad:
        raise ConfigError(f"labelled set {path} has no queries")
    if not queries:
        line, reason = bad[0]
        raise ConfigError(f"labelled set {path} has no usable query ({len(bad)} skipped; line {line}: {reason})")
    return queries, bad


# -- scoring -----------------------------------------------------------------------------------

def first_relevant_rank(ranked: Sequence[str], relevant: set[str]) -> int | None:
    """1-based rank of the first relevant id, or None."""
    return next((rank for rank, item in enumerate(ranked, start=1) if item in relevant), None)


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant.intersection(ranked[:k])) / min(k, len(relevant))


def evaluate(coll: Collection, queries: Iterable[EvalQuery], ks: Sequence[int] = DEFAULT_KS, *,
             alpha: float | None = None, keyword: bool | None = None,
             skipped: Sequence[tuple[int, str]] = (), variant: Variant | None = None) -> EvalReport:
    """Run every query against ``coll`` and average recall@k and MRR.

    ``alpha`` and ``keyword`` apply to queries that do not set their own alpha (the collection's
    defaults otherwise); a ``variant`` (one of :data:`VARIANTS`) overrides both. Item ids named in ``relevant`` that the collection does not hold still
    count: a labelled set that does not match the collection should score low, not look perfect.
    """
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ConfigError("k values must be positive integers")
    variant = variant or Variant("", alpha=alpha, keyword=keyword)
    report = EvalReport(collection=str(coll.path), model=coll.model_name, variant=variant.name,
                        skipped=list(skipped))
    sums = dict.fromkeys(ks, 0.0)
    reciprocal = 0.0
    for query in queries:
        try:
            ranked = _ranked_ids(coll, query, ks[-1], variant)
        except IconodexError as err:
            report.skipped.append((query.line, str(err)))
            continue
        relevant = set(query.relevant) - ({query.like} if query.like else set())
        if not relevant:
            report.skipped.append((query.line, "the only relevant item is the query item itself"))
            continue
        for k in ks:
            sums[k] += recall_at(ranked, relevant, k)
        rank = first_relevant_rank(ranked, relevant)
        reciprocal += 1.0 / rank if rank else 0.0
        report.queries += 1
        report.by_kind[query.kind] = report.by_kind.get(query.kind, 0) + 1
    if report.queries:
        report.recall = {k: sums[k] / report.queries for k in ks}
        report.mrr = reciprocal / report.queries
    return report


def _ranked_ids(coll: Collection, query: EvalQuery, limit: int, variant: Variant) -> list[str]:
    if variant.keyword_only:
        return _keyword_ids(coll, query, limit)
    alpha = variant.alpha if variant.single_leg or query.alpha is None else query.alpha
    results = coll.search(query.text, image=query.image, like=query.like, alpha=alpha,
                          keyword=variant.keyword, limit=limit, where=query.where, min_score=0,  # ranks, uncut
                          fusion=variant.fusion)
    return [result.id for result in results]


def _keyword_ids(coll: Collection, query: EvalQuery, limit: int) -> list[str]:
    """The keyword (full-text) leg alone; it ranks text queries only and ignores ``where``."""
    if query.text is None:
        raise ConfigError("the keyword leg ranks text queries only")
    keys = coll.store.keyword_search(query.text, limit)
    items = coll.store.get_many(keys)
    return [items[key].id for key in keys if key in items]


__all__ = ["DEFAULT_KS", "VARIANTS", "EvalQuery", "EvalReport", "Variant", "evaluate", "load_queries",
           "parse_query"]
