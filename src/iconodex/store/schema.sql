PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sources (
    name        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    options     TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT '{}',
    last_run    INTEGER NOT NULL DEFAULT 0,
    last_report TEXT
);

-- One row per item. `key` is the integer the vector index uses; `id` is the source's own id.
-- need_image / need_text say which embeddings are missing or stale; status is the item's stage.
CREATE TABLE IF NOT EXISTS items (
    key           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    metadata      TEXT NOT NULL DEFAULT '{}',
    links         TEXT NOT NULL DEFAULT '{}',
    image         TEXT,
    version       TEXT,
    fingerprint   TEXT NOT NULL,
    image_key     TEXT,
    content_hash  TEXT,
    need_image    INTEGER NOT NULL DEFAULT 1,
    need_text     INTEGER NOT NULL DEFAULT 1,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'embedded', 'indexed', 'failed')),
    error         TEXT,
    seen_run      INTEGER NOT NULL DEFAULT 0,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_status ON items (status);
CREATE INDEX IF NOT EXISTS items_source_seen ON items (source, seen_run);

-- Normalised (lower-cased) metadata values, for filters and facets without a full scan.
CREATE TABLE IF NOT EXISTS fields (
    key   INTEGER NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,   -- lower-cased, for matching
    label TEXT NOT NULL    -- as the catalogue wrote it, for display
);
CREATE INDEX IF NOT EXISTS fields_lookup ON fields (field, value, key);
CREATE INDEX IF NOT EXISTS fields_key ON fields (key);

CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5 (
    title, body, tokenize = 'unicode61 remove_diacritics 2'
);

-- The durable copy of every vector; the ANN index is rebuilt or caught up from here.
CREATE TABLE IF NOT EXISTS vectors (
    space TEXT NOT NULL,
    key   INTEGER NOT NULL,
    vec   BLOB NOT NULL,
    PRIMARY KEY (space, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vectors_key ON vectors (key);

-- What the last run of each source could not read ('failed': a page, a manifest, a file) or
-- chose not to take ('skipped': a canvas with only video…); replaced at the end of every run.
CREATE TABLE IF NOT EXISTS source_problems (
    source   TEXT NOT NULL,
    run      INTEGER NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('failed', 'skipped')),
    location TEXT NOT NULL,
    reason   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS source_problems_source ON source_problems (source);
