"""HNSW like for like: USearch (f32, f16, i8 with and without exact rescoring) against FAISS
``IndexHNSWFlat`` on the same clustered unit vectors, with the same graph (M, efConstruction 128),
the same build threads, one thread and one query per call at search time, every index opened
memory-mapped where the library allows, and the queries INTERLEAVED so background load falls on the
indexes compared alike. With FAISS listed, every other index is timed in a pass of its own beside it
(each query on the two in turn) and its ratio is to FAISS in that pass: three or more indexes in one
rotation make every walk wait on memory (FAISS itself 1.7× slower with three), so their ratios would
compare only within a run listing the same indexes.

Each index is built once and saved under ``--cache`` with its build time; later runs reuse it, so
a measured run can be split into builds and queries. Per index, the latency reported is the p50 at
the smallest search expansion ``ef`` whose recall@10 reaches the target.

    python benchmarks/bench_hnsw.py --n 50000 --no-write                       # a quick look
    python benchmarks/bench_hnsw.py --n 1000000 --indexes usearch-f32,faiss --build-only
    python benchmarks/bench_hnsw.py --n 1000000 --indexes usearch-f32,faiss   # queries, reusing both

``--ef default,96`` measures the engines (``engine``, ``engine-f16-rescored``, ``faiss-engine`` …) with
their default search expansion, which follows the index's size, against fixed ones (e.g. the old default).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _report import markdown_table, percentiles, write_section
from bench_search import exact_top, make_data, recall
from usearch.index import Index

from iconodex.index.faiss_engine import FaissEngine
from iconodex.index.files import Manifest, SpaceFile, file_checksum, saved_name, write_manifest
from iconodex.index.usearch_engine import UsearchEngine, metric_for

EF_CONSTRUCTION = 128
SPACE = "vectors"
RESCORE_DEPTH = 4  # an i8 index with rescoring returns k × this many candidates, rescored in f32
DEFAULT = 0  # ``--ef default``: the engine's own expansion for the index's size


@dataclass
class Result:
    index: str
    ef: int
    recall: float
    p50: float
    p95: float
    default: bool = False  # searched with the engine's default expansion (``ef`` is the one it chose)
    reference_p50: float | None = None  # FAISS's p50 at the same ef, in the pass beside this index (``passes``)


class Candidate:
    """One index as the benchmark sees it: build and save once, open memory-mapped, search one query."""

    name = ""
    file = ""

    def __init__(self, connectivity: int) -> None:
        self.connectivity = connectivity

    def build(self, data: np.ndarray, path: Path, threads: int) -> None:
        raise NotImplementedError

    def open(self, path: Path, data: np.ndarray) -> None:
        raise NotImplementedError

    def set_ef(self, ef: int) -> None:
        raise NotImplementedError

    def expansion(self) -> int:
        """The expansion searches use now (an engine's default one after ``set_ef(DEFAULT)``)."""
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        raise NotImplementedError


def warm(path: Path) -> None:
    """Read a file (or a folder's files) once, so every index starts with its bytes in the page cache:
    a memory-mapped file nobody read lately otherwise pays disk reads in its first queries (the engines'
    checksums read theirs anyway)."""
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if file.is_file():
            with open(file, "rb") as handle:
                while handle.read(1 << 24):
                    pass


class Usearch(Candidate):
    """The library call the engine makes (``Index.search``, ``threads=1``), on a ``view`` of the file."""

    def __init__(self, connectivity: int, dtype: str, rescore: bool = False) -> None:
        super().__init__(connectivity)
        self.dtype, self.rescore = dtype, rescore
        self.name = f"usearch {dtype}" + (" + f32 rescoring" if rescore else "")
        # the engine's metric; the cosine files of earlier runs keep their names
        self.metric = metric_for(dtype)
        self.file = f"usearch-{dtype}-M{connectivity}" + ("-ip" if self.metric == "ip" else "") + ".usearch"

    def build(self, data: np.ndarray, path: Path, threads: int) -> None:
        index = Index(ndim=data.shape[1], metric=self.metric, dtype=self.dtype, connectivity=self.connectivity,
                      expansion_add=EF_CONSTRUCTION)
        index.add(np.arange(len(data), dtype=np.uint64), data, threads=threads)
        index.save(str(path))

    def open(self, path: Path, data: np.ndarray) -> None:
        warm(path)
        self.index = Index.restore(str(path), view=True)
        self.warm_rows(data)

    def warm_rows(self, data: np.ndarray) -> None:
        """Rescoring reads the candidates' f32 rows (as the searcher reads them from SQLite): from the
        page cache, as the index, not from disk in the first queries."""
        self.data = data
        if self.rescore and getattr(data, "filename", None):
            warm(Path(data.filename))

    def set_ef(self, ef: int) -> None:
        if ef == DEFAULT:
            raise SystemExit("--ef default applies to the engines (engine…, faiss-engine…), not to raw indexes")
        self.index.expansion_search = ef

    def expansion(self) -> int:
        return int(self.index.expansion_search)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        if not self.rescore:
            return self.index.search(query, k, threads=1).keys
        return self.rescored(self.index.search(query, k * RESCORE_DEPTH, threads=1).keys, query, k)

    def rescored(self, keys: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
        keys = np.sort(np.asarray(keys, dtype=np.int64))
        scores = self.data[keys] @ query
        return keys[np.argsort(-scores)[:k]]


class Engine(Usearch):
    """iconodex's engine itself (read-only, as a server opens it) on the same file, named in a
    manifest: the library call plus the engine's own checks and conversions (and, for a rounded
    index, the f32 rescoring of its candidates that the searcher does)."""

    def __init__(self, connectivity: int, dtype: str = "f32", rescore: bool = False) -> None:
        super().__init__(connectivity, dtype, rescore)
        self.name = f"iconodex engine (usearch {dtype})" + (" + f32 rescoring" if rescore else "")
        self.folder = Path()

    def build(self, data: np.ndarray, path: Path, threads: int) -> None:
        raise RuntimeError(f"the engine reuses the {self.file} file: list usearch-{self.dtype} before it")

    def open(self, path: Path, data: np.ndarray) -> None:
        warm(path)
        self.warm_rows(data)
        kind = "" if self.dtype == "f32" else f"{self.dtype}-"  # the f32 folder keeps its earlier name
        self.folder = path.parent / f"engine-{kind}M{self.connectivity}"
        self.folder.mkdir(exist_ok=True)
        checksum = file_checksum(path)
        name = saved_name(SPACE, checksum)
        if not (self.folder / name).exists():
            os.link(path, self.folder / name)
        write_manifest(self.folder, Manifest(1, {SPACE: SpaceFile(data.shape[1], name, path.stat().st_size,
                                                                  len(data), checksum)}))

    def set_ef(self, ef: int) -> None:
        fixed = {} if ef == DEFAULT else {"expansion_search": ef}
        self.engine = UsearchEngine(self.folder, exact_below=0, read_only=True, **fixed)
        self.engine.search(SPACE, np.zeros(self.engine.spaces()[SPACE], np.float32), 1)  # checksum once

    def expansion(self) -> int:
        return self.engine.expansion(SPACE)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        if not self.rescore:
            return self.engine.search(SPACE, query, k)[0]
        return self.rescored(self.engine.search(SPACE, query, k * RESCORE_DEPTH)[0], query, k)


class Faiss(Candidate):
    """``IndexHNSWFlat`` (inner product on unit vectors = cosine), read back memory-mapped."""

    name = "faiss HNSWFlat"

    def __init__(self, connectivity: int) -> None:
        super().__init__(connectivity)
        self.file = f"faiss-M{connectivity}.index"

    def build(self, data: np.ndarray, path: Path, threads: int) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(data.shape[1], self.connectivity, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(data)
        faiss.write_index(index, str(path))

    def open(self, path: Path, data: np.ndarray) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        warm(path)
        # IO_FLAG_MMAP alone reads an HNSW file into memory; IO_FLAG_MMAP_IFC maps it (faiss ≥ 1.10)
        self.index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)

    def set_ef(self, ef: int) -> None:
        if ef == DEFAULT:
            raise SystemExit("--ef default applies to the engines (engine…, faiss-engine…), not to raw indexes")
        self.index.hnsw.efSearch = ef

    def expansion(self) -> int:
        return int(self.index.hnsw.efSearch)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(query[None, :], k)[1][0]


class FaissEngineCandidate(Candidate):
    """iconodex's ``FaissEngine`` built through its own ``upsert`` and ``flush`` (labels, tombstone
    bookkeeping, the checked save) and opened read-only, as a search server opens it (``IO_FLAG_MMAP_IFC``)."""

    def __init__(self, connectivity: int, batch: int = 0) -> None:
        """``batch``: vectors per upsert, as an ingest adds them (0: all in one, as the raw FAISS build)."""
        super().__init__(connectivity)
        self.batch = batch
        self.name = "iconodex FaissEngine" + (f", upserts of {batch:,}" if batch else "")
        self.file = f"faiss-engine-M{connectivity}" + (f"-b{batch}" if batch else "")

    def build(self, data: np.ndarray, path: Path, threads: int) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)
        engine = FaissEngine(path, connectivity=self.connectivity, expansion_add=EF_CONSTRUCTION)
        engine.ensure_space(SPACE, data.shape[1])
        for start in range(0, len(data), self.batch or len(data)):
            stop = min(start + (self.batch or len(data)), len(data))
            engine.upsert(SPACE, np.arange(start, stop, dtype=np.int64), np.asarray(data[start:stop]))
        engine.flush()
        engine.close()

    def open(self, path: Path, data: np.ndarray) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        warm(path)
        self.folder = path

    def set_ef(self, ef: int) -> None:
        fixed = {} if ef == DEFAULT else {"expansion_search": ef}
        self.engine = FaissEngine(self.folder, exact_below=0, read_only=True, **fixed)
        self.engine.search(SPACE, np.zeros(self.engine.spaces()[SPACE], np.float32), 1)  # checksum once

    def expansion(self) -> int:
        return self.engine.expansion(SPACE)

    def search(self, query: np.ndarray, k: int) -> np.ndarray:
        return self.engine.search(SPACE, query, k)[0]


def candidates(names: list[str], connectivity: int) -> list[Candidate]:
    known = {"usearch-f32": lambda: Usearch(connectivity, "f32"), "usearch-f16": lambda: Usearch(connectivity, "f16"),
             "usearch-i8": lambda: Usearch(connectivity, "i8"),
             "usearch-f16-rescored": lambda: Usearch(connectivity, "f16", rescore=True),
             "usearch-i8-rescored": lambda: Usearch(connectivity, "i8", rescore=True),
             "engine": lambda: Engine(connectivity), "engine-f16-rescored": lambda: Engine(connectivity, "f16", True),
             "engine-i8-rescored": lambda: Engine(connectivity, "i8", True), "faiss": lambda: Faiss(connectivity),
             "faiss-engine": lambda: FaissEngineCandidate(connectivity),
             "faiss-engine-batched": lambda: FaissEngineCandidate(connectivity, batch=100_000)}
    return [known[name]() for name in names if name]


# -- data and builds (cached) ------------------------------------------------------------------

def dataset(cache: Path, n: int, dims: int, queries: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectors (memory-mapped .npy), held-out queries from the same clusters, exact top-k."""
    stem = cache / f"clustered-{n}x{dims}"
    if not Path(f"{stem}.npy").exists():
        both = make_data("clustered", n + queries, dims, seed=1)
        np.save(f"{stem}-queries.npy", both[n:])
        np.save(f"{stem}.npy", both[:n])
        del both
    data = np.load(f"{stem}.npy", mmap_mode="r")
    held_out = np.load(f"{stem}-queries.npy")[:queries]
    truth_file = Path(f"{stem}-truth{queries}.npy")
    if not truth_file.exists():
        np.save(truth_file, exact_top(np.asarray(data), held_out, k))
    return data, held_out, np.load(truth_file)


def build_all(found: list[Candidate], data: np.ndarray, folder: Path, threads: int) -> dict[str, dict]:
    """Build what is missing; returns each file's build record (seconds, threads, load, nice, bytes).
    The record file is re-read before each write: another run may be building other files."""
    log = folder / "builds.json"
    for candidate in found:
        path = folder / candidate.file
        if isinstance(candidate, Engine) or (candidate.file in _builds(log) and path.exists()):
            continue
        print(f"building {candidate.file} …", flush=True)
        start = time.perf_counter()
        candidate.build(np.asarray(data), path, threads)
        record = {"seconds": time.perf_counter() - start, "threads": threads, "load": os.getloadavg()[0],
                  "nice": os.nice(0), "libraries": _versions()}
        log.write_text(json.dumps({**_builds(log), candidate.file: record}, indent=1))
    builds = _builds(log)
    for name in builds:
        builds[name]["bytes"] = _size(folder / name)
    return builds


def _versions() -> str:
    import faiss
    import usearch

    return f"usearch {usearch.__version__}, faiss {faiss.__version__}"


def _builds(log: Path) -> dict[str, dict]:
    return json.loads(log.read_text()) if log.exists() else {}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size


# -- queries (interleaved) ---------------------------------------------------------------------

def sweep(found: list[Candidate], queries: np.ndarray, truth: np.ndarray, efs: list[int], k: int,
          repeats: int = 1) -> list[Result]:
    """One expansion at a time, the indexes interleaved; with ``default`` among ``efs``, every (index,
    expansion) in one rotation instead, so the default and the fixed ones share the same load. The
    whole sweep runs ``repeats`` times and each setting's latencies pool its passes, so a passing
    disturbance of the shared machine falls on one short pass of each, not on one setting."""
    if DEFAULT in efs:
        rounds = [[(copy.copy(candidate), ef) for ef in efs for candidate in found]]
    else:
        rounds = [[(candidate, ef) for candidate in found] for ef in efs]
    groups = [group for turns in rounds for group in passes(turns)]
    results = []
    for group, (seconds, answers, expansions) in zip(groups, _timed(groups, queries, k, repeats), strict=True):
        found_now = [Result(candidate.name, expansion, recall(keys, truth), *percentiles(times), default=ef == DEFAULT)
                     for (candidate, ef), times, keys, expansion in zip(group, seconds, answers, expansions,
                                                                         strict=True)]
        reference = next((r.p50 for (c, _), r in zip(group, found_now, strict=True) if isinstance(c, Faiss)), None)
        for result in found_now:
            result.reference_p50 = reference
        results += found_now
        print(" | ".join(f"{r.index} ef={r.ef} r={r.recall:.3f} {r.p50:.3f} ms" for r in found_now), flush=True)
    return _one_per_setting(results)


Timing = tuple[list[list[float]], list[list[np.ndarray]], list[int]]  # per index: seconds, keys, expansion


def _timed(groups: list[list[tuple[Candidate, int]]], queries: np.ndarray, k: int, repeats: int) -> list[Timing]:
    """Each group's pass ``repeats`` times over, every group in turn: per group, each index's latencies
    pooled, its answers and the expansion it searched with (an engine's default one is its choice)."""
    timings: list[Timing] = [([[] for _ in group], [], []) for group in groups]
    for _ in range(repeats):
        for group, (seconds, answers, expansions) in zip(groups, timings, strict=True):
            for candidate, ef in group:  # only the pass's own indexes: an engine's set_ef reopens its file
                candidate.set_ef(ef)
            took, got = interleaved([candidate for candidate, _ in group], queries, k)
            for pooled, times in zip(seconds, took, strict=True):
                pooled += times
            answers[:] = answers or got
            expansions[:] = [candidate.expansion() for candidate, _ in group]
    return timings


def passes(turns: list[tuple[Candidate, int]]) -> list[list[tuple[Candidate, int]]]:
    """The groups timed together: every index beside FAISS, a pass each, where FAISS is listed with
    two or more others; otherwise all in one rotation (``--ef default`` compares settings of one index)."""
    reference = [turn for turn in turns if isinstance(turn[0], Faiss)]
    others = [turn for turn in turns if not isinstance(turn[0], Faiss)]
    if len(reference) != 1 or len(others) < 2:
        return [turns]
    return [[turn, reference[0]] for turn in others]


def _one_per_setting(results: list[Result]) -> list[Result]:
    """FAISS, timed once per pass, keeps its median pass (its recall is the same in every pass)."""
    merged: dict[tuple[str, int, bool], list[Result]] = {}
    for result in results:
        merged.setdefault((result.index, result.ef, result.default), []).append(result)
    return [sorted(group, key=lambda r: r.p50)[(len(group) - 1) // 2] for group in merged.values()]


def interleaved(found: list[Candidate], queries: np.ndarray, k: int) -> tuple[list[list[float]], list[list[np.ndarray]]]:
    """Seconds and keys per candidate and query; each query runs on every candidate in a rotating order."""
    for candidate in found:
        candidate.search(queries[0], k)  # warm
    seconds: list[list[float]] = [[] for _ in found]
    answers: list[list[np.ndarray]] = [[] for _ in found]
    for number, query in enumerate(queries):
        for turn in range(len(found)):
            which = (number + turn) % len(found)
            start = time.perf_counter()
            keys = found[which].search(query, k)
            seconds[which].append(time.perf_counter() - start)
            answers[which].append(np.asarray(keys, dtype=np.int64))
    return seconds, answers


def at_target(results: list[Result], target: float) -> dict[str, Result]:
    """Per index, the smallest ef reaching the target (or its best recall if none does)."""
    chosen = {}
    for name in dict.fromkeys(r.index for r in results):
        mine = [r for r in results if r.index == name]
        good = [r for r in mine if r.recall >= target]
        chosen[name] = min(good, key=lambda r: r.ef) if good else max(mine, key=lambda r: r.recall)
    return chosen


def defaults(results: list[Result], target: float) -> str:
    """Per index: its default expansion (the one it chose) against the fixed ones, p50 as a ratio."""
    rows = []
    for name in dict.fromkeys(r.index for r in results):
        mine = [r for r in results if r.index == name]
        base = next((r for r in mine if r.default), mine[0])
        rows += [[r.index, f"default (ef={r.ef})" if r.default else f"ef={r.ef}",
                  f"{r.recall:.3f}" + ("" if r.recall >= target else " (below)"), f"{r.p50:.3f}", f"{r.p95:.3f}",
                  f"{r.p50 / base.p50:.2f}×"] for r in sorted(mine, key=lambda r: not r.default)]
    return markdown_table(["index", "search expansion", "recall@10", "p50 ms", "p95 ms", "p50 vs default"], rows)


def faiss_beside(results: list[Result], index: str, ef: int) -> float | None:
    """FAISS's p50 at ``ef`` in the pass it shared with ``index`` (None where they shared none)."""
    return next((r.reference_p50 for r in results if r.index == index and r.ef == ef and not r.default), None)


def summary(found: list[Candidate], results: list[Result], builds: dict[str, dict], n: int, target: float) -> str:
    """Per index, its smallest ef reaching the target against FAISS's at the target: with pairwise passes,
    FAISS's p50 as timed beside this index (at FAISS's chosen ef), so both sides of a ratio shared a pass."""
    chosen = at_target(results, target)
    base = chosen.get(Faiss.name)
    faiss_build = builds.get(next((c.file for c in found if isinstance(c, Faiss)), ""), {}).get("seconds")
    rows = []
    for candidate in found:
        r, built = chosen[candidate.name], builds[candidate.file]
        rows.append([r.index, f"M={candidate.connectivity} ef={r.ef}",
                     f"{r.recall:.3f}" + ("" if r.recall >= target else " (below)"), f"{r.p50:.3f}", f"{r.p95:.3f}",
                     f"{r.p50 / (faiss_beside(results, r.index, base.ef) or base.p50):.2f}×" if base else "-",
                     f"{built['bytes'] / n:.0f}",
                     f"{built['seconds']:.0f}" + (" (niced)" if built.get("nice") else ""),
                     f"{built['seconds'] / faiss_build:.2f}×" if faiss_build else "-"])
    header = ["index", "setting", "recall@10", "p50 ms", "p95 ms", "p50 vs faiss", "bytes/item", "build s",
              "build vs faiss"]
    return markdown_table(header, rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--connectivity", type=int, default=16, help="M, the same for every index")
    parser.add_argument("--ef", default="32,48,64,96,128,192,256",
                        help="search expansions to sweep; 'default': the engines' own for the index's size")
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--indexes", default="usearch-f32,usearch-f16,usearch-i8,usearch-i8-rescored,engine,faiss")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="build threads, the same for all")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("BENCH_CACHE", "/tmp/bench-hnsw")))
    parser.add_argument("--repeats", type=int, default=1, help="times the whole sweep runs (latencies pooled)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--section", default="hnsw", help="docs/benchmarks.md section to write")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.ef = [DEFAULT if v == "default" else int(v) for v in args.ef.split(",")]
    return args


def main() -> None:
    args = parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    data, queries, truth = dataset(args.cache, args.n, args.dims, args.queries, args.k)
    folder = args.cache / f"n{args.n}"
    folder.mkdir(exist_ok=True)
    found = candidates(args.indexes.split(","), args.connectivity)
    builds = build_all(found, data, folder, args.threads)
    if args.build_only:
        print(json.dumps(builds, indent=1))
        return
    for candidate in found:
        candidate.open(folder / candidate.file, data)
    results = sweep(found, queries, truth, args.ef, args.k, args.repeats)
    full = markdown_table(["index", "ef", "recall@10", "p50 ms", "p95 ms"],
                          [[r.index, f"{r.ef} (default)" if r.default else r.ef, f"{r.recall:.3f}", f"{r.p50:.3f}",
                            f"{r.p95:.3f}"] for r in results])
    data = f"{args.n:,} × {args.dims} clustered unit vectors, {args.queries} held-out queries, k={args.k}"
    if DEFAULT in args.ef:
        table = defaults(results, args.target)
        fixed = ", ".join(str(ef) for ef in args.ef if ef != DEFAULT)
        body = (f"{NOTES}Libraries: {_versions()}.\n\n{data}, each engine with its default search expansion "
                f"(it follows the index's size) and with fixed ones (ef {fixed}), every setting in the same rotation "
                f"(each query runs on every index and setting in turn):\n\n{table}\n")
    else:
        table = summary(found, results, builds, args.n, args.target)
        body = (f"{NOTES}Libraries: {_versions()}.\n\n{data}, latency at the smallest ef with recall@{args.k} "
                f"≥ {args.target}:\n\n{table}\n\n"
                f"<details><summary>full sweep</summary>\n\n{full}\n\n</details>\n")
    print(f"\n{table}\n\n{full}")
    if not args.no_write:
        what = "The default search expansion" if DEFAULT in args.ef else "HNSW like for like"
        write_section(args.section, f"{what}, {args.n:,} × {args.dims} (bench_hnsw.py)", body)


NOTES = """Same graph for all (M, efConstruction 128; inner product on unit vectors, as the engines measure it,
the cosine for i8), built with the same threads; at search time one thread, one query per call. With
FAISS listed, each other index is timed in a pass of its own beside FAISS (each query on the two in
turn) and "p50 vs faiss" is to FAISS in that pass; FAISS's own row is its median pass. USearch files are opened as views
(memory-mapped), FAISS with `IO_FLAG_MMAP_IFC` (memory-mapped; `IO_FLAG_MMAP`, used before, reads an HNSW
file into memory). "i8 + f32 rescoring" asks the i8 index for 4×k candidates and
reorders them by exact f32 dot products read from a memory-mapped copy of the vectors (iconodex's
searcher rescores candidates from SQLite the same way). Bytes/item is the saved file over the item count;
"iconodex engine" is `UsearchEngine` read-only (the library call plus the manifest `stat` and conversions);
"iconodex FaissEngine" is `FaissEngine` read-only on a file it built and saved itself (`IO_FLAG_MMAP_IFC`).
Every file is read once before the queries, so all start with their bytes in the page cache.
"""


if __name__ == "__main__":
    main()
