"""How wide an HNSW search walks (its expansion, ``ef``) by default: wide enough for recall@10 ≥ 0.95
at the index's size, and no wider.

The walk a query needs to find its true neighbours grows with the graph (about with log n): a fixed
expansion chosen at one size loses recall on a larger index and wastes time on a smaller one. So each
engine keeps a short table of measured points — (vectors in the index, the smallest expansion with
recall@10 ≥ 0.95 at that size, with a margin) — and :func:`search_expansion` reads it on log n: between
two points, the straight line between them; below the first, the first; past the last, the last step's
growth per decade of n continues (the one extrapolated part), up to ``CAP``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

Points = Sequence[tuple[int, int]]  # (vectors in the index, expansion), by increasing size
CAP = 1024  # the widest walk the rule asks for, whatever the size (10M usearch f32 extrapolates to 283)


def search_expansion(count: int, points: Points) -> int:
    """The expansion for an index of ``count`` vectors by the measured ``points``.

    Never below the first point's expansion; the library itself never walks narrower than the
    number of results asked for (``k``), so no ``k`` is needed here."""
    if count <= points[0][0] or len(points) == 1:
        return points[0][1]
    # the two points around ``count``; past the last one, the last two (their line, extended)
    at = min(bisect_right([size for size, _ in points], count), len(points) - 1)
    (low_n, low_ef), (high_n, high_ef) = points[at - 1], points[at]
    share = math.log(count / low_n) / math.log(high_n / low_n)
    return min(CAP, math.ceil(low_ef + share * (high_ef - low_ef)))
