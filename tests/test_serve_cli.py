"""``iconodex serve`` as an operator runs it: a real process, a real port, a clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from _net import free_port
from _serve_fixtures import SKIMAGE_DATA, shared_collection
from _servers_fetch import Reply, scripted_server

ICONODEX = [sys.executable, "-c", "from iconodex.cli import main; main()"]


def test_serve_answers_like_queries_and_stops_on_ctrl_c():
    port = free_port()
    process = subprocess.Popen([*ICONODEX, "serve", "-c", str(shared_collection().path), "--port", str(port),
                                "--no-model"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = _wait(f"http://127.0.0.1:{port}/health")
        assert health == {"status": "ok", "model": "off", "items": 8, "index": {"state": "ok"}}
        like = httpx.get(f"http://127.0.0.1:{port}/search", params={"like": "chelsea.png"}, trust_env=False)
        assert like.status_code == 200 and like.json()["results"]
        refused = httpx.delete(f"http://127.0.0.1:{port}/items/chelsea.png", trust_env=False)
        assert refused.status_code == 403  # no key configured: read-only
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert "serving 8 items" in stderr and "Traceback" not in stderr


def test_private_without_a_key_is_a_one_line_error():
    done = subprocess.run([*ICONODEX, "serve", "-c", str(shared_collection().path), "--private"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --private needs an API key (--api-key or $ICONODEX_API_KEY)"


def _wait(url: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, trust_env=False).json()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_allowed_hosts_and_ingest_roots_come_from_the_command_line_and_environment(tmp_path):
    """``--allow-host`` (also ``allow_hosts`` in the config, ``$ICONODEX_ALLOW_HOSTS``) lets URL
    searches and ingests reach an intranet host; ``$ICONODEX_INGEST_ROOTS`` (also ``--ingest-root``)
    names the folders ``POST /ingest`` may read."""
    port = free_port()
    root = tmp_path / "root"
    root.mkdir()
    env = {**os.environ, "ICONODEX_INGEST_ROOTS": str(root)}
    command = [*ICONODEX, "serve", "-c", str(shared_collection().path), "--port", str(port),
               "--api-key", "k", "--allow-host", "127.0.0.1"]
    with scripted_server() as web:
        image = web.route("/cat.png", Reply(200, (SKIMAGE_DATA / "chelsea.png").read_bytes()))
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_model(f"http://127.0.0.1:{port}/health")
            found = httpx.get(f"http://127.0.0.1:{port}/search", params={"url": image}, trust_env=False)
            assert found.status_code == 200 and web.hits_for("/cat.png")
            refused = httpx.post(f"http://127.0.0.1:{port}/ingest", json={"source": str(tmp_path)},
                                 headers={"X-API-Key": "k"}, trust_env=False)
            assert refused.status_code == 400 and "not under an ingest root" in refused.json()["error"]
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)


def _wait_for_model(url: str) -> None:
    deadline = time.monotonic() + 60
    while _wait(url)["model"] != "ready":
        assert time.monotonic() < deadline, "the model did not load"
        time.sleep(0.1)


def test_cache_mb_sizes_the_answer_cache_and_zero_turns_it_off():
    for option, second in ((), "hit"), (("--cache-mb", "0"), None):
        port = free_port()
        process = subprocess.Popen([*ICONODEX, "serve", "-c", str(shared_collection().path), "--port", str(port),
                                    "--no-model", *option], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{port}/health")
            answers = [httpx.get(f"http://127.0.0.1:{port}/search", params={"like": "horse.png"}, trust_env=False)
                       for _ in range(2)]
            assert answers[0].status_code == answers[1].status_code == 200
            assert answers[1].headers.get("x-iconodex-cache") == second
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(20)


def test_search_threads_sets_how_many_searches_run_at_once(monkeypatch):
    from click.testing import CliRunner

    import iconodex.serve
    from iconodex.cli import cli

    started = []
    monkeypatch.setattr(iconodex.serve, "run_server", lambda coll, settings, **where: started.append(settings.search_threads))
    runner = CliRunner()
    base = ["serve", "-c", str(shared_collection().path), "--no-model"]
    assert runner.invoke(cli, [*base, "--search-threads", "1"]).exit_code == 0
    assert runner.invoke(cli, base).exit_code == 0
    assert started == [1, min(4, len(os.sched_getaffinity(0)))]
    refused = runner.invoke(cli, [*base, "--search-threads", "0"])
    assert refused.exit_code == 2 and "--search-threads" in refused.output


PINNED_DEFAULT = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
                  "from iconodex.serve import ServeSettings; print(ServeSettings().search_threads)")


def test_a_server_given_one_core_computes_one_search_at_a_time():
    """More search threads than cores add no throughput, only contention for the GIL."""
    done = subprocess.run([sys.executable, "-c", PINNED_DEFAULT], capture_output=True, text=True, timeout=60,
                          env=os.environ)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.strip() == "1"
