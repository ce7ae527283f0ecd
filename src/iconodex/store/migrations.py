"""Schema migrations: each step brings a store made by an older iconodex one version up.

Version 1 is schema.sql as first released; ``MIGRATIONS`` maps each later version to the step that
reaches it from the one before.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from .codec import dumps
from .text import fts_body, gram_columns

if TYPE_CHECKING:
    from .db import ItemStore

log = logging.getLogger(__name__)

# The n-gram index beside the word index ``fts``, for scripts written without spaces (see
# text.UNSPACED). The ``ascii`` tokenizer splits on the spaces text.gram_columns puts between
# n-grams and keeps every non-ASCII character, so each n-gram is one token.
CREATE_GRAMS = ("CREATE VIRTUAL TABLE IF NOT EXISTS fts_grams USING fts5 "
                "(title_uni, title_bi, body_uni, body_bi, tokenize = 'ascii')")


def write_grams(conn: sqlite3.Connection, key: int, title: str, body: str) -> None:
    """Index the n-grams of an item's text; items with none (all-Latin text) get no row."""
    title_uni, title_bi = gram_columns(title)
    body_uni, body_bi = gram_columns(body)
    if title_uni or body_uni:
        conn.execute("INSERT INTO fts_grams (rowid, title_uni, title_bi, body_uni, body_bi) VALUES (?, ?, ?, ?, ?)",
                     (key, title_uni, title_bi, body_uni, body_bi))


def _add_gram_index(conn: sqlite3.Connection) -> None:
    """Version 2: the n-gram index, filled from every stored item."""
    conn.execute(CREATE_GRAMS)
    conn.execute("DELETE FROM fts_grams")
    for key, title, metadata in conn.execute("SELECT key, title, metadata FROM items"):
        write_grams(conn, key, title, fts_body(json.loads(metadata)))


def _add_map_tables(conn: sqlite3.Connection) -> None:
    """Version 3: the collection map (iconodex.map): a point and cluster per item, named clusters,
    and the thumbnail atlases the map page draws from."""
    conn.execute("CREATE TABLE IF NOT EXISTS map_points (key INTEGER PRIMARY KEY, x REAL NOT NULL, "
                 "y REAL NOT NULL, cluster INTEGER NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS map_clusters (cluster INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "terms TEXT NOT NULL, size INTEGER NOT NULL, x REAL NOT NULL, y REAL NOT NULL, extent REAL NOT NULL)")
    conn.execute("CREATE TABLE IF NOT EXISTS map_atlases (atlas INTEGER PRIMARY KEY, jpeg BLOB NOT NULL, "
                 "cells TEXT NOT NULL)")


def _add_map_pictures(conn: sqlite3.Connection) -> None:
    """Version 4: which picture each map point was made from (``iconodex.map.PICTURE``), so a re-run
    places an item whose picture changed anew; NULL (mapped before) counts as unchanged."""
    if "picture" not in {row[1] for row in conn.execute("PRAGMA table_info(map_points)")}:
        conn.execute("ALTER TABLE map_points ADD COLUMN picture TEXT")


# version → the step that reaches it from the one before; version 1 is schema.sql as first released
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _add_gram_index, 3: _add_map_tables,
                                                               4: _add_map_pictures}
SCHEMA_VERSION = max(MIGRATIONS)
GRAMS_VERSION = 2


def upgrade(store: ItemStore) -> None:
    """Bring a store made by an older iconodex up to SCHEMA_VERSION, each step in one
    transaction with its version stamp: a step interrupted leaves nothing half done, and a
    step another process finished first is not run again."""
    if store.get_meta("schema_version", 1) >= SCHEMA_VERSION:
        return
    for version, step in MIGRATIONS.items():
        with store.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is not None and json.loads(row[0]) >= version:
                continue
            if conn.execute("SELECT EXISTS (SELECT 1 FROM items)").fetchone()[0]:
                log.info("%s: upgrading the store to schema version %d", store.path, version)
            step(conn)
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                         (dumps(version),))
