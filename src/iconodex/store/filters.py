"""A metadata filter (``field = any of values``, every field) over the ``fields`` index, asked only
what a search needs: whether it matches more than a few items, its keys when it does not, or
which of some candidates match. Reading every
matching key of a broad filter (60k rows for 60 % of 100k items) costs more than the search."""

from __future__ import annotations

import json
import sqlite3

import numpy as np


class KeyFilter:
    def __init__(self, conn: sqlite3.Connection, where: dict[str, list[str]]) -> None:
        self._conn = conn
        self._clauses: list[tuple[str, list[str]]] = []
        for name, values in where.items():
            marks = ",".join("?" * len(values))
            self._clauses.append((f"SELECT key FROM fields WHERE field = ? AND value IN ({marks})",
                                  [name.strip().lower(), *(value.strip().lower() for value in values)]))
        self._all = " INTERSECT ".join(sql for sql, _ in self._clauses)
        self._params = [param for _, params in self._clauses for param in params]

    def keys(self, limit: int | None = None) -> np.ndarray:
        """Matching keys (at most ``limit``), as one comma-separated string parsed by NumPy: ten
        times faster than a Python row per key (4 vs 47 ms for 15k keys on a busy machine)."""
        distinct = f"SELECT DISTINCT key FROM ({self._all})" + ("" if limit is None else f" LIMIT {int(limit)}")
        text = self._conn.execute(f"SELECT group_concat(key) FROM ({distinct})", self._params).fetchone()[0]
        return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)

    def count(self, limit: int | None = None) -> int:
        """How many items match, counted up to ``limit``; no rows are brought to Python."""
        capped = f"SELECT DISTINCT key FROM ({self._all})" + ("" if limit is None else f" LIMIT {int(limit)}")
        return int(self._conn.execute(f"SELECT count(*) FROM ({capped})", self._params).fetchone()[0])

    def mask(self, keys: np.ndarray) -> np.ndarray:
        """Which of ``keys`` match: one index probe per key and field."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) == 0:
            return np.zeros(0, dtype=bool)
        among = " AND key IN (SELECT value FROM json_each(?))"
        sql = " INTERSECT ".join(clause + among for clause, _ in self._clauses)
        listed = json.dumps(keys.tolist())
        params = [param for _, clause_params in self._clauses for param in [*clause_params, listed]]
        matching = np.fromiter((row[0] for row in self._conn.execute(sql, params)), dtype=np.int64)
        return np.isin(keys, matching)
