"""The keyword leg at 100k items, half of them catalogued in Japanese, Chinese, Korean or Thai:
the word index for Latin queries (with and without the n-gram index beside it), and the n-gram
index for 1-, 2- and 3+-character queries against the alternatives (a LIKE scan of the catalogue
text; an FTS5 trigram index, which cannot serve queries under 3 characters from its index).

Only the store is built (no vectors: the keyword leg never reads them), cached under
benchmarks/_data/ so a rerun only times queries.

    .venv/bin/python benchmarks/bench_keyword.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _report import markdown_table, percentiles, write_section
from bench_query import QUERIES, WORDS

from iconodex.records import SourceRecord
from iconodex.store import ItemStore
from iconodex.store.db import MIGRATIONS, SCHEMA_VERSION
from iconodex.store.text import fts_body, gram_match, keyword_match

DATA = Path(__file__).resolve().parent / "_data"
CHUNK = 5_000
LIMIT = 50  # the candidate count a 10-result search asks the keyword leg for
VOCABULARY = {  # (words, what joins them)
    "ja": ("東京 京都 大阪 猫 犬 桜 富士山 神社 寺 城 港 浮世絵 風景 夜景 写真 地図 絵葉書 着物 茶屋 橋".split(), "の"),
    "zh": ("长城 北京 上海 山水 花鸟 书法 猫 马 寺庙 河流 地图 照片 瓷器 宫殿 园林 月亮".split(), "的"),
    "ko": ("고양이 강아지 서울 부산 사진 지도 산 바다 궁궐 그림 한복 절 다리 시장".split(), " "),
    "th": ("แมว หมา วัด แม่น้ำ ภูเขา ทะเล รูปถ่าย แผนที่ กรุงเทพ ช้าง ตลาด เรือ".split(), ""),
}
CASES = {
    "Latin words": QUERIES,
    "1 character": ["猫", "犬", "桜", "城", "马", "寺", "港"],
    "2 characters": ["東京", "京都", "北京", "서울", "사진", "长城", "夜景"],
    "3+ characters": ["富士山", "浮世絵", "고양이", "แม่น้ำ", "浮世絵の風景", "กรุงเทพ", "絵葉書"],
}


def fake_record(rng: np.random.Generator, number: int) -> SourceRecord:
    """Even numbers Latin (as bench_query's), odd numbers in one of the four unspaced languages."""
    if number % 2 == 0:
        words = rng.choice(WORDS, size=6).tolist()
        title, subjects = " ".join(words[:3]).capitalize(), words[3:]
    else:
        vocabulary, joiner = list(VOCABULARY.values())[(number // 2) % len(VOCABULARY)]
        words = rng.choice(vocabulary, size=6).tolist()
        title, subjects = joiner.join(words[:3]), words[3:]
    return SourceRecord(id=f"item-{number}", image=None, title=title,
                        metadata={"subject": list(dict.fromkeys(subjects)), "creator": [f"Artist {number % 997}"]})


def build(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    path.mkdir(parents=True, exist_ok=True)
    store = ItemStore(path / "iconodex.db")
    run, _ = store.begin_run("synthetic", "synthetic", "synthetic", {})
    for first in range(0, n, CHUNK):
        store.upsert_records([fake_record(rng, i) for i in range(first, min(first + CHUNK, n))], "synthetic", run)
    with store.transaction() as conn:  # the trigram alternative, built once beside the real indexes
        conn.execute("CREATE VIRTUAL TABLE trigram USING fts5 (title, body, tokenize = 'trigram')")
        for key, title, metadata in conn.execute("SELECT key, title, metadata FROM items"):
            conn.execute("INSERT INTO trigram (rowid, title, body) VALUES (?, ?, ?)",
                         (key, title, fts_body(json.loads(metadata))))
    store.close()


def approaches(store: ItemStore) -> dict[str, Callable[[str], list[int]]]:
    conn = store.conn

    def rows(sql: str, *params: object) -> list[int]:
        return [row[0] for row in conn.execute(sql, params)]

    def trigram(text: str) -> list[int]:
        if len(text) >= 3:
            quoted = '"' + text.replace('"', '""') + '"'
            return rows("SELECT rowid FROM trigram WHERE trigram MATCH ? ORDER BY bm25(trigram, 2.0, 1.0) LIMIT ?",
                        quoted, LIMIT)
        return rows("SELECT rowid FROM trigram WHERE title LIKE ?1 OR body LIKE ?1 LIMIT ?2", f"%{text}%", LIMIT)

    return {
        "keyword leg (word + n-gram index)": lambda text: store.keyword_search(text, LIMIT),
        "word index only (before)": lambda text: rows(
            "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 2.0, 1.0) LIMIT ?",
            keyword_match(text) or '""', LIMIT),
        "n-gram index only": lambda text: rows(
            "SELECT rowid FROM fts_grams WHERE fts_grams MATCH ? ORDER BY bm25(fts_grams, 2.0, 2.0, 1.0, 1.0) "
            "LIMIT ?", gram_match(text) or '""', LIMIT),
        "LIKE scan of items (unranked)": lambda text: rows(
            "SELECT key FROM items WHERE title LIKE ?1 OR metadata LIKE ?1 LIMIT ?2", f"%{text}%", LIMIT),
        "FTS5 trigram (LIKE under 3 chars)": trigram,
    }


def time_queries(call: Callable[[str], list[int]], queries: list[str], rounds: int) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, mean hits) over ``rounds`` passes of ``queries``."""
    seconds, hits = [], []
    for _ in range(rounds):
        for text in queries:
            start = time.perf_counter()
            found = call(text)
            seconds.append(time.perf_counter() - start)
            hits.append(len(found))
    p50, p95 = percentiles(seconds)
    return p50, p95, float(np.mean(hits))


def migration_seconds(store: ItemStore) -> float:
    """Time the step that adds the n-gram index to an old store, then roll it back."""
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        start = time.perf_counter()
        MIGRATIONS[SCHEMA_VERSION](conn)
        return time.perf_counter() - start
    finally:
        conn.rollback()


def table_mb(store: ItemStore, prefix: str) -> float:
    row = store.conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE ?", (prefix + "%",)).fetchone()
    return (row[0] or 0) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    path = DATA / f"keyword-{args.n}"
    if not (path / "iconodex.db").exists():
        print(f"building a {args.n:,}-item store at {path}")
        start = time.perf_counter()
        build(path, args.n)
        print(f"  built in {time.perf_counter() - start:.0f} s")
    store = ItemStore(path / "iconodex.db")
    ways = approaches(store)
    rows, p50s = [], {}
    for case, queries in CASES.items():
        for name, call in ways.items():
            p50, p95, hits = time_queries(call, queries, args.rounds)
            p50s[case, name] = p50
            rows.append([case, name, f"{p50:.2f}", f"{p95:.2f}", f"{hits:.0f}"])
    table = markdown_table(["queries", "approach", "p50 ms", "p95 ms", "mean hits (max 50)"], rows)
    print(table)
    latin = p50s["Latin words", "keyword leg (word + n-gram index)"] / p50s["Latin words", "word index only (before)"]
    short = "; ".join(
        f"{case}: LIKE scan **{p50s[case, like] / p50s[case, ours]:.1f}×**, trigram with LIKE "
        f"**{p50s[case, tri] / p50s[case, ours]:.1f}×**"
        for case in ("1 character", "2 characters")
        for ours, like, tri in [("keyword leg (word + n-gram index)", "LIKE scan of items (unranked)",
                                 "FTS5 trigram (LIKE under 3 chars)")])
    migrate = migration_seconds(store)
    sizes = {name: table_mb(store, name) for name in ("fts_grams", "fts", "trigram", "items")}
    store.close()
    body = (f"{args.n:,} items in the store (no vectors: the keyword leg never reads them), half catalogued in "
            f"English-like words as in bench_query, half in Japanese, Chinese, Korean or Thai; each query set run "
            f"{args.rounds} times, up to {LIMIT} keys asked (what a 10-result search asks the keyword leg for). "
            f"All approaches run in this one process on the same database.\n\n{table}\n\n"
            f"Latin queries, keyword leg ÷ word index alone: **{latin:.2f}×** (the n-gram index is skipped when a "
            f"query has no text in those scripts). Alternatives ÷ keyword leg, p50, for short queries (the "
            f"alternatives return unranked rows and stop at the first {LIMIT}): {short}. Adding the n-gram index to an "
            f"old store of this size (the migration on open) took **{migrate:.1f} s**. Sizes: n-gram index "
            f"{sizes['fts_grams']:.1f} MB, word index {sizes['fts']:.1f} MB, trigram alternative "
            f"{sizes['trigram']:.1f} MB, items {sizes['items']:.1f} MB.\n")
    print(body)
    if not args.no_write:
        write_section("keyword", "Keyword leg in every script (bench_keyword.py)", body)


if __name__ == "__main__":
    main()
