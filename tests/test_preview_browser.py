"""The neighbours preview, opened in headless Chromium: every picture loads, scores show.

Local pictures are inlined; remote IIIF pictures come from a small IIIF-style server on
127.0.0.1 (linked as thumbnail requests, or inlined with ``embed=True`` and then viewed offline).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from _formats_helpers import SKIMAGE, catalogue_collection  # noqa: F401
from PIL import Image

from iconodex.neighbours import all_ids, neighbour_entries
from iconodex.preview import load_entries, render, write_preview

BROWSER_DIR = Path(__file__).parent / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.browser


class IiifHandler(BaseHTTPRequestHandler):
    """Serves ``/iiif/<name>/full/<size>/0/default.jpg`` from skimage's pictures."""

    def do_GET(self) -> None:  # noqa: N802
        parts = self.path.split("/")
        source = SKIMAGE / f"{parts[2]}.png" if len(parts) > 2 else None
        if source is None or not source.exists() or not self.path.endswith("default.jpg"):
            self.send_error(404)
            return
        image = Image.open(source).convert("RGB")
        image.thumbnail((256, 256))
        body = _jpeg(image)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _jpeg(image: Image.Image) -> bytes:
    import io

    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def iiif_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), IiifHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/iiif"
    server.shutdown()
    server.server_close()


def run_browser(page: Path, screenshot: Path, offline: bool = False) -> dict:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    if shutil.which("node") is None or not (BROWSER_DIR / "node_modules" / "playwright-core").exists():
        pytest.skip("node or playwright-core missing (npm install --prefix tests/browser playwright-core)")
    args = ["node", str(BROWSER_DIR / "preview_check.mjs"), str(page), str(screenshot)] + (["--offline"] if offline else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_local_pictures_are_inlined(catalogue_collection, tmp_path):  # noqa: F811
    src = tmp_path / "neighbours.json"
    src.write_text(json.dumps(list(neighbour_entries(catalogue_collection, all_ids(catalogue_collection), k=4))))
    rows = write_preview(src, tmp_path / "preview.html")
    page = (tmp_path / "preview.html").read_text()
    assert rows == 8 and page.count('src="data:image/jpeg;base64,') == 8 * 5
    report = run_browser(tmp_path / "preview.html", tmp_path / "local.png", offline=True)
    assert report["rows"] == 8 and report["images"] == 8 * 5
    assert report["loaded"] == report["images"], report["broken"]
    assert len(report["scores"]) == 8 * 4 and all(float(s) > -1 for s in report["scores"])


def remote_entries(base: str) -> list[dict]:
    names = ["chelsea", "coffee", "astronaut", "horse", "camera"]
    return [{"reference": {"id": name, "iiif_url": f"{base}/{name}/full/full/0/default.jpg"},
             "neighbours": [{"id": other, "iiif_url": f"{base}/{other}/full/max/0/default.jpg", "score": 0.9 - i / 10}
                            for i, other in enumerate(n for n in names if n != name)]}
            for name in names[:2]] + [{"reference": {"id": "gone", "local_url": "/nonexistent/x.jpg"}, "neighbours": []}]


def test_remote_iiif_thumbnails_and_embed(iiif_server, tmp_path):
    entries = remote_entries(iiif_server)
    linked = tmp_path / "linked.html"
    linked.write_text(render(entries))
    assert f"{iiif_server}/chelsea/full/!192,192/0/default.jpg" in linked.read_text()
    report = run_browser(linked, tmp_path / "linked.png")
    assert report["images"] == 10 and report["loaded"] == 10, report["broken"]  # "gone" shows a placeholder
    assert report["scores"][:2] == ["0.900", "0.800"]
    embedded = tmp_path / "embedded.html"
    embedded.write_text(render(entries, embed=True))
    assert iiif_server not in embedded.read_text().split("<body>")[1].replace('title="', "")
    report = run_browser(embedded, tmp_path / "embedded.png", offline=True)
    assert report["loaded"] == report["images"] == 10


def test_bad_json_is_one_line_error(tmp_path):
    from iconodex.errors import SourceError

    (tmp_path / "x.json").write_text('{"not": "a list"}')
    with pytest.raises(SourceError, match="not a neighbours file"):
        load_entries(tmp_path / "x.json")
