"""The command line as a user runs it: output shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from _cli import run_cli as run


@pytest.fixture(scope="module")
def coll_dir(sample_pictures, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "coll"
    completed = subprocess.run([sys.executable, "-m", "iconodex", "ingest", str(sample_pictures), "-c", str(path),
                                "--quiet"], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "20 added" in completed.stderr
    return path


def test_search_json_has_the_documented_fields(capsys, coll_dir):
    code, out, _ = run(capsys, "search", "-c", str(coll_dir), "a cat", "--limit", "3", "--min-score", "0", "--json")
    results = json.loads(out)
    assert code == 0 and len(results) == 3 and results[0]["id"] == "chelsea.png"
    assert {"id", "score", "title", "image", "source", "metadata"} <= set(results[0])


def test_search_flags(capsys, coll_dir, sample_pictures):
    _, out, _ = run(capsys, "search", "-c", str(coll_dir), "space", "--where", "subject=spaceflight",
                    "--alpha", "0.6", "--min-score", "-1", "--json")
    assert {r["id"] for r in json.loads(out)} == {"astronaut.png", "hubble_deep_field.jpg", "rocket.jpg"}
    _, out, _ = run(capsys, "search", "-c", str(coll_dir), "--like", "chelsea.png", "--json")
    assert "chelsea.png" not in [r["id"] for r in json.loads(out)]
    _, out, _ = run(capsys, "search", "-c", str(coll_dir), "--image", str(sample_pictures / "coffee.png"), "--json")
    assert json.loads(out)[0]["id"] == "coffee.png"
    _, out, _ = run(capsys, "search", "-c", str(coll_dir), "a cat", "--no-keyword", "--offset", "1", "--json")
    assert all("keyword_rank" not in r["scores"] for r in json.loads(out))
    code, out, _ = run(capsys, "search", "-c", str(coll_dir), "a cat")
    assert code == 0 and "chelsea.png" in out


def test_info_json_and_failures(capsys, coll_dir):
    _, out, _ = run(capsys, "info", "-c", str(coll_dir), "--json")
    info = json.loads(out)
    assert info["indexed"] == 20 and info["model"] == "offline"
    assert set(info["spaces"]) == {"image", "text", "visual"}
    _, out, _ = run(capsys, "info", "-c", str(coll_dir), "--failures", "--json")
    assert json.loads(out)["failures"] == []


def test_info_names_the_offline_variant_and_version(capsys, coll_dir):
    """Lite0 and Lite2 collections both say "offline": the first line tells them apart."""
    _, out, _ = run(capsys, "info", "-c", str(coll_dir))
    assert "model offline (lite2, version 3)" in out.splitlines()[0], out


@pytest.mark.parametrize("args, message", [
    (("search", "-c", "{missing}", "cat"), "is not an iconodex collection"),
    (("search", "-c", "{coll}", "cat", "--where", "nonsense"), "--where expects field=value"),
    (("search", "-c", "{coll}", "cat", "--limit", "0"), "limit must be between"),
    (("search", "-c", "{coll}"), "give a text, --image or --like"),
    (("search", "-c", "{coll}", "--like", "nope"), "no item with id"),
    (("search", "-c", "{coll}", "--image", "/no/such.jpg"), "does not exist"),
    (("search", "-c", "{coll}", "--image", "{coll}"), "is a folder; give one picture"),
    (("ingest", "/no/such/folder", "-c", "{coll}"), "/no/such/folder: no such file or folder"),
    (("ingest", ".", "-c", "{coll}", "--model", "clip-vit-b32"), "cannot be mixed"),
    (("ingest", ".", "-c", "{coll}", "--dims", "64"), "fixed when a collection is created"),
    (("ingest", ".", "-c", "{coll}", "--source-type", "nosuch"), "unknown source 'nosuch'"),
    (("export", "-c", "{coll}", "onit-jsonl", "{missing}/out.jsonl"), "out.jsonl: No such file or directory"),
    # a template naming no field embedded no catalogue text at all, silently ({{ }} are format()'s braces)
    (("ingest", ".", "-c", "{missing}", "--text-template", "{{title"), "unbalanced brace"),
    (("ingest", ".", "-c", "{missing}", "--text-template", "Title: title"), "names no field in braces"),
    (("ingest", ".", "-c", "{missing}", "--text-template", "{{title}}}}"), "unbalanced brace"),
    (("ingest", ".", "-c", "{missing}", "--set", "chunk_size=0"), "chunk_size must be at least 1"),
    (("export", "-c", "{coll}", "hdf5", "{missing}/out.h5"), "No such file or directory"),
])
def test_bad_input_is_one_line(capsys, coll_dir, tmp_path, args, message):
    args = [a.format(coll=coll_dir, missing=tmp_path / "missing") for a in args]
    code, out, err = run(capsys, *args)
    assert code != 0 and message in err
    assert "Traceback" not in err and "unexpected" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("source, message", [
    ("{tmp}/no/such/folder", "no such file or folder"),
    ("{tmp}/pictures.csv", "no image column"),
    ("http://127.0.0.1:9/listing", "cannot tell what kind of source"),
])
@pytest.mark.parametrize("folder_existed", [False, True])
def test_a_first_ingest_whose_source_fails_leaves_no_collection_behind(capsys, tmp_path, sample_pictures, source,
                                                                        message, folder_existed):
    """A mistyped source used to leave an empty collection, which then fixed its model, engine and
    options: the corrected command, with the option meant from the start, was refused."""
    (tmp_path / "pictures.csv").write_text("name,creator\nChelsea,Stefan\n")
    target = tmp_path / "coll"
    if folder_existed:
        target.mkdir()
        (target / "notes.txt").write_text("the user's own file")
    code, _, err = run(capsys, "ingest", source.format(tmp=tmp_path), "-c", str(target))
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (target / "iconodex.db").exists()
    assert target.exists() == folder_existed
    assert not folder_existed or sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    code, _, err = run(capsys, "ingest", str(sample_pictures), "-c", str(target), "-q", "--model-option",
                       "variant=lite0")
    assert code == 0, err


def test_asking_a_collection_for_its_own_variant_resumes_and_another_names_the_one_it_has(capsys, coll_dir,
                                                                                           sample_pictures):
    """A collection made with the default variant said "made with variant=None" and refused even the
    variant it has."""
    code, _, err = run(capsys, "ingest", str(sample_pictures), "-c", str(coll_dir), "-q", "--model-option",
                       "variant=lite2")
    assert code == 0, err
    code, _, err = run(capsys, "ingest", str(sample_pictures), "-c", str(coll_dir), "-q", "--model-option",
                       "variant=lite0")
    assert code != 0 and "variant='lite2'" in err and "None" not in err, err

def test_deleting_an_unknown_id_says_so_and_sets_the_exit_status(capsys, tmp_path, sample_pictures):
    """A mistyped id said "0 removed" and exited 0, as if the delete had been done."""
    target = str(tmp_path / "coll")
    assert run(capsys, "ingest", str(sample_pictures), "-c", target, "-q")[0] == 0
    code, out, err = run(capsys, "delete", "coffee.png", "cofee.png", "-c", target)
    assert code == 1 and out.strip() == "1 removed", (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "'cofee.png'" in lines[0] and "coffee.png" not in lines[0].replace("'cofee.png'", "")
    code, out, err = run(capsys, "delete", "chelsea.png", "-c", target)
    assert code == 0 and out.strip() == "1 removed" and not err.strip()

def test_failed_items_set_the_exit_status(capsys, pictures, tmp_path):
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    code, _, err = run(capsys, "ingest", str(pictures), "-c", str(tmp_path / "c"), "--quiet")
    assert code == 1 and "1 failed" in err
    _, out, _ = run(capsys, "info", "-c", str(tmp_path / "c"), "--failures", "--json")
    failures = json.loads(out)["failures"]
    assert [f["id"] for f in failures] == ["broken.jpg"] and failures[0]["reason"]


def test_demo_without_serving(capsys, tmp_path):
    code, out, _ = run(capsys, "demo", "--dir", str(tmp_path / "demo"), "--no-serve", "--quiet")
    assert code == 0 and "20 pictures indexed" in out
    first_answer = out.split('search "a cat"')[1].splitlines()
    assert any("chelsea.png" in line for line in first_answer[:4])


def _on_a_terminal(*args: str) -> subprocess.CompletedProcess:
    """The command as a person at a terminal runs it (rich draws its bars when it believes so)."""
    env = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "120", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "iconodex", *args], capture_output=True, text=True, env=env)
    done.stderr = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stderr)  # the cursor's moves
    return done


def test_long_commands_draw_a_progress_bar_on_a_terminal_and_none_into_a_pipe(coll_dir, tmp_path):
    """Ingest had bars; reindex (minutes at a million items), repair, neighbours --all, export and import
    were silent until done."""
    copy = tmp_path / "coll"
    shutil.copytree(coll_dir, copy)
    shown = _on_a_terminal("reindex", "-c", str(copy), "--engine", "usearch")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"image\s.*20/20", shown.stderr) and re.search(r"visual\s.*20/20", shown.stderr), shown.stderr
    shown = _on_a_terminal("neighbours", "-c", str(copy), "--all", "--k", "2", "-o", str(tmp_path / "n.json"))
    assert shown.returncode == 0 and re.search(r"neighbours\s.*20/20", shown.stderr), shown.stderr
    shown = _on_a_terminal("repair", "-c", str(copy), "--all")
    assert shown.returncode == 0 and re.search(r"visual\s.*20/20", shown.stderr), shown.stderr
    for fmt, dest in (("hdf5", "out.h5"), ("uform-hf", "dataset")):
        shown = _on_a_terminal("export", fmt, str(tmp_path / dest), "-c", str(copy))
        assert shown.returncode == 0 and re.search(r"export\s.*20/20", shown.stderr), shown.stderr
        shown = _on_a_terminal("import", fmt, str(tmp_path / dest), "-c", str(tmp_path / f"from-{fmt}"))
        assert shown.returncode == 0 and re.search(r"import\s.*20/20", shown.stderr), shown.stderr
    piped = subprocess.run([sys.executable, "-m", "iconodex", "reindex", "-c", str(copy), "--engine", "usearch"],
                           capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                                if k not in ("TTY_COMPATIBLE", "FORCE_COLOR")})
    assert piped.returncode == 0 and "20/20" not in piped.stderr and piped.stderr.count("\n") == 1, piped.stderr



@pytest.mark.parametrize("command", [("info",), ("search", "a cat"), ("ingest", ".")])
def test_a_damaged_store_is_one_line_saying_what_to_do(capsys, tmp_path, command):
    """A store overwritten with other bytes gave "unexpected DatabaseError: file is not a database"."""
    damaged = tmp_path / "coll"
    damaged.mkdir()
    (damaged / "iconodex.db").write_bytes(bytes(range(256)) * 20)
    before = (damaged / "iconodex.db").read_bytes()
    code, _, err = run(capsys, *command[:1], "-c", str(damaged), *command[1:])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "unexpected" not in lines[0], err
    assert "iconodex.db" in lines[0] and "not a database" in lines[0] and "backup" in lines[0], err
    assert (damaged / "iconodex.db").read_bytes() == before  # nothing written over it
