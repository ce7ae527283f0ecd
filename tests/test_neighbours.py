"""Bulk neighbours (ONiT's query_similarities): checked against brute force over stored vectors."""

from __future__ import annotations

import io
import json

from _formats_helpers import PICTURES, catalogue_collection, vectors_by_id  # noqa: F401
from click.testing import CliRunner

from iconodex.cli import cli
from iconodex.neighbours import all_ids, neighbour_entries, write_json_array


def brute_force(coll, item_id, k):
    vectors = vectors_by_id(coll, coll.similar_space)
    scores = {other: float(vectors[item_id] @ v) for other, v in vectors.items() if other != item_id}
    return sorted(scores, key=lambda other: -scores[other])[:k], scores


def test_matches_brute_force_across_batches(catalogue_collection):  # noqa: F811
    ids = ["101", "104", "108", "102", "106"]
    entries = list(neighbour_entries(catalogue_collection, ids, k=4, batch=2))
    assert [e["reference"]["id"] for e in entries] == ids
    for entry in entries:
        expected, scores = brute_force(catalogue_collection, entry["reference"]["id"], 4)
        got = [n["id"] for n in entry["neighbours"]]
        assert got == expected
        assert all(abs(n["score"] - scores[n["id"]]) < 1e-4 for n in entry["neighbours"])
        assert entry["reference"]["local_url"].endswith((".png", ".jpg"))


def test_unknown_ids_are_reported_not_fatal(catalogue_collection):  # noqa: F811
    missing: list[str] = []
    entries = list(neighbour_entries(catalogue_collection, ["101", "nope", " ", "102"], k=2, missing=missing))
    assert [e["reference"]["id"] for e in entries] == ["101", "102"] and missing == ["nope"]


def test_all_streams_valid_json(catalogue_collection):  # noqa: F811
    out = io.StringIO()
    count = write_json_array(neighbour_entries(catalogue_collection, all_ids(catalogue_collection), k=50), out)
    data = json.loads(out.getvalue())
    assert count == len(data) == len(PICTURES)
    assert all(len(e["neighbours"]) == len(PICTURES) - 1 for e in data)
    empty = io.StringIO()
    assert write_json_array(iter(()), empty) == 0 and json.loads(empty.getvalue()) == []


def test_cli_reads_ids_from_stdin(catalogue_collection, tmp_path):  # noqa: F811
    out = tmp_path / "neighbours.json"
    result = CliRunner().invoke(cli, ["neighbours", "-c", str(catalogue_collection.path), "--ids", "-",
                                      "--k", "3", "-o", str(out)], input="103\nmissing\n")
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data[0]["reference"]["id"] == "103" and len(data[0]["neighbours"]) == 3
    assert "missing" in result.output
    bad = CliRunner().invoke(cli, ["neighbours", "-c", str(catalogue_collection.path)])
    assert bad.exit_code != 0


def test_a_single_reference(catalogue_collection):  # noqa: F811
    entries = list(neighbour_entries(catalogue_collection, ["105"], k=2))
    assert [n["id"] for n in entries[0]["neighbours"]] == brute_force(catalogue_collection, "105", 2)[0]


def test_the_command_says_which_ids_are_missing_once(catalogue_collection, tmp_path, capsys):  # noqa: F811
    """The library's warning and the command's own line said the same thing twice."""
    from _cli import run_cli

    ids = tmp_path / "ids.txt"
    ids.write_text("103\nmissing\n")
    code, _, err = run_cli(capsys, "neighbours", "-c", str(catalogue_collection.path), "--ids", str(ids),
                           "--k", "2", "-o", str(tmp_path / "out.json"))
    assert code == 0 and err.count("'missing'") == 1, err
