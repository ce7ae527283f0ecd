"""SQLite (WAL) item store: items, metadata, keyword index, per-stage status and vectors.

SQLite is the source of truth; the ANN index is derived from the ``vectors`` table and can be
caught up or rebuilt at any time, which is what makes ingest resumable after a kill -9.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..ranking import fused_ranking
from ..records import SourceRecord
from ..redact import public_options, public_text
from .codec import blob_to_vector, dumps, image_to_json, vector_to_blob
from .filters import FilterCache, KeyFilter
from .items import ITEM_COLUMNS, Item
from .migrations import GRAMS_VERSION, upgrade, write_grams
from .text import field_rows, fts_body, gram_match, keyword_match

log = logging.getLogger(__name__)
SELECTED_COLUMNS = ", ".join(ITEM_COLUMNS)

@dataclass(slots=True)
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    retried: int = 0  # failed last time, unchanged since: tried again


@dataclass(slots=True)
class WorkItem:
    """An item the embed stage must (re)process."""

    key: int
    id: str
    item: Item
    need_image: bool
    need_text: bool


class ItemStore:
    """All SQL lives here. One connection per thread (SQLite connections are not shareable)."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._local = threading.local()
        self._grams_present: bool | None = None
        self._generation = 0
        self._generation_lock = threading.Lock()
        self.filter_cache = FilterCache()  # shared by this store's threads
        try:
            self._open()
        except sqlite3.OperationalError as exc:  # locked, no access, a disk error: the file itself may be sound
            raise StoreError(f"{self.path}: cannot be opened ({exc})") from None
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            raise StoreError(f"{self.path}: {exc}. It holds every item and vector (the index is rebuilt from it, "
                             f"not it from the index): restore it from a backup, or move it aside and ingest "
                             f"again") from None

    def _open(self) -> None:
        if not self.read_only:
            schema = resources.files(__package__).joinpath("schema.sql").read_text()
            self.conn.executescript(schema)
            self._migrate()
            self.scrub_source_credentials()
        elif self.get_meta("schema_version", 1) < GRAMS_VERSION:
            log.warning("%s predates the keyword index for Chinese, Japanese, Korean and Thai text; "
                        "open it once for writing (any `iconodex ingest`) to build it", self.path)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        self._changed()

    def generation(self) -> int:
        """A number that grows whenever what this store holds may have changed: at a commit through
        :meth:`transaction`, and when this thread's connection sees another connection's commit
        (another thread's or process's; ``PRAGMA data_version``) or a write of its own made outside
        it. What was read at one generation is current as long as the number stays the same."""
        conn = self.conn
        stamp = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        if getattr(self._local, "stamp", None) != stamp:  # a new connection counts as a change too
            self._local.stamp = stamp
            self._changed()
        return self._generation

    def _changed(self) -> None:
        with self._generation_lock:
            self._generation += 1

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.stamp = None  # the next connection's counts start afresh: a change

    # -- settings -----------------------------------------------------------------------------

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, dumps(value)))

    def _migrate(self) -> None:
        upgrade(self)

    # -- sources and runs ---------------------------------------------------------------------

    def begin_run(self, name: str, kind: str, spec: str, options: dict[str, Any]) -> tuple[int, dict]:
        """Register a harvest of ``name``; returns its run number and the saved checkpoint state."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO sources (name, kind, spec, options) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec, "
                "options = excluded.options",
                (name, kind, spec, dumps(options)),
            )
            conn.execute("UPDATE sources SET last_run = last_run + 1 WHERE name = ?", (name,))
            row = conn.execute("SELECT last_run, state FROM sources WHERE name = ?", (name,)).fetchone()
        return int(row[0]), json.loads(row[1])

    def save_source_state(self, name: str, state: dict, report: dict | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE sources SET state = ?, last_report = COALESCE(?, last_report) WHERE name = ?",
                         (dumps(state), dumps(report) if report is not None else None, name))

    def finish_run(self, name: str, run: int, report: dict, problems: Iterable[tuple[str, str, str]]) -> None:
        """Keep what ``run`` of source ``name`` did: its report, and its (kind, location, reason)
        source-level problems, which replace the previous run's."""
        with self.transaction() as conn:
            conn.execute("UPDATE sources SET last_report = ? WHERE name = ?", (dumps(report), name))
            conn.execute("DELETE FROM source_problems WHERE source = ?", (name,))
            conn.executemany("INSERT INTO source_problems (source, run, kind, location, reason) VALUES (?, ?, ?, ?, ?)",
                             [(name, run, *problem) for problem in problems])

    def source_problems(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The last run's source-level failures and skips of every source, failures first."""
        try:
            rows = self.conn.execute(
                "SELECT source, run, kind, location, reason FROM source_problems "
                "ORDER BY kind, source, rowid LIMIT ?", (limit or -1,)).fetchall()
        except sqlite3.OperationalError:  # a collection made before the table, opened read-only
            return []
        return [dict(row) for row in rows]

    def sources(self) -> list[dict[str, Any]]:
        """The sources, credentials masked (a collection written before they were kept out may hold some)."""
        rows = self.conn.execute("SELECT name, kind, spec, last_run, last_report FROM sources ORDER BY name")
        return [{**dict(row), "name": public_text(row["name"]), "spec": public_text(row["spec"]),
                 "last_report": json.loads(public_text(row["last_report"] or "null"))} for row in rows]

    def scrub_source_credentials(self) -> None:
        """Mask credentials that an older iconodex stored with a source (its name, spec, options, report).

        ``secure_delete`` zeroes the old bytes, and the checkpoint moves the rewrite out of the WAL,
        so no copy of a key is left in the files."""
        rows = self.conn.execute("SELECT name, spec, options, last_report FROM sources").fetchall()
        dirty = [row for row in rows if _public_source_row(row) != (*row[:2], dumps(json.loads(row[2])), row[3])]
        if not dirty:
            return
        self.conn.execute("PRAGMA secure_delete = ON")
        with self.transaction() as conn:
            for row in dirty:
                public = _public_source_row(row)
                # OR REPLACE: two names that differed only by a key are one source now
                conn.execute("UPDATE OR REPLACE sources SET name = ?, spec = ?, options = ?, last_report = ? "
                             "WHERE name = ?", (*public, row["name"]))
                conn.execute("UPDATE items SET source = ? WHERE source = ?", (public[0], row["name"]))
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.execute("PRAGMA secure_delete = OFF")

    # -- harvest ------------------------------------------------------------------------------

    def known_version(self, item_id: str) -> str | None:
        row = self.conn.execute("SELECT version FROM items WHERE id = ?", (item_id,)).fetchone()
        return row[0] if row else None

    def upsert_records(self, records: Sequence[SourceRecord], source: str, run: int) -> UpsertCounts:
        """Insert new records, update changed ones (marking what must be re-embedded) and stamp
        every record as seen in ``run``. Unchanged items cost one lookup."""
        counts = UpsertCounts()
        now = time.time()
        with self.transaction() as conn:
            for record in records:
                row = conn.execute(
                    "SELECT key, fingerprint, image_key, title, metadata, status FROM items WHERE id = ?",
                    (record.id,),
                ).fetchone()
                fingerprint = record.fingerprint()
                if row is None:
                    self._insert(conn, record, source, run, fingerprint, now)
                    counts.added += 1
                elif row["fingerprint"] == fingerprint and row["status"] != "failed":
                    conn.execute("UPDATE items SET seen_run = ?, source = ? WHERE key = ?", (run, source, row["key"]))
                    counts.unchanged += 1
                else:
                    self._update(conn, row, record, source, run, fingerprint, now)
                    if row["fingerprint"] == fingerprint:
                        counts.retried += 1
                    else:
                        counts.updated += 1
        return counts

    def _insert(self, conn: sqlite3.Connection, record: SourceRecord, source: str, run: int,
                fingerprint: str, now: float) -> None:
        cursor = conn.execute(
            "INSERT INTO items (id, source, title, metadata, links, image, version, fingerprint, image_key, "
            "need_image, need_text, status, seen_run, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'pending', ?, ?, ?)",
            (record.id, source, record.title, dumps(record.metadata), dumps(record.links),
             image_to_json(record.image), record.version, fingerprint,
             record.image.key() if record.image else None, int(record.image is not None), run, now, now),
        )
        self._write_text(conn, int(cursor.lastrowid), record)

    def _update(self, conn: sqlite3.Connection, row: sqlite3.Row, record: SourceRecord, source: str,
                run: int, fingerprint: str, now: float) -> None:
        image_key = record.image.key() if record.image else None
        image_changed = row["image_key"] != image_key or row["status"] == "failed"
        text_changed = (row["title"] != record.title or json.loads(row["metadata"]) != record.metadata
                        or row["status"] == "failed")
        conn.execute(
            "UPDATE items SET source = ?, title = ?, metadata = ?, links = ?, image = ?, version = ?, "
            "fingerprint = ?, image_key = ?, need_image = need_image OR ?, need_text = need_text OR ?, "
            "status = CASE WHEN ? OR ? THEN 'pending' ELSE status END, error = NULL, seen_run = ?, "
            "updated_at = ? WHERE key = ?",
            (source, record.title, dumps(record.metadata), dumps(record.links), image_to_json(record.image),
             record.version, fingerprint, image_key, int(image_changed and image_key is not None),
             int(text_changed), int(image_changed), int(text_changed), run, now, row["key"]),
        )
        if image_changed and image_key is None:
            conn.execute("DELETE FROM vectors WHERE key = ? AND space != 'text'", (row["key"],))
        self._write_text(conn, row["key"], record)

    @staticmethod
    def _write_text(conn: sqlite3.Connection, key: int, record: SourceRecord) -> None:
        conn.execute("DELETE FROM fields WHERE key = ?", (key,))
        conn.executemany("INSERT INTO fields (key, field, value, label) VALUES (?, ?, ?, ?)",
                         [(key, *row) for row in field_rows(record.metadata, record.title)])
        body = fts_body(record.metadata)
        conn.execute("DELETE FROM fts WHERE rowid = ?", (key,))
        conn.execute("INSERT INTO fts (rowid, title, body) VALUES (?, ?, ?)", (key, record.title, body))
        conn.execute("DELETE FROM fts_grams WHERE rowid = ?", (key,))
        write_grams(conn, key, record.title, body)

    def stale_keys(self, source: str, run: int, still_present: Container[str] = frozenset()) -> list[int]:
        """Items of ``source`` that a complete harvest in ``run`` did not see, nor vouched for as
        ``still_present`` (an incremental source's id-only listing): deleted upstream."""
        rows = self.conn.execute("SELECT key, id FROM items WHERE source = ? AND seen_run < ?", (source, run))
        return [row[0] for row in rows if row[1] not in still_present]

    def source_keys(self, source: str, ids: Iterable[str]) -> list[int]:
        """The keys of the stored items of ``source`` among ``ids``."""
        keys: list[int] = []
        for batch, marks in _in_batches(list(ids)):
            rows = self.conn.execute(f"SELECT key FROM items WHERE source = ? AND id IN ({marks})", (source, *batch))
            keys.extend(row[0] for row in rows)
        return keys

    def source_settings(self) -> list[dict[str, Any]]:
        """Each source's kind, spec and options as stored (credentials already hidden), for a re-run."""
        rows = self.conn.execute("SELECT name, kind, spec, options FROM sources ORDER BY name")
        return [{"name": row["name"], "kind": row["kind"], "spec": row["spec"], "options": json.loads(row["options"])}
                for row in rows]

    # -- embed --------------------------------------------------------------------------------

    def pending(self, limit: int, after_key: int = 0) -> list[WorkItem]:
        rows = self.conn.execute(
            "SELECT * FROM items WHERE status = 'pending' AND key > ? ORDER BY key LIMIT ?", (after_key, limit)
        ).fetchall()
        return [WorkItem(row["key"], row["id"], Item.from_row(row), bool(row["need_image"]), bool(row["need_text"]))
                for row in rows]

    def count_pending(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM items WHERE status = 'pending'").fetchone()[0])

    def save_chunk(self, vectors: dict[str, dict[int, np.ndarray]], done: Iterable[int],
                   failed: dict[int, str], content_hashes: dict[int, str], drop_text: Iterable[int] = ()) -> None:
        """Commit one embedded chunk atomically: vectors, finished items, failures."""
        now = time.time()
        with self.transaction() as conn:
            for space, by_key in vectors.items():
                conn.executemany("INSERT OR REPLACE INTO vectors (space, key, vec) VALUES (?, ?, ?)",
                                 [(space, key, vector_to_blob(vec)) for key, vec in by_key.items()])
            conn.executemany("DELETE FROM vectors WHERE space = 'text' AND key = ?", [(k,) for k in drop_text])
            conn.executemany(
                "UPDATE items SET status = 'embedded', need_image = 0, need_text = 0, error = NULL, "
                "updated_at = ? WHERE key = ?", [(now, key) for key in done])
            conn.executemany("UPDATE items SET content_hash = ? WHERE key = ?",
                             [(h, key) for key, h in content_hashes.items()])
            conn.executemany("UPDATE items SET status = 'failed', error = ?, updated_at = ? WHERE key = ?",
                             [(reason, now, key) for key, reason in failed.items()])

    # -- index --------------------------------------------------------------------------------

    def embedded_keys(self, limit: int, after_key: int = 0) -> list[int]:
        rows = self.conn.execute("SELECT key FROM items WHERE status = 'embedded' AND key > ? ORDER BY key LIMIT ?",
                                 (after_key, limit))
        return [row[0] for row in rows]

    def vectors_for(self, space: str, keys: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(keys that have a vector in ``space``, their vectors stacked)."""
        found: list[int] = []
        rows: list[np.ndarray] = []
        for batch, marks in _in_batches(keys):
            for key, blob in self.conn.execute(
                    f"SELECT key, vec FROM vectors WHERE space = ? AND key IN ({marks})", (space, *batch)):
                found.append(key)
                rows.append(blob_to_vector(blob))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(found, dtype=np.int64), np.vstack(rows)

    def iter_vectors(self, space: str, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Stream (keys, vectors) of indexed items in ``space``, in key order, ``batch`` at a time."""
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT v.key, v.vec FROM vectors v JOIN items i ON i.key = v.key "
                "WHERE v.space = ? AND v.key > ? AND i.status = 'indexed' ORDER BY v.key LIMIT ?",
                (space, last, batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                   np.vstack([blob_to_vector(r[1]) for r in rows]))

    def vector_dims(self) -> dict[str, int]:
        """Each space with stored vectors and its dims, one index seek per space (not a scan)."""
        found: dict[str, int] = {}
        last = ""
        while row := self.conn.execute("SELECT space, length(vec) FROM vectors WHERE space > ? ORDER BY space "
                                       "LIMIT 1", (last,)).fetchone():
            last = row[0]
            found[last] = int(row[1]) // 4
        return found

    def vector_counts(self, space: str) -> tuple[int, int]:
        """(vectors of indexed items, all stored vectors) in ``space``: a sound ANN index holds at
        least the first and at most the second (items in flight may or may not be in it yet)."""
        row = self.conn.execute(
            "SELECT sum(i.status = 'indexed'), count(*) FROM vectors v JOIN items i ON i.key = v.key "
            "WHERE v.space = ?", (space,)).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    def mark_indexed(self, keys: Sequence[int]) -> None:
        with self.transaction() as conn:
            conn.executemany("UPDATE items SET status = 'indexed' WHERE key = ? AND status = 'embedded'",
                             [(k,) for k in keys])

    # -- reads --------------------------------------------------------------------------------

    def get(self, item_id: str) -> Item | None:
        row = self.conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        return Item.from_row(row) if row else None

    def get_many(self, keys: Sequence[int]) -> dict[int, Item]:
        """Items by key. A search page's rows: only the columns an item shows, as plain tuples
        (``SELECT *`` with named rows cost 1.5× as much for a page of 20)."""
        found: dict[int, Item] = {}
        cursor = self.conn.cursor()
        cursor.row_factory = None
        for batch, marks in _in_batches([int(k) for k in keys]):
            for values in cursor.execute(f"SELECT {SELECTED_COLUMNS} FROM items WHERE key IN ({marks})", batch):
                found[values[0]] = Item.from_columns(*values)
        return found

    def keys_for_ids(self, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for batch, marks in _in_batches(ids):
            for row in self.conn.execute(f"SELECT id, key FROM items WHERE id IN ({marks})", batch):
                found[row[0]] = row[1]
        return found

    def iter_items(self, status: str | None = "indexed", batch: int = 1000) -> Iterator[Item]:
        last = -1
        while True:
            query = "SELECT * FROM items WHERE key > ?" + (" AND status = ?" if status else "") + " ORDER BY key LIMIT ?"
            params: tuple = (last, status, batch) if status else (last, batch)
            rows = self.conn.execute(query, params).fetchall()
            if not rows:
                return
            last = rows[-1]["key"]
            yield from (Item.from_row(row) for row in rows)

    def failures(self, limit: int | None = None) -> list[Item]:
        rows = self.conn.execute("SELECT * FROM items WHERE status = 'failed' ORDER BY id LIMIT ?", (limit or -1,))
        return [Item.from_row(row) for row in rows]

    def status_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "embedded": 0, "indexed": 0, "failed": 0}
        for status, n in self.conn.execute("SELECT status, count(*) FROM items GROUP BY status"):
            counts[status] = n
        return counts

    def filter_keys(self, where: dict[str, list[str]]) -> np.ndarray:
        """Keys matching every ``field = any of values`` (case-insensitive), via the fields index."""
        return self.key_filter(where).keys()

    def key_filter(self, where: dict[str, list[str]]) -> KeyFilter:
        """``where`` as a filter a search can ask a count, keys, or candidates' matches; its keys,
        once read, are kept until the store changes."""
        return KeyFilter(self.conn, where, self.filter_cache, self.generation())

    def keyword_search(self, text: str, limit: int) -> list[int]:
        """Keys whose catalogue text matches ``text``, best first (BM25, the title weighing twice
        the rest): the word index and, for text in scripts without spaces, the n-gram index,
        fused into one ranking in which each key appears once."""
        words = self._match("fts", keyword_match(text), "bm25(fts, 2.0, 1.0)", limit)
        grams: list[int] = []
        if self._has_grams():
            grams = self._match("fts_grams", gram_match(text), "bm25(fts_grams, 2.0, 2.0, 1.0, 1.0)", limit)
        return fused_ranking([words, grams], limit)

    def _match(self, table: str, match: str, rank: str, limit: int) -> list[int]:
        if not match:
            return []
        rows = self.conn.execute(
            f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY {rank} LIMIT ?", (match, limit))
        return [row[0] for row in rows]

    def _has_grams(self) -> bool:
        """False only for a store made before the n-gram index and opened read-only."""
        if self._grams_present is None:
            row = self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'fts_grams'").fetchone()
            self._grams_present = row is not None
        return self._grams_present

    def facets(self, name: str, limit: int = 20) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT min(label), count(*) AS n FROM fields WHERE field = ? GROUP BY value "
            "ORDER BY n DESC, value LIMIT ?", (name.strip().lower(), limit))
        return [(row[0], row[1]) for row in rows]

    def facet_fields(self, limit: int = 20) -> list[tuple[str, int]]:
        """Fields worth offering as filters: their values repeat (a free-text description, unique
        per item, filters nothing). Most widely used first."""
        rows = self.conn.execute(
            "SELECT field, count(DISTINCT key) AS n FROM fields WHERE field != 'title' GROUP BY field "
            "HAVING count(*) > count(DISTINCT value) ORDER BY n DESC, field LIMIT ?", (limit,))
        return [(row[0], row[1]) for row in rows]

    def field_names(self, limit: int = 50) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT field, count(DISTINCT key) AS n FROM fields GROUP BY field ORDER BY n DESC LIMIT ?", (limit,))
        return [(row[0], row[1]) for row in rows]

    # -- delete -------------------------------------------------------------------------------

    def delete_keys(self, keys: Sequence[int]) -> None:
        with self.transaction() as conn:
            for table, column in (("items", "key"), ("fields", "key"), ("vectors", "key"), ("fts", "rowid"),
                                  ("fts_grams", "rowid"), ("map_points", "key")):
                conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(int(k),) for k in keys])


SQL_VARIABLES = 900  # under SQLite's default limit on bound parameters per statement


def _in_batches(values: Sequence) -> Iterator[tuple[list, str]]:
    """``values`` in slices small enough for one ``IN (?, …)``, with the placeholders for each."""
    for start in range(0, len(values), SQL_VARIABLES):
        batch = list(values[start:start + SQL_VARIABLES])
        yield batch, ",".join("?" * len(batch))


def _public_source_row(row: sqlite3.Row) -> tuple[str, str, str, str | None]:
    """(name, spec, options, last_report) of a ``sources`` row with every credential masked."""
    report = row["last_report"]
    return (public_text(row["name"]), public_text(row["spec"]), dumps(public_options(json.loads(row["options"]))),
            public_text(report) if report is not None else None)
