"""``POST /ingest`` cannot make the server a proxy into its own network or a reader of its disk:
every URL it touches (the source document, the image URLs it lists, each redirect hop) passes the
same network guard as a URL search, and local paths are accepted only under the operator's roots.

Real collection, real model, real HTTP servers on 127.0.0.1; the app runs in-process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _serve_fixtures import SKIMAGE_DATA
from _servers_fetch import Reply, scripted_server
from fastapi.testclient import TestClient

from iconodex import Collection
from iconodex.serve import ServeSettings, create_app

KEY = "ingest-guard-key"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def coll(tmp_path_factory) -> Collection:
    collection = Collection.create(tmp_path_factory.mktemp("guarded") / "coll")
    yield collection
    collection.close()


def client(coll: Collection, **settings) -> TestClient:
    return TestClient(create_app(coll, ServeSettings(api_key=KEY, **settings)), raise_server_exceptions=False)


def ingest(coll: Collection, source: str, **settings):
    with client(coll, **settings) as running:
        return running.post("/ingest", json={"source": source}, headers=AUTH)


def picture(folder: Path, name: str = "coffee.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(SKIMAGE_DATA / name, folder / name))


def manifest(base: str, *image_urls: str) -> bytes:
    """A IIIF Presentation 3 manifest with one canvas per image URL."""
    canvases = [{
        "id": f"{base}/canvas/{n}", "type": "Canvas", "width": 64, "height": 48,
        "items": [{"id": f"{base}/page/{n}", "type": "AnnotationPage", "items": [{
            "id": f"{base}/anno/{n}", "type": "Annotation", "motivation": "painting", "target": f"{base}/canvas/{n}",
            "body": {"id": url, "type": "Image", "format": "image/jpeg", "width": 64, "height": 48}}]}],
    } for n, url in enumerate(image_urls)]
    return json.dumps({"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{base}/manifest.json",
                       "type": "Manifest", "label": {"en": ["guarded"]}, "items": canvases}).encode()


def jpeg() -> bytes:
    return (SKIMAGE_DATA / "rocket.jpg").read_bytes()


# -- local paths --------------------------------------------------------------------------------

def test_local_paths_are_refused_unless_the_operator_named_ingest_roots(coll, tmp_path):
    before = coll.stats()["items"]
    for source in ("/etc", str(picture(tmp_path / "pictures").parent)):
        response = ingest(coll, source)
        assert response.status_code == 400, response.text
        assert "--ingest-root" in response.json()["error"]
    assert coll.stats()["items"] == before


def test_only_paths_under_an_ingest_root_are_read(coll, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    picture(root / "pictures")
    picture(outside, "horse.png")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    settings = {"ingest_roots": (str(root),)}
    for source in (str(outside), f"{root}/../outside", str(root / "escape")):
        response = ingest(coll, source, **settings)
        assert response.status_code == 400 and "not under" in response.json()["error"], (source, response.text)
    report = ingest(coll, str(root / "pictures"), **settings).json()
    assert (report["added"], report["indexed"], report["failed"]) == (1, 1, [])


def test_a_list_under_a_root_cannot_name_pictures_outside_it(coll, tmp_path):
    root = tmp_path / "root"
    inside = picture(root)
    secret = picture(tmp_path / "private", "astronaut.png")
    listing = root / "list.csv"
    listing.write_text(f"id,title,image\nin,Inside,{inside}\nout,Outside,{secret}\n", encoding="utf-8")
    report = ingest(coll, str(listing), ingest_roots=(str(root),)).json()
    [(failed_id, reason)] = report["failed"]
    assert report["indexed"] == 1 and "not under" in reason, report
    refused = coll.get(failed_id)
    assert refused.image.location == str(secret) and refused.status == "failed"


def test_client_options_cannot_move_the_work_folder(coll, tmp_path):
    with client(coll, ingest_roots=(str(tmp_path),)) as running:
        body = {"source": str(picture(tmp_path / "p").parent), "options": {"workdir": "/etc"}}
        response = running.post("/ingest", json=body, headers=AUTH)
    assert response.status_code == 400 and "workdir" in response.json()["error"]


# -- URLs ---------------------------------------------------------------------------------------

def test_source_urls_into_the_servers_network_are_refused(coll):
    with scripted_server() as web:
        url = web.route("/manifest.json", Reply(200, manifest("http://example.org", "http://example.org/a.jpg")))
        report = ingest(coll, url).json()
        assert web.hits == []  # nothing was sent to the loopback server
    failures = report["harvest"]["failed"]
    assert failures and "refused: 127.0.0.1 resolves to loopback" in failures[0][1]


def test_every_image_url_and_redirect_hop_is_checked(coll):
    """The document's host is allowed; its image URLs must pass the guard on their own."""
    with scripted_server() as web:
        loopback_by_name = f"http://localhost:{web.port}"
        good = web.route("/good.jpg", Reply(200, jpeg(), {"Content-Type": "image/jpeg"}))
        hop = web.route("/hop.jpg", Reply(302, headers={"Location": f"{loopback_by_name}/secret-hop.jpg"}))
        web.route("/secret-hop.jpg", Reply(200, jpeg(), {"Content-Type": "image/jpeg"}))
        web.route("/secret.jpg", Reply(200, jpeg(), {"Content-Type": "image/jpeg"}))
        images = (good, hop, f"{loopback_by_name}/secret.jpg", "http://169.254.169.254/latest/meta-data/x.jpg")
        url = web.route("/manifest.json", Reply(200, manifest(web.base, *images)))
        report = ingest(coll, url, fetch_allow_hosts=("127.0.0.1",)).json()
        asked = {hit.path for hit in web.hits}
    assert asked == {"/manifest.json", "/good.jpg", "/hop.jpg"}, asked
    assert report["indexed"] == 1 and len(report["failed"]) == 3, report
    assert all("refused" in reason for _id, reason in report["failed"])


def test_allowed_hosts_are_reached(coll):
    with scripted_server() as web:
        image = web.route("/ok.jpg", Reply(200, jpeg(), {"Content-Type": "image/jpeg"}))
        url = web.route("/manifest.json", Reply(200, manifest(web.base, image)))
        report = ingest(coll, url, fetch_allow_hosts=("127.0.0.1",)).json()
    assert report["indexed"] == 1 and report["failed"] == [] and report["harvest"]["failed"] == []


def test_a_dataset_under_a_root_with_embedded_pictures_is_ingested(coll, tmp_path):
    """Embedded pictures are written to the server's own work folder, which the ingest may read back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "root"
    root.mkdir()
    pq.write_table(pa.table({"image": [{"bytes": jpeg(), "path": "rocket.jpg"}], "caption": ["a rocket"]}),
                   root / "train.parquet")
    report = ingest(coll, str(root / "train.parquet"), ingest_roots=(str(root),)).json()
    assert (report["indexed"], report["failed"]) == (1, []), report


def test_an_environment_proxy_cannot_carry_the_ingest_past_the_guard(coll, monkeypatch):
    """A proxy would connect on the server's behalf, unchecked: the guarded client ignores $HTTP_PROXY."""
    with scripted_server() as proxy, scripted_server() as web:
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        url = web.route("/manifest.json", Reply(200, manifest(web.base)))
        ingest(coll, url, fetch_allow_hosts=("127.0.0.1",))
        assert proxy.hits == [] and web.hits_for("/manifest.json")
