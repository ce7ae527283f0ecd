"""evaluate() and `iconodex eval` on a small real collection of scikit-image pictures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

from iconodex import Collection
from iconodex.cli import cli
from iconodex.errors import ConfigError, NotFoundError
from iconodex.evaluate import evaluate, first_relevant_rank, load_queries, parse_query, recall_at

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"
TITLES = {
    "chelsea.png": "Chelsea, a tabby cat",
    "coffee.png": "A cup of coffee on a saucer",
    "rocket.jpg": "A rocket on the launch pad",
    "astronaut.png": "Portrait of an astronaut",
    "horse.png": "Silhouette of a horse",
    "coins.png": "Old Greek coins",
}


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """Six pictures with titled sidecars, plus a mirrored copy of the cat (its near-duplicate)."""
    root = tmp_path_factory.mktemp("eval")
    folder = root / "pictures"
    folder.mkdir()
    for name, title in TITLES.items():
        shutil.copy(SKIMAGE_DATA / name, folder / name)
        (folder / f"{Path(name).stem}.json").write_text(json.dumps({"title": title}))
    ImageOps.mirror(Image.open(SKIMAGE_DATA / "chelsea.png").convert("RGB")).save(folder / "chelsea_mirrored.png")
    with Collection.create(root / "coll") as coll:
        assert not coll.ingest(str(folder)).failed
    return root / "coll"


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


# -- metrics -----------------------------------------------------------------------------------

def test_recall_is_capped_by_the_number_of_relevant_items():
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, {"b"}, 1) == 0.0
    assert recall_at(ranked, {"b"}, 2) == 1.0
    assert recall_at(ranked, {"a", "c", "x"}, 1) == 1.0
    assert recall_at(ranked, {"a", "c", "x"}, 4) == pytest.approx(2 / 3)
    assert first_relevant_rank(ranked, {"c", "d"}) == 3
    assert first_relevant_rank(ranked, {"x"}) is None


# -- reading labelled sets ---------------------------------------------------------------------

def test_bad_lines_are_reported_with_their_numbers(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [
        {"text": "a cat", "relevant": ["chelsea.png"]},
        "{not json",
        {"text": "a cat", "like": "x", "relevant": ["y"]},
        {"text": "a cat", "relevant": []},
        "# a comment",
        {"like": "coins.png", "relevant": "horse.png", "alpha": 1},
        {"text": "x", "relevant": ["y"], "alpha": "high"},
    ])
    queries, bad = load_queries(path)
    assert [(q.line, q.kind) for q in queries] == [(1, "text"), (6, "like")]
    assert queries[1].relevant == ["horse.png"]
    assert [line for line, _ in bad] == [2, 3, 4, 7]
    assert "exactly one of" in dict(bad)[3] and "non-empty" in dict(bad)[4]


def test_image_paths_are_relative_to_the_labelled_set(tmp_path):
    query = parse_query({"image": "pics/a.jpg", "relevant": ["a"]}, 1, tmp_path)
    assert query.image == str(tmp_path / "pics" / "a.jpg")
    remote = parse_query({"image": "https://example.org/a.jpg", "relevant": ["a"]}, 1, tmp_path)
    assert remote.image == "https://example.org/a.jpg"


def test_missing_or_empty_labelled_set(tmp_path):
    with pytest.raises(NotFoundError):
        load_queries(tmp_path / "absent.jsonl")
    with pytest.raises(ConfigError, match="no queries"):
        load_queries(write_jsonl(tmp_path / "empty.jsonl", []))


def test_a_labelled_set_without_one_usable_query_is_an_error_naming_the_first_problem(tmp_path):
    """A file of the wrong kind was "evaluated": a table of 0 queries, MRR 0.000, exit status 0."""
    wrong = tmp_path / "notes.txt"
    wrong.write_text("a note, not a query\n{\"text\": \"a cat\"}\n")
    with pytest.raises(ConfigError, match=r"no usable query.*line 1: not JSON"):
        load_queries(wrong)


# -- evaluating a real collection --------------------------------------------------------------

def test_near_duplicate_and_query_picture_rank_first(collection, tmp_path):
    queries, _ = load_queries(write_jsonl(tmp_path / "q.jsonl", [
        {"like": "chelsea.png", "relevant": ["chelsea_mirrored.png"], "alpha": 1.0},
        {"image": str(SKIMAGE_DATA / "rocket.jpg"), "relevant": ["rocket.jpg"], "alpha": 1.0},
        {"text": "old greek coins", "relevant": ["coins.png"], "alpha": 0.0},
    ]))
    with Collection.open(collection, read_only=True) as coll:
        report = evaluate(coll, queries)
    assert report.queries == 3 and report.by_kind == {"like": 1, "image": 1, "text": 1}
    assert report.recall == {1: 1.0, 5: 1.0, 10: 1.0} and report.mrr == 1.0


def test_unfindable_labels_score_zero_and_broken_queries_are_skipped(collection, tmp_path):
    queries, bad = load_queries(write_jsonl(tmp_path / "q.jsonl", [
        {"like": "chelsea.png", "relevant": ["chelsea_mirrored.png"], "alpha": 1.0},
        {"like": "chelsea.png", "relevant": ["not-in-the-collection.png"]},
        {"like": "no-such-item", "relevant": ["coins.png"]},
        {"image": "missing.jpg", "relevant": ["coins.png"]},
        {"like": "horse.png", "relevant": ["horse.png"]},
        "[]",
    ]))
    with Collection.open(collection, read_only=True) as coll:
        report = evaluate(coll, queries, ks=(1, 3), skipped=bad)
    assert report.queries == 2
    assert report.recall == {1: 0.5, 3: 0.5} and report.mrr == 0.5
    assert sorted(line for line, _ in report.skipped) == [3, 4, 5, 6]
    reasons = dict(report.skipped)
    assert "no-such-item" in reasons[3] and "missing.jpg" in reasons[4] and "itself" in reasons[5]


def test_alpha_default_applies_only_where_a_query_has_none(collection, tmp_path):
    """The --alpha default steers the query without its own alpha; the other keeps alpha=0."""
    queries, _ = load_queries(write_jsonl(tmp_path / "q.jsonl", [
        {"text": "Silhouette of a horse", "relevant": ["horse.png"]},
        {"text": "Silhouette of a horse", "relevant": ["horse.png"], "alpha": 0.0},
    ]))
    with Collection.open(collection, read_only=True) as coll:
        catalogue = evaluate(coll, queries, ks=(1,), alpha=0.0, keyword=False)
        assert catalogue.recall[1] == 1.0
        ranked_pictures = [r.id for r in coll.search("Silhouette of a horse", alpha=1.0, keyword=False, limit=7,
                                                       min_score=0)]  # eval ranks uncut
        pictures = evaluate(coll, queries, ks=(7,), alpha=1.0, keyword=False)
    expected = (1 / (ranked_pictures.index("horse.png") + 1) + 1.0) / 2
    assert pictures.mrr == pytest.approx(expected)


# -- the command -------------------------------------------------------------------------------

def test_cli_json_and_compare_table(collection, tmp_path):
    labelled = write_jsonl(tmp_path / "q.jsonl", [
        {"like": "chelsea.png", "relevant": ["chelsea_mirrored.png"], "alpha": 1.0},
        "oops",
    ])
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "-c", str(collection), str(labelled), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["queries"] == 1 and data["recall"]["@1"] == 1.0 and data["skipped"][0]["line"] == 2
    result = runner.invoke(cli, ["eval", "-c", str(collection), str(labelled), "--compare", str(collection)])
    assert result.exit_code == 0, result.output
    assert result.output.count("offline") == 2 and "recall@10" in result.output and "line 2" in result.output


def test_cli_rejects_bad_alpha(collection, tmp_path):
    labelled = write_jsonl(tmp_path / "q.jsonl", [{"text": "cat", "relevant": ["chelsea.png"]}])
    result = CliRunner().invoke(cli, ["eval", "-c", str(collection), str(labelled), "--alpha", "2"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)


def test_cli_legs_ranks_the_same_queries_every_way(collection, tmp_path):
    labelled = write_jsonl(tmp_path / "q.jsonl", [
        {"text": "Greek coins", "relevant": ["coins.png"]},
        {"text": "tabby cat", "relevant": ["chelsea.png"], "alpha": 0.7},
        {"like": "chelsea.png", "relevant": ["chelsea_mirrored.png"]},
    ])
    result = CliRunner().invoke(cli, ["eval", "-c", str(collection), str(labelled), "--legs", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["variant"]: row for row in json.loads(result.output)}
    assert list(rows) == ["picture", "catalogue", "keyword", "hybrid (mean)", "hybrid (calibrated)"]
    assert rows["keyword"]["queries"] == 2 and rows["keyword"]["recall"]["@1"] == 1.0  # "like" is not text
    assert rows["catalogue"]["queries"] == 3
    queries, _ = load_queries(labelled)
    for query in queries:
        query.alpha = None  # the single legs ignore a query's own alpha: each is that leg alone for every query
    with Collection.open(collection, read_only=True) as coll:
        for name, alpha in (("picture", 1.0), ("catalogue", 0.0)):
            alone = evaluate(coll, queries, alpha=alpha, keyword=False).to_dict()
            assert (rows[name]["recall"], rows[name]["mrr"]) == (alone["recall"], alone["mrr"])
