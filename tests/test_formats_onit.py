"""ONiT's JSONL: the script's own field names, common variants, and bad lines skipped."""

from __future__ import annotations

import json

import numpy as np

from iconodex.formats import FORMATS
from iconodex.formats.onit_jsonl import parse_line

ONIT = FORMATS.get("onit-jsonl")


def test_onit_script_lines_and_variants(tmp_path):
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(4, 16)).astype(np.float32)
    lines = [
        {"id": "Z1_00002_page2_01", "local_url": "http://localhost/images/Z1/Z1_00002_page2_01.jpg",
         "iiif_url": "https://iiif.onb.ac.at/images/ABO/Z1/00002/23,22,614,395/full/0/native.jpg",
         "vec": vectors[0].tolist()},
        {"identifier": "b", "iiif": "https://example.org/iiif/b/full/max/0/default.jpg", "vector": vectors[1].tolist()},
        "not json at all",
        {"id": "c", "vec": [1.0, 2.0]},  # wrong size
        {"image_id": "d", "url": "https://example.org/d.jpg", "embedding": vectors[2].tolist()},
        {"id": "e", "vec": "oops"},
        {"id": "f", "reproduction": "pictures/f.jpg", "vec": vectors[3].tolist()},
    ]
    src = tmp_path / "results_256.jsonl"
    src.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n\n")
    coll, report = ONIT.import_(src, tmp_path / "coll", batch=2)
    with coll:
        assert report.items == 4
        assert [where for where, _ in report.skipped] == ["line 3", "line 4", "line 6"]
        first = coll.get("Z1_00002_page2_01").image
        assert (first.kind, first.location) == ("iiif", "https://iiif.onb.ac.at/images/ABO/Z1/00002")
        assert coll.get("b").image.location == "https://example.org/iiif/b"
        assert coll.get("d").image.kind == "url" and coll.get("f").image.kind == "path"
        assert coll.similar_space == "visual" and coll.model_name == "none"
        stored = {i: v for ids, m in coll.vectors("visual") for i, v in zip(ids, m, strict=True)}
        unit = vectors[0] / np.linalg.norm(vectors[0])
        assert np.allclose(stored["Z1_00002_page2_01"], unit, atol=1e-6)


def test_parse_line_float32_exact():
    vector = np.random.default_rng(0).normal(size=300).astype(np.float32)
    record, parsed = parse_line(json.dumps({"id": 7, "vec": vector.tolist(), "title": "T"}))
    assert record.id == "7" and record.title == "T" and np.array_equal(parsed, vector)


def test_an_import_whose_every_line_is_skipped_is_an_error_and_leaves_no_collection(tmp_path, capsys):
    """It said "imported 0 item(s)" and exited 0, leaving an empty collection behind."""
    from _cli import run_cli

    src = tmp_path / "neighbours.jsonl"
    src.write_text('{"bad": 1}\n{"id": "a"}\n')
    code, out, err = run_cli(capsys, "import", "onit-jsonl", str(src), "-c", str(tmp_path / "coll"))
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "nothing imported" in lines[0] and "line 1" in lines[0], (out, err)
    assert not (tmp_path / "coll").exists()
