"""Model files in the Hugging Face cache layout, local directories, and the ``models`` CLI."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tiny_models as tiny  # noqa: E402

from iconodex.cli.models_cmd import command as models_cli  # noqa: E402
from iconodex.errors import ModelNotAvailableError  # noqa: E402
from iconodex.models.catalog import CATALOG, find_entry  # noqa: E402
from iconodex.models.hub import (  # noqa: E402
    cached_snapshot,
    fetch_model_files,
    hub_cache_dir,
    local_model_files,
    missing_from_cache,
    offline_requested,
)


def test_cache_dir_honours_hf_hub_cache_then_hf_home(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "explicit"))
    assert hub_cache_dir() == tmp_path / "explicit"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_offline_comes_from_the_flag_or_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert offline_requested() is expected
    assert offline_requested(True) is True


def test_offline_fetch_resolves_the_cached_snapshot(hub_cache):
    entry = CATALOG["siglip2-base"]
    snapshot = tiny.write_hub_repo(hub_cache, entry.repo_id, tiny.siglip_files())
    files = fetch_model_files(entry.repo_id, entry.files, label=entry.name, optional=entry.fp16_files)
    assert files.root == snapshot and files.revision == tiny.REVISION
    assert set(files.paths) == set(entry.files)  # absent fp16 twins are optional
    assert files.path("onnx/text_model.onnx").read_bytes()[:2]
    assert cached_snapshot(entry.repo_id) == snapshot
    assert missing_from_cache(entry.repo_id, entry.files) == []


def test_missing_from_cache_lists_what_a_partial_copy_lacks(hub_cache):
    entry = CATALOG["uform3-multilingual"]
    assert missing_from_cache(entry.repo_id, entry.files) == list(entry.files)
    snapshot = tiny.write_hub_repo(hub_cache, entry.repo_id, tiny.uform_files())
    (snapshot / "tokenizer.json").unlink()
    assert missing_from_cache(entry.repo_id, entry.files) == ["tokenizer.json"]
    with pytest.raises(ModelNotAvailableError, match=r"is missing tokenizer\.json: offline mode"):
        fetch_model_files(entry.repo_id, entry.files, label=entry.name)


def test_local_directory_digests_are_sha256_of_contents(tmp_path):
    import hashlib

    files = tiny.uform_files()
    directory = tiny.write_directory(tmp_path / "uform", files)
    resolved = local_model_files(directory, CATALOG["uform3-multilingual"].files, "uform")
    assert resolved.repo_id is None
    assert resolved.digest("tokenizer.json") == hashlib.sha256(files["tokenizer.json"]).hexdigest()


def test_find_entry_accepts_short_names_and_hub_ids():
    assert find_entry("CLIP-ViT-B32").name == "clip-vit-b32"
    assert find_entry("unum-cloud/uform3-image-text-multilingual-base").name == "uform3-multilingual"
    assert find_entry("nothing") is None


def test_models_list_shows_what_is_cached(hub_cache):
    tiny.write_hub_repo(hub_cache, CATALOG["clip-vit-b32"].repo_id, tiny.hf_clip_files())
    result = CliRunner().invoke(models_cli, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(rows) == set(CATALOG)
    assert rows["clip-vit-b32"]["cached"] == "yes" and rows["siglip2-base"]["cached"] == "no"
    table = CliRunner().invoke(models_cli, ["list"])
    assert table.exit_code == 0 and "uform3-multilingual" in table.output and "Apache-2.0" in table.output


def test_models_info_reads_the_models_own_config(hub_cache):
    tiny.write_hub_repo(hub_cache, CATALOG["siglip2-base"].repo_id, tiny.siglip_files())
    result = CliRunner().invoke(models_cli, ["info", "siglip2-base", "--json"])
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["files"]["onnx/vision_model.onnx"][0] is True
    assert details["files"]["onnx/vision_model_fp16.onnx"][0] is False
    assert details["config"]["image"]["mode"] == "squash" and details["config"]["text"]["context_length"] == 64
    text = CliRunner().invoke(models_cli, ["info", "siglip2-base"])
    assert text.exit_code == 0 and "preprocessor_config.json" in text.output


def test_models_info_on_a_local_directory(tmp_path, hub_cache):
    directory = tiny.write_directory(tmp_path / "mclip", tiny.mclip_files())
    result = CliRunner().invoke(models_cli, ["info", str(directory), "--json"])
    assert result.exit_code == 0, result.output
    details = json.loads(result.output)
    assert details["family"] == "open_clip" and details["config"]["text"]["context_length"] == 77


def test_models_pull_offline_finds_the_cache_and_checks_the_files_load(hub_cache):
    tiny.write_hub_repo(hub_cache, CATALOG["uform3-multilingual"].repo_id, tiny.uform_files())
    result = CliRunner().invoke(models_cli, ["pull", "uform3-multilingual", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "ready offline" in result.output


def test_models_pull_of_an_uncached_model_offline_is_one_line(hub_cache):
    result = CliRunner().invoke(models_cli, ["pull", "mclip-xlmr-b32", "--quiet"])
    assert isinstance(result.exception, ModelNotAvailableError)
    assert "textual/model.onnx" in str(result.exception) and "\n" not in str(result.exception)


@pytest.fixture
def online_hub(tmp_path, monkeypatch):
    """A real HTTP hub on 127.0.0.1 and an empty cache, with offline mode off for this test."""
    from _servers_models import fake_hub
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # huggingface_hub reads it once, at import
    with fake_hub(tiny.REVISION) as (hub, url):
        monkeypatch.setenv("HF_ENDPOINT", url)
        yield hub, cache


def test_pull_downloads_into_the_hub_cache_then_works_offline(online_hub, monkeypatch):
    hub, cache = online_hub
    entry = CATALOG["clip-vit-b32"]
    hub.repos[entry.repo_id] = tiny.hf_clip_files()
    result = CliRunner().invoke(models_cli, ["pull", "clip-vit-b32", "--quiet"])
    assert result.exit_code == 0, result.output
    assert missing_from_cache(entry.repo_id, entry.files) == []
    assert (cache / "models--Xenova--clip-vit-base-patch32" / "refs" / "main").read_text() == tiny.REVISION
    hub.repos.clear()  # the hub is gone: the cache alone must serve the model now
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from iconodex.models.clip import load_clip

    assert load_clip("clip-vit-b32").describe()["revision"] == tiny.REVISION


def test_a_file_the_hub_lacks_is_named_in_one_line(online_hub):
    hub, _ = online_hub
    entry = CATALOG["siglip2-base"]
    files = tiny.siglip_files()
    del files["onnx/text_model.onnx"]
    hub.repos[entry.repo_id] = files
    with pytest.raises(ModelNotAvailableError) as caught:
        fetch_model_files(entry.repo_id, entry.files, label=entry.name)
    message = str(caught.value)
    assert "is missing onnx/text_model.onnx: downloading into" in message and "\n" not in message


def test_an_interrupted_download_resumes_where_it_stopped(online_hub):
    """huggingface_hub writes in 10 MiB chunks; a drop after two chunks must not fetch them again."""
    hub, _ = online_hub
    weights = np.random.default_rng(0).bytes(24 * 1024 * 1024)
    hub.repos["org/big-model"] = {"model.onnx": weights}
    hub.cut_once.add("model.onnx")
    resolved = fetch_model_files("org/big-model", ("model.onnx",), label="big-model")
    assert resolved.path("model.onnx").read_bytes() == weights
    ranges = [rng for method, url, rng in hub.requests if method == "GET" and rng]
    assert len(ranges) == 1 and int(ranges[0].removeprefix("bytes=").rstrip("-")) >= 10 * 1024 * 1024


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """An empty cache, offline mode off, and HF_ENDPOINT set by the test to a hub that is not there."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return tmp_path / "hub"


@contextmanager
def silent_listener() -> Iterator[tuple[str, list[socket.socket]]]:
    """A socket on 127.0.0.1 that accepts connections and never answers; yields its URL and the
    connections it accepted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_a_refusing_hub_fails_at_once_in_one_line_without_retries(no_hub, monkeypatch, caplog):
    from _net import free_port

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    entry = CATALOG["clip-vit-b32"]
    started = time.monotonic()
    with pytest.raises(ModelNotAvailableError) as caught:
        fetch_model_files(entry.repo_id, entry.files, label=entry.name)
    assert time.monotonic() - started < 20  # today: about 25 s of retries per file
    message = str(caught.value)
    assert "cannot be reached" in message and "Connection refused" in message and "\n" not in message
    assert "Retrying" not in caplog.text


def test_a_hub_that_never_answers_is_probed_once_then_given_up(no_hub, monkeypatch):
    with silent_listener() as (url, accepted):
        monkeypatch.setenv("HF_ENDPOINT", url)
        entry = CATALOG["clip-vit-b32"]
        with pytest.raises(ModelNotAvailableError, match=r"did not answer within 5 s"):
            fetch_model_files(entry.repo_id, entry.files, label=entry.name)
        assert len(accepted) == 1  # one probe, not one attempt per file and retry


def test_auto_falls_back_to_offline_at_once_when_the_hub_never_answers(no_hub, monkeypatch, caplog):
    from iconodex.models import load_model

    with silent_listener() as (url, accepted):
        monkeypatch.setenv("HF_ENDPOINT", url)
        with caplog.at_level("WARNING", logger="iconodex"):
            encoder = load_model("auto")
        assert encoder.describe()["name"] == "offline" and len(accepted) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "using the offline pack instead" in warnings[0]


def test_models_pull_with_no_hub_is_one_line(no_hub, monkeypatch):
    from _net import free_port

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    result = CliRunner().invoke(models_cli, ["pull", "uform3-multilingual", "--quiet"])
    assert isinstance(result.exception, ModelNotAvailableError)
    assert "cannot be downloaded: the hub" in str(result.exception) and "\n" not in str(result.exception)


def test_a_cached_model_loads_when_the_hub_is_unreachable(no_hub, monkeypatch):
    from _net import free_port

    entry = CATALOG["siglip2-base"]
    snapshot = tiny.write_hub_repo(no_hub, entry.repo_id, tiny.siglip_files())
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    files = fetch_model_files(entry.repo_id, entry.files, label=entry.name, optional=entry.fp16_files)
    assert files.root == snapshot and set(files.paths) == set(entry.files)
