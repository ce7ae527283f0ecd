"""The API docs page (/docs) in headless Chromium with no network: Swagger UI's assets come from
the installed package, not a CDN, and the page keeps a strict Content-Security-Policy."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from _serve_fixtures import serve, shared_collection
from test_serve_browser import BROWSER_DIR, CHROMIUM, _missing

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def docs_seen() -> dict:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    with serve(shared_collection()) as running:
        done = subprocess.run(["node", str(BROWSER_DIR / "docs_page.mjs"), running.base], capture_output=True,
                              text=True, timeout=120, cwd=BROWSER_DIR, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_docs_render_every_operation_without_network(docs_seen):
    assert not docs_seen["offsite"], docs_seen["offsite"]  # nothing asked of a CDN
    operations = {(op["method"], op["path"]) for op in docs_seen["operations"]}
    assert {("GET", "/search"), ("POST", "/search"), ("GET", "/query"), ("GET", "/health")} <= operations
    assert docs_seen["title"] and docs_seen["title"].startswith("iconodex")


def test_docs_page_has_a_strict_policy_and_no_errors(docs_seen):
    policy = docs_seen["csp"] or ""
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert not docs_seen["console"], docs_seen["console"]  # no script errors, no CSP violations
