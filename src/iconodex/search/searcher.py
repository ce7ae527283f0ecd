"""Turning a query (text, picture, or an existing item) into ranked results."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ConfigError, NotFoundError
from ..index.base import VectorEngine
from ..models.base import Encoder
from ..store import ItemStore
from ..store.filters import KeyFilter
from .hybrid import (
    FUSIONS,
    Leg,
    LegScale,
    Walks,
    filtered_walk,
    leg_similarities,
    pooled,
    reciprocal_rank_fusion,
    walk,
    walk_scores_exact,
)
from .results import SearchResult, SearchResults

MAX_QUERY_CHARS = 1000
MIN_CANDIDATES = 50
MAX_CANDIDATES = 2000
# A fused ranking draws on this many candidates per result shown (at least MIN_CANDIDATES). Pools
# of 2 and 4 per result gave the same text-query recall at 1, 10 and 20 on the calibration split,
# and 2 the better more-like-this precision (bench_pool_depth.py); a shallower walk costs less.
POOL_PER_RESULT = 2
# An f16 or i8 index only proposes candidates, rescored from exact vectors: its recall was measured
# (bench_hnsw.py, and the expansion tables built on it) with 4 rescored per result.
RESCORED_POOL_PER_RESULT = 4
TEXT_CACHE_SIZE = 1024
# A filter matching at most this many items is scored exactly (gathering their vectors costs less
# than an ANN walk as deep as their share implies); a broader one goes through the index. Tuned on
# bench_filtered.py: at 100k items a 9 % filter took 4.1 ms through the index, 9.2 ms scored exactly.
EXACT_FILTER_BELOW = 5_000


@dataclass(slots=True)
class Query:
    text: str | None = None
    image: object | None = None  # a decoded PIL image
    like: str | None = None
    alpha: float = 0.5
    keyword: bool = True
    limit: int = 10
    offset: int = 0
    min_score: float | None = None
    # The model's default cut measures how well the picture and the text vector match; an item whose
    # catalogue contains the query's words is relevant whatever that says, so the default spares it.
    cut_spares_keyword_matches: bool = False
    where: dict[str, list[str]] | None = None
    fusion: str = "calibrated"  # see search.hybrid.FUSIONS


class Searcher:
    """Builds the legs of a query, gathers candidates, scores them in every leg, ranks."""

    def __init__(self, store: ItemStore, engine: VectorEngine, model: Callable[[], Encoder],
                 project: Callable[[str, np.ndarray], np.ndarray], similar_space: str, max_limit: int,
                 scales: Mapping[str, LegScale] | None = None) -> None:
        self.store = store
        self.engine = engine
        self._model = model
        self._project = project
        self.similar_space = similar_space
        self.max_limit = max_limit
        self.exact_filter_below: int | None = EXACT_FILTER_BELOW  # None: read every allowed key
        self.scales = scales  # the model's measured leg scales, for the calibrated fusion
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def search(self, query: Query) -> SearchResults:
        self._validate(query)
        # One freshness check of the index files for the whole search, not one per engine call.
        with getattr(self.engine, "reading", nullcontext)():
            return self._search(query)

    def _search(self, query: Query) -> SearchResults:
        exclude: set[int] = set()
        legs = self._legs(query, exclude)
        key_filter = self.store.key_filter(query.where) if query.where else None
        lone = self._ranked_by_its_walk(legs, key_filter, query)
        k = self._candidate_count(query.limit + query.offset + len(exclude), legs, lone)
        walks = self._walks(legs, k, key_filter)
        keyword_ranking = self._keyword_ranking(query, k, key_filter)
        keys, sims = self._walk_order(walks, lone, exclude) if lone else \
            self._pool(legs, walks, keyword_ranking, exclude)
        if len(keys) == 0:
            return SearchResults([], query.min_score)
        # No leg at all (no item has a vector in the query's spaces): nothing has a score to rank by.
        scores = FUSIONS[query.fusion](legs, sims, self.scales) if legs else np.full(len(keys), np.nan, dtype=np.float32)
        order = self._rank(keys, scores, keyword_ranking)
        ranked = len(order)
        if query.min_score is not None:
            spared = set(keyword_ranking) if query.cut_spares_keyword_matches else set()
            shown = _rounded(scores)  # the cut reads scores as they are shown: a shown score kept as a cut keeps its item
            order = [i for i in order if shown[i] >= query.min_score or int(keys[i]) in spared]
        page = order[query.offset: query.offset + query.limit]
        return SearchResults(self._results(keys, scores, sims, legs, page, keyword_ranking), query.min_score,
                             ranked - len(order))

    # -- steps --------------------------------------------------------------------------------

    def _validate(self, query: Query) -> None:
        if query.text is not None and not isinstance(query.text, str):
            raise ConfigError(f"the text to search for is a string, not {type(query.text).__name__}; "
                              f"search(image=…) or search(like=…) for the others")
        if query.text is not None and len(query.text) > MAX_QUERY_CHARS:
            raise ConfigError(f"query is {len(query.text)} characters; the limit is {MAX_QUERY_CHARS}")
        if query.text is not None and not query.text.strip():
            query.text = None
        if query.text is None and query.image is None and query.like is None:
            raise ConfigError("nothing to search for: give a text, an image or an item id (--like)")
        if not 1 <= query.limit <= self.max_limit:
            raise ConfigError(f"limit must be between 1 and {self.max_limit}")
        if query.offset < 0:
            raise ConfigError("offset must not be negative")
        if query.min_score is not None and not math.isfinite(query.min_score):
            raise ConfigError(f"min_score must be a finite number, not {query.min_score}")
        if not 0.0 <= query.alpha <= 1.0:
            raise ConfigError("alpha must be between 0 (catalogue only) and 1 (picture only)")
        if query.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {query.fusion!r}; choose one of {', '.join(FUSIONS)}")

    def _legs(self, query: Query, exclude: set[int]) -> list[Leg]:
        spaces = self.engine.spaces()
        groups: list[list[Leg]] = []
        if query.text is not None:
            vector = self._text_vector(query.text)
            groups.append(self._pair("text-query", "image", vector, "text", vector, query.alpha))
        if query.image is not None:
            found = {space: matrix[0] for space, matrix in self._model().embed_images([query.image]).items()}
            shared = found.get("image", found[self.similar_space])
            groups.append(self._pair("image-query", self.similar_space, found[self.similar_space],
                                     "text", shared, query.alpha))
        if query.like is not None:
            groups.append(self._like_legs(query, exclude, spaces))
        share = 1.0 / len(groups)
        legs = [replace(leg, weight=leg.weight * share) for group in groups for leg in group]
        return [leg for leg in legs if leg.space in spaces and leg.weight > 0]

    def _text_vector(self, text: str) -> np.ndarray:
        """Encode a text query; popular queries (a page's suggestions, a load test) are cached."""
        with self._cache_lock:
            cached = self._text_cache.get(text)
            if cached is not None:
                self._text_cache.move_to_end(text)
                return cached
        vector = self._model().embed_texts([text], query=True)[0]
        with self._cache_lock:
            self._text_cache[text] = vector
            if len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        return vector

    def _pair(self, name: str, picture_space: str, picture_vector: np.ndarray,
              text_space: str, text_vector: np.ndarray, alpha: float) -> list[Leg]:
        return [Leg(f"{name}:{picture_space}", picture_space, self._project(picture_space, picture_vector), alpha),
                Leg(f"{name}:{text_space}", text_space, self._project(text_space, text_vector), 1.0 - alpha)]

    def _like_legs(self, query: Query, exclude: set[int], spaces: dict[str, int]) -> list[Leg]:
        keys = self.store.keys_for_ids([query.like])
        if query.like not in keys:
            raise NotFoundError(f"no item with id {query.like!r} in this collection")
        key = keys[query.like]
        exclude.add(key)
        legs = []
        weighted_first = sorted(((self.similar_space, query.alpha), ("text", 1.0 - query.alpha)), key=lambda sw: sw[1] <= 0)
        for space, weight in weighted_first:
            if space not in spaces or (weight <= 0 and legs):  # read only to tell "no vectors" from "weightless"
                continue
            vectors, present = self.engine.get(space, np.asarray([key]))
            if present[0]:
                legs.append(Leg(f"like:{space}", space, vectors[0], weight))
        if not legs:
            raise NotFoundError(f"item {query.like!r} has no vectors yet (status: not indexed)")
        return self._walked_once(legs)

    def _walked_once(self, legs: list[Leg]) -> list[Leg]:
        """A like query's legs start from one item, and its catalogue leg's walk alone finds the
        candidates: on Open Clip Art it found more right drawings than both walks together at every
        alpha below 1 (P@10 0.707 against 0.659 at 0.5, 0.647 against 0.496 at 0.7), the picture leg
        scoring them. Only where the catalogue space holds fewer vectors than the picture space
        (items without catalogue text, which its walk cannot reach) does every leg walk."""
        catalogue = next((leg for leg in legs if leg.space == "text" and leg.weight > 0), None)
        if catalogue is None or len(legs) < 2:
            return legs
        reach = self.engine.count(catalogue.space)
        if any(self.engine.count(leg.space) > reach for leg in legs if leg is not catalogue):
            return legs
        return [replace(leg, walked=leg is catalogue) for leg in legs]

    def _ranked_by_its_walk(self, legs: list[Leg], key_filter: KeyFilter | None, query: Query) -> Leg | None:
        """The one exact leg of a query with nothing to fuse, filter or merge: its walk's order is
        the ranking and its walk's similarities are the scores."""
        if len(legs) != 1 or key_filter is not None or (query.keyword and query.text):
            return None
        return legs[0] if walk_scores_exact(self.engine, legs[0].space) else None

    def _candidate_count(self, want: int, legs: list[Leg], lone: Leg | None) -> int:
        """How deep each leg walks. Legs re-score each other's candidates, the keyword leg re-ranks
        them, and a rounded index's candidates are rescored, so those draw on more than the page; a
        leg ranked by its walk needs only the page."""
        if lone is not None:
            return min(want, MAX_CANDIDATES)
        rounded = any(not walk_scores_exact(self.engine, leg.space) for leg in legs if leg.walked)
        per_result = RESCORED_POOL_PER_RESULT if rounded else POOL_PER_RESULT
        return int(min(max(want * per_result, MIN_CANDIDATES), MAX_CANDIDATES))

    @staticmethod
    def _walk_order(walks: Walks, lone: Leg, exclude: set[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A lone leg's candidates as its walk found them, best first (no pooling, nothing read)."""
        keys, sims = walks[lone.name]
        keep = np.ones(len(keys), dtype=bool)
        for key in exclude:
            keep &= keys != key
        return keys[keep].astype(np.int64, copy=False), {lone.name: sims[keep]}

    def _pool(self, legs: list[Leg], walks: Walks, keyword_ranking: list[int],
              exclude: set[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Every leg's and the keyword leg's candidates, each scored in every leg."""
        keys = pooled(walks)
        if keyword_ranking:
            keys = np.union1d(keys, np.asarray(keyword_ranking, dtype=np.int64))
        for key in exclude:  # the like item: one comparison costs less than np.isin's set-up
            keys = keys[keys != key]
        return keys, leg_similarities(self.engine, legs, keys, walks) if len(keys) else {}

    def _walks(self, legs: list[Leg], k: int, key_filter: KeyFilter | None) -> Walks:
        """A narrow filter's keys are scored exactly; a broad one's are found in the ANN index,
        SQLite checking only the candidates (reading 60k matching keys costs more than the search)."""
        if key_filter is None:
            return walk(self.engine, legs, k, None)
        narrow = self.exact_filter_below
        if narrow is None or key_filter.count(limit=narrow + 1) <= narrow:
            allowed = key_filter.keys()
            return walk(self.engine, legs, k, allowed) if len(allowed) else {}
        known = key_filter.cached_count()
        return filtered_walk(self.engine, legs, k, key_filter.mask, known or narrow + 1, exactly=known is not None)

    def _keyword_ranking(self, query: Query, k: int, key_filter: KeyFilter | None) -> list[int]:
        if not (query.keyword and query.text):
            return []
        ranking = self.store.keyword_search(query.text, k)
        if key_filter is not None and ranking:
            keep = key_filter.mask(np.asarray(ranking, dtype=np.int64))
            ranking = [key for key, kept in zip(ranking, keep.tolist(), strict=True) if kept]
        return ranking

    @staticmethod
    def _rank(keys: np.ndarray, scores: np.ndarray, keyword_ranking: list[int]) -> list[int]:
        valid = np.flatnonzero(~np.isnan(scores))
        by_score = valid[np.argsort(-scores[valid], kind="stable")]
        if not keyword_ranking:
            return by_score.tolist()
        position = {int(key): i for i, key in enumerate(keys)}
        keyword_positions = [position[key] for key in keyword_ranking if key in position]
        fused = reciprocal_rank_fusion([by_score.tolist(), keyword_positions], [1.0, 1.0])
        return sorted((i for i in fused if not np.isnan(scores[i])), key=lambda i: (-fused[i], -scores[i]))

    def _results(self, keys: np.ndarray, scores: np.ndarray, sims: dict[str, np.ndarray], legs: list[Leg],
                 page: list[int], keyword_ranking: list[int]) -> list[SearchResult]:
        rows = np.asarray(page, dtype=np.int64)
        page_keys = keys[rows].tolist()
        items = self.store.get_many(page_keys)
        keyword_rank = {key: rank + 1 for rank, key in enumerate(keyword_ranking)}
        # Rounded as whole columns: one NumPy call per leg, not one Python round() per score.
        page_scores = _rounded(scores[rows])
        page_sims = {leg.name: _rounded(sims[leg.name][rows]) for leg in legs}
        results = []
        for row, key in enumerate(page_keys):
            item = items.get(key)
            if item is None:  # deleted between ranking and reading
                continue
            leg_scores = {name: column[row] for name, column in page_sims.items() if column[row] == column[row]}
            if key in keyword_rank:
                leg_scores["keyword_rank"] = keyword_rank[key]
            results.append(SearchResult(
                id=item.id, key=key, score=page_scores[row], title=item.title,
                image=item.image_location, source=item.source, metadata=item.metadata,
                links=item.links, scores=leg_scores, image_ref=item.image))
        return results


def _rounded(values: np.ndarray) -> list[float]:
    """Scores as the API shows them: six decimals (NaN stays NaN: a leg without a vector for the item)."""
    return np.round(values.astype(np.float64), 6).tolist()
