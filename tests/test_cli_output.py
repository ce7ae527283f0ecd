"""What the command line prints into pipes: nothing cut, no bars, no wrapping, a plain format for scripts.

The CLI runs in a subprocess with stdout and stderr as pipes, as a script or ``| less`` would see it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iconodex import Collection

LONG = "a-picture-with-a-rather-long-file-name-that-no-terminal-of-eighty-columns-would-hold"


def iconodex(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm-256color"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "iconodex", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def ingested(sample_pictures: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The sample pictures under a deep folder, Chelsea renamed to a long name, one broken file,
    ingested by the CLI into pipes: the folder's parent and what the ingest printed."""
    root = tmp_path_factory.mktemp("output") / ("deeply-nested-folder-of-my-pictures-" * 2).rstrip("-")
    folder = root / "pictures"
    shutil.copytree(sample_pictures, folder)
    (folder / "chelsea.png").rename(folder / f"{LONG}.png")
    (folder / "chelsea.json").rename(folder / f"{LONG}.json")
    (folder / f"{LONG}-broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root, iconodex("ingest", str(folder), "-c", str(root / "coll"))


@pytest.fixture(scope="module")
def long_collection(ingested) -> Path:
    return ingested[0]


@pytest.fixture(scope="module")
def ranked(long_collection) -> Iterator[Callable[..., list[dict]]]:
    """The results a search should print, from the collection itself (no cut: the output is tested)."""
    with Collection.open(long_collection / "coll", read_only=True) as coll:
        yield lambda text, limit: [r.to_dict() for r in coll.search(text, limit=limit, min_score=0)]


def test_ingest_into_pipes_draws_no_bars_and_keeps_each_failure_on_one_line(ingested):
    _, done = ingested
    assert done.returncode == 1
    assert "━" not in done.stderr and "\r" not in done.stderr and "\x1b[" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "21 added, 0 updated, 0 retried, 0 unchanged, 0 deleted, 20 indexed, 1 failed"
    failure = [line for line in lines if line.startswith("  failed:")]
    assert len(failure) == 1 and failure[0].startswith(f"  failed: {LONG}-broken.jpg: ")
    kinds = [line for line in lines if line.startswith("failed: 1 item")]
    assert len(kinds) == 1 and kinds[0].endswith(f"({LONG}-broken.jpg)")
    assert len(lines) == 3  # each reason is whole, on its line


def test_search_table_in_a_pipe_cuts_no_name_or_path(long_collection, ranked):
    coll = long_collection / "coll"
    expected = ranked("a cat", 3)
    done = iconodex("search", "-c", str(coll), "a cat", "--min-score", "0", "--limit", "3")
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["score", "id", "title", "image"]
    assert len(lines) == 4 and "…" not in done.stdout and "\x1b[" not in done.stdout
    for line, result in zip(lines[1:], expected, strict=True):
        assert line.startswith(f"{result['score']:.3f}  {result['id']}  ")
        assert f"  {result['title']}  " in line and line.endswith(f"  {result['image']}")
    assert expected[0]["id"] == f"{LONG}.png"


def test_search_paths_format_prints_one_whole_path_per_line(long_collection, ranked):
    coll = long_collection / "coll"
    expected = ranked("a cat", 5)
    done = iconodex("search", "-c", str(coll), "a cat", "--min-score", "0", "--limit", "5", "--format", "paths")
    assert done.stdout.splitlines() == [result["image"] for result in expected]
    assert done.stdout.splitlines()[0] == str(long_collection / "pictures" / f"{LONG}.png")


def test_search_tsv_format_has_a_header_and_every_field_whole(long_collection, ranked):
    coll = long_collection / "coll"
    expected = ranked("a cat", 4)
    done = iconodex("search", "-c", str(coll), "a cat", "--min-score", "0", "--limit", "4", "--format", "tsv")
    rows = list(csv.reader(io.StringIO(done.stdout), delimiter="\t"))
    assert rows[0] == ["score", "id", "title", "image"]
    assert rows[1:] == [[f"{r['score']:.3f}", r["id"], r["title"], r["image"]] for r in expected]


@pytest.mark.parametrize("flag", [("--json",), ("--format", "json")])
def test_search_json_flag_and_format_print_the_same_json(long_collection, ranked, flag):
    done = iconodex("search", "-c", str(long_collection / "coll"), "a cat", "--min-score", "0", "--limit", "2", *flag)
    assert json.loads(done.stdout) == ranked("a cat", 2)


def test_info_in_a_pipe_keeps_failure_reasons_and_paths_whole(long_collection):
    done = iconodex("info", "-c", str(long_collection / "coll"), "--failures")
    lines = done.stdout.splitlines()
    assert lines[0].startswith(str(long_collection / "coll") + "  model offline")
    failure = [line for line in lines if line.startswith("failed ")]
    assert len(failure) == 1 and failure[0].startswith(f"failed {LONG}-broken.jpg: ")
    assert lines[-1] == failure[0]
    assert any(line == f"source folder: {long_collection / 'pictures'} (runs: 1)" or
               line.startswith(f"source folder: {long_collection / 'pictures'} (") for line in lines)
    assert "\x1b[" not in done.stdout
