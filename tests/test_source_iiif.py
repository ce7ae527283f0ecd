"""IIIF Presentation harvester over the real fixture manifests and collections, served on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import os
import time

import pytest
from _servers_fetch import Reply as ScriptedReply
from _servers_fetch import iiif_reference_server, iiif_script, recording_proxy, scripted_server, static_server
from _servers_harvest import (
    FIXTURES,
    AppServer,
    Reply,
    harvest,
    iipimage_missing,
    iipimage_server,
    load_fixture,
)
from PIL import Image

from iconodex.errors import ConfigError
from iconodex.fetch import iiif_image
from iconodex.fetch.http import HttpClient
from iconodex.fetch.images import ImageFetcher
from iconodex.sources import open_source
from iconodex.sources.iiif import IIIFSource
from iconodex.sources.iiif_model import thumbnail_url

IIIF = FIXTURES / "iiif"
REFERENCE = "https://iiif.io/api/image/3.0/example/reference/"


class IIIFSite:
    """Serves every fixture at ``/iiif/<file name>`` plus generated documents at their paths."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.server = AppServer(self.answer)
        self.base = self.server.base

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path in self.documents:
            return Reply(200, self.documents[path], {"Content-Type": "application/ld+json"})
        fixture = IIIF / path.removeprefix("/iiif/")
        if path.startswith("/iiif/") and fixture.is_file():
            return Reply(200, fixture.read_bytes(), {"Content-Type": "application/json"})
        return Reply(404, b"<html>not found</html>", {"Content-Type": "text/html"})

    def url(self, name: str) -> str:
        return f"{self.base}/iiif/{name}"

    def put(self, path: str, document: object) -> str:
        self.documents[path] = document if isinstance(document, bytes) else json.dumps(document).encode()
        return self.base + path


@pytest.fixture(scope="module")
def site():
    site = IIIFSite()
    with site.server:
        yield site


def run(site_or_path, name: str | None = None, **options):
    spec = site_or_path.url(name) if name else str(site_or_path)
    return harvest(open_source(spec, kind="iiif", options=options))


# file, records, first record's image (kind, location, api version)
CASES = [
    ("cookbook_0005_v3_image_service.json", 1, ("iiif", REFERENCE + "918ecd18c2592080851777620de9bcb5-gottingen", "3")),
    ("cookbook_0001_v3_no_service.json", 1,
     ("url", "https://iiif.io/api/presentation/2.1/example/fixtures/resources/page1-full.png", None)),
    ("cookbook_0033_v3_choice.json", 1, ("iiif", REFERENCE + "421e65be2ce95439b3ad6ef1f2ab87a9-dee-natural", "3")),
    ("cookbook_0036_v3_two_images_one_canvas.json", 1,
     ("iiif", REFERENCE + "899da506920824588764bc12b10fc800-bnf_chateauroux", "3")),
    ("cookbook_0057_v2_no_service.json", 1,
     ("url", "https://iiif.io/api/presentation/2.1/example/fixtures/resources/page1-full.png", None)),
    ("manifest_v2_bodleian.json", 2,
     ("iiif", "https://iiif.bodleian.ox.ac.uk/iiif/image/c042e80d-9542-45b6-afd5-4a8dfdfe8037", "2")),
    ("manifest_v2_gallica_imageapi1.json", 5, ("iiif", "https://gallica.bnf.fr/iiif/ark:/12148/btv1b53243704g/f70", "1.1")),
    ("manifest_v2_stanford_multi_canvas.json", 5,
     ("iiif", "https://stacks.stanford.edu/image/iiif/fg165hz3589%2Ffg165hz3589_1", "2")),
    ("manifest_v2_yale_imageapi11_trailing_slash.json", 1,
     ("iiif", "https://images.britishart.yale.edu/iiif/b38081da-8991-4464-a71e-d9891226a35f", "1.1")),
    ("manifest_v3_bodleian_service_object.json", 1,
     ("iiif", "https://iiif.bodleian.ox.ac.uk/iiif/image/9cca8fdd-4a61-4429-8ac1-f648764b4d6d", "2")),
    ("manifest_v3_choice_imageservice2.json", 1, ("iiif", "https://images.prtd.app/iiif/2/hamilton%2fHL_524_1r_00_PSC", "2")),
    ("manifest_v3_northwestern_imageservice2.json", 1,
     ("iiif", "https://iiif.dc.library.northwestern.edu/iiif/2/2ac7f817-1223-4388-93c3-f87f1d294f7e", "2")),
    ("manifest_v3_riksarkivet_two_services.json", 1, ("iiif", "https://lbiiif.riksarkivet.se/v3/arkis!40008772_00001", "3")),
    ("manifest_v3_sfo_level0.json", 2, ("iiif", "https://static.sfomuseum.org/media/176/270/383/1/tiles", "2")),
    ("cookbook_0117_v3_thumbnail.json", 1,
     ("iiif", REFERENCE + "4f92cceb12dd53b52433425ce44308c7-ucla_bib1987273_no001_rs_001_full", "3")),
]


@pytest.mark.parametrize(("name", "count", "image"), CASES, ids=[c[0] for c in CASES])
def test_every_fixture_manifest_gives_its_pictures(site, name, count, image):
    records, report = run(site, name)

    assert len(records) == count and report.harvested == count
    assert report.complete and not report.failed
    first = records[0]
    assert (first.image.kind, first.image.location, first.image.api_version) == image
    manifest = load_fixture("iiif", name)
    assert first.links["manifest"] == manifest.get("id", manifest.get("@id"))
    assert first.links["canvas"] == first.id  # one record per canvas, keyed by the canvas id
    assert first.title


def test_canvases_without_pictures_are_skipped_with_a_reason(site):
    video, video_report = run(site, "cookbook_0003_v3_video_only.json")
    missing, missing_report = run(site, "cookbook_0283_v3_missing_image.json")

    assert video == [] and video_report.skipped[0][1] == "no image on the canvas, only Video"
    assert len(missing) == 3
    assert missing_report.skipped == [
        ("https://iiif.io/api/cookbook/recipe/0283-missing-image/canvas/p2", "empty canvas: nothing is painted on it")
    ]


def test_all_images_gives_one_record_per_painted_image(site):
    records, _ = run(site, "cookbook_0036_v3_two_images_one_canvas.json", all_images=True)
    canvas = "https://iiif.io/api/cookbook/recipe/0036-composition-from-multiple-images/canvas/p1"
    assert [r.id for r in records] == [f"{canvas}#1", f"{canvas}#2"]
    assert records[0].image != records[1].image


def test_per_manifest_gives_one_record_per_manifest(site):
    records, _ = run(site, "manifest_v2_gallica_imageapi1.json", per="manifest")
    assert [r.id for r in records] == [load_fixture("iiif", "manifest_v2_gallica_imageapi1.json")["@id"]]


def test_language_maps_follow_the_preferred_languages(site):
    (english,), _ = run(site, "manifest_v3_riksarkivet_two_services.json")
    source = open_source(site.url("manifest_v3_riksarkivet_two_services.json"), kind="iiif")
    (swedish,), _ = harvest(source, languages=("sv",))

    assert english.metadata["Archive"] == ["Lantmäteristyrelsen"]  # label in English, value "none"
    assert swedish.metadata["Arkiv"] == ["Lantmäteristyrelsen"]
    assert "label@sv" in english.metadata and "label@en" in swedish.metadata  # other languages kept


def test_descriptive_fields_and_thumbnails(site):
    (playbill,), _ = run(site, "cookbook_0117_v3_thumbnail.json")
    (bodleian, _), _ = run(site, "manifest_v2_bodleian.json")

    assert playbill.links["thumbnail"].startswith(REFERENCE + "4f92cceb12dd53b52433425ce44308c7-ucla_bib1987273_no001_rs_001/")
    assert bodleian.metadata["navDate"] and bodleian.metadata["requiredStatement"]  # v2 attribution
    assert "Sheet 1" in bodleian.title  # manifest label + canvas label


@pytest.mark.parametrize("name", ["manifest_v2_stanford_multi_canvas.json", "manifest_v2_bodleian.json"])
def test_every_canvas_gets_its_own_thumbnail_never_the_manifests(site, name):
    records, _ = run(site, name)
    manifest_thumbnail = thumbnail_url(load_fixture("iiif", name))
    thumbnails = [record.links["thumbnail"] for record in records]
    assert len(records) > 1 and len(set(thumbnails)) == len(records)
    assert manifest_thumbnail not in thumbnails
    for record, thumbnail in zip(records, thumbnails, strict=True):
        assert thumbnail.startswith(record.image.location + "/full/")  # the canvas's own image service
        assert "/full/full/" not in thumbnail and "/full/max/" not in thumbnail


def test_a_canvas_thumbnail_is_preferred_to_its_image_service(site):
    manifest = copy.deepcopy(load_fixture("iiif", "manifest_v2_stanford_multi_canvas.json"))
    canvases = manifest["sequences"][0]["canvases"]
    canvases[1]["thumbnail"] = {"@id": "https://example.org/thumbs/page2.jpg"}
    records, _ = harvest(IIIFSource.from_spec(site.put("/thumbs/stanford.json", manifest), {}))
    assert records[1].links["thumbnail"] == "https://example.org/thumbs/page2.jpg"
    assert records[0].links["thumbnail"].startswith(records[0].image.location)


@pytest.mark.parametrize(
    ("name", "size", "request_size"),
    [("manifest_v2_yale_imageapi11_trailing_slash.json", (3603, 4438), "224,/0/native.jpg"),
     ("manifest_v2_gallica_imageapi1.json", (11072, 8034), "309,/0/native.jpg"),
     ("manifest_v3_bodleian_service_object.json", (5776, 9125), "224,/0/default.jpg")],
)
def test_manifest_images_are_requested_at_the_model_size(site, name, size, request_size):
    """The body's size rides along, so even a 1.1 level-1 service (Yale), which may refuse
    ``!w,h``, gets a ``w,`` request sized for the model on the first try."""
    record = run(site, name)[0][0]
    assert (record.image.width, record.image.height) == size
    assert iiif_image.image_url(record.image, 224) == f"{record.image.location}/full/{request_size}"


def _local_collection(site, name: str, members: list[str]) -> dict:
    """The real collection fixture with its members pointed at local fixture manifests."""
    collection = copy.deepcopy(load_fixture("iiif", name))
    key = "items" if "items" in collection else "manifests"
    for member, target in zip(collection[key], members * len(collection[key]), strict=False):
        member["id" if "id" in member else "@id"] = site.url(target)
    return collection


def test_collections_are_followed(site):
    v3 = _local_collection(site, "cookbook_0032_v3_collection.json",
                           ["cookbook_0005_v3_image_service.json", "manifest_v2_bodleian.json"])
    v2 = _local_collection(site, "collection_v2_theberlage.json", ["manifest_v3_sfo_level0.json"])
    v3_records, v3_report = harvest(IIIFSource.from_spec(site.put("/c/v3.json", v3), {}))
    v2_records, v2_report = harvest(IIIFSource.from_spec(site.put("/c/v2.json", v2), {}))

    assert len(v3_records) == 3 and v3_report.complete  # 1 + 2 canvases
    assert len(v2_records) == 2  # 20 members, all the same manifest: harvested once
    assert len(v2_report.skipped) == 19 and "already visited" in v2_report.skipped[0][1]


def test_collection_loops_and_depth_are_guarded(site):
    top, child = site.base + "/loop/top.json", site.base + "/loop/child.json"
    site.put("/loop/top.json", {"@context": "http://iiif.io/api/presentation/3/context.json", "id": top,
                                "type": "Collection", "items": [{"id": child, "type": "Collection"}]})
    site.put("/loop/child.json", {"@context": "http://iiif.io/api/presentation/3/context.json", "id": child,
                                  "type": "Collection", "items": [
                                      {"id": top, "type": "Collection"},
                                      {"id": site.url("cookbook_0005_v3_image_service.json"), "type": "Manifest"}]})
    records, report = harvest(IIIFSource.from_spec(top, {}))
    assert len(records) == 1 and report.skipped[0] == (top, "already visited (a collection loop or a repeated member)")

    _, shallow = harvest(IIIFSource.from_spec(top, {"max_depth": 1}))
    assert not shallow.complete and "nested deeper than 1" in shallow.failed[0][1]


def test_a_remote_collection_cannot_make_us_read_local_files(site, tmp_path):
    """Members of a document fetched over HTTP are URLs; a file path there would read this machine's disk."""
    local = tmp_path / "private-manifest.json"
    local.write_bytes((IIIF / "manifest_v2_bodleian.json").read_bytes())
    collection = {"@context": "http://iiif.io/api/presentation/3/context.json", "id": site.base + "/remote/c.json",
                  "type": "Collection", "items": [{"id": str(local), "type": "Manifest"},
                                                  {"id": site.url("cookbook_0005_v3_image_service.json"),
                                                   "type": "Manifest"}]}
    records, report = harvest(IIIFSource.from_spec(site.put("/remote/c.json", collection), {}))
    assert len(records) == 1  # only the URL member
    assert report.skipped == [(str(local), "not an http(s) URL that can be fetched; not followed")]


def test_collection_members_with_unsendable_urls_are_skipped_and_the_rest_goes_on(site):
    bad = ["https://iiif.example.org/\ud800/manifest.json", "https://iiif.example.org/a\u0000b.json", "https:///x.json"]
    items = [{"id": url, "type": "Manifest"} for url in bad]
    items.append({"id": site.url("cookbook_0005_v3_image_service.json"), "type": "Manifest"})
    text = json.dumps({"@context": "http://iiif.io/api/presentation/3/context.json", "id": site.base + "/odd/c.json",
                       "type": "Collection", "items": items})  # escapes keep the JSON valid
    records, report = harvest(IIIFSource.from_spec(site.put("/odd/c.json", text.encode()), {}))
    assert len(records) == 1
    assert [why for _, why in report.skipped] == ["not an http(s) URL that can be fetched; not followed"] * 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body>Server Error</body></html>", "not valid JSON"),
        (b'{"@context": "http://iiif.io/api/presentation/3/context.json", "type": "Manif', "not valid JSON"),
        (b"[1, 2, 3]", "not a IIIF document (a JSON list)"),
        ((IIIF / "info_v3_iiif_reference_gottingen.json").read_bytes(), "not a IIIF manifest or collection"),
    ],
    ids=["html", "truncated", "list", "info.json"],
)
def test_bad_documents_fail_with_one_line_and_the_rest_goes_on(site, body, reason):
    bad = site.put(f"/bad/{abs(hash(body))}.json", body)
    collection = {"@context": "http://iiif.io/api/presentation/3/context.json", "id": site.base + "/bad/c.json",
                  "type": "Collection", "items": [{"id": bad, "type": "Manifest"},
                                                  {"id": site.url("manifest_v2_bodleian.json"), "type": "Manifest"}]}
    records, report = harvest(IIIFSource.from_spec(site.put(f"/bad/c{abs(hash(body))}.json", collection), {}))

    assert len(records) == 2  # the good manifest still harvested
    assert not report.complete and len(report.failed) == 1
    where, why = report.failed[0]
    assert where == bad and reason in why and "\n" not in why


def test_local_files_detect_and_harvest():
    manifest = IIIF / "manifest_v2_stanford_multi_canvas.json"
    assert IIIFSource.detect(str(manifest))
    assert not IIIFSource.detect(str(IIIF / "info_v2_iipimage_uu.json"))
    assert len(harvest(open_source(str(manifest)))[0]) == 5
    with pytest.raises(ConfigError, match="per="):
        IIIFSource.from_spec(str(manifest), {"per": "page"})


# -- end to end: manifests whose services are real image servers ---------------------------------


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """One 900×600 test picture, as a JPEG for the reference server and a JPEG 2000 for iipsrv."""
    folder = tmp_path_factory.mktemp("pictures")
    picture = Image.radial_gradient("L").resize((900, 600)).convert("RGB")
    picture.save(folder / "plain.jpg", quality=90)
    picture.save(folder / "test.jp2")
    return folder


def _manifest(site: IIIFSite, services: list[dict]) -> str:
    canvases = [
        {"id": f"{site.base}/e2e/canvas/{n}", "type": "Canvas", "width": 900, "height": 600, "items": [
            {"id": f"{site.base}/e2e/page/{n}", "type": "AnnotationPage", "items": [
                {"id": f"{site.base}/e2e/anno/{n}", "type": "Annotation", "motivation": "painting",
                 "target": f"{site.base}/e2e/canvas/{n}",
                 "body": {"id": f"{service.get('id', service.get('@id'))}/full/max/0/default.jpg", "type": "Image",
                          "format": "image/jpeg", "service": [service]}}]}]}
        for n, service in enumerate(services)
    ]
    manifest = {"@context": "http://iiif.io/api/presentation/3/context.json", "id": f"{site.base}/e2e/manifest.json",
                "type": "Manifest", "label": {"en": ["Served by real image servers"]}, "items": canvases}
    return site.put(f"/e2e/{len(services)}-{abs(hash(json.dumps(services)))}.json", manifest)


def _fetched_sizes(records) -> list[tuple[int, int]]:
    with HttpClient(retries=0) as http:
        fetcher = ImageFetcher(http)
        return [fetcher.fetch(record.image).image.size for record in records]


def test_image_services_of_the_reference_server_resolve(site, pictures):
    script = iiif_script("iiif_testserver.py")
    if script is None:
        pytest.skip("iiif_testserver.py (PyPI iiif) is absent")
    with iiif_reference_server(pictures) as base:
        services = [{"id": f"{base}/3.0_pil/plain", "type": "ImageService3", "profile": "level2"},
                    {"@id": f"{base}/2.1_pil/plain/", "@type": "ImageService2",
                     "profile": "http://iiif.io/api/image/2/level2.json"}]
        records, report = harvest(IIIFSource.from_spec(_manifest(site, services), {}))
        assert [r.image.api_version for r in records] == ["3", "2"] and report.complete
        assert all(min(size) >= 224 for size in _fetched_sizes(records))


@pytest.mark.skipif(iipimage_missing() is not None, reason=f"IIPImage binary absent: {iipimage_missing()}")
def test_image_services_of_iipimage_resolve(site, pictures, tmp_path):
    with iipimage_server(pictures, tmp_path) as prefix:
        service = {"@context": "http://iiif.io/api/image/2/context.json", "@id": f"{prefix}/test.jp2",
                   "profile": "http://iiif.io/api/image/2/level1.json"}
        records, report = harvest(IIIFSource.from_spec(_manifest(site, [service]), {}))
        assert [r.image.location for r in records] == [f"{prefix}/test.jp2"] and report.complete
        assert all(min(size) >= 224 for size in _fetched_sizes(records))


def test_url_detection_looks_at_the_path():
    assert IIIFSource.detect("https://api.dc.library.northwestern.edu/api/v2/works/faf0c573?as=iiif")
    assert IIIFSource.detect("https://iiif.io/api/cookbook/recipe/0032-collection/collection.json")
    assert not IIIFSource.detect("https://iiif.example.org/api/items")


# -- re-runs: conditional requests ---------------------------------------------------------------


def test_a_rerun_revalidates_manifests_by_last_modified_and_reuses_them_on_304(tmp_path):
    """A plain file server (``http.server``) answers If-Modified-Since with 304."""
    (tmp_path / "site").mkdir()
    manifest = tmp_path / "site" / "stanford.json"
    manifest.write_bytes((IIIF / "manifest_v2_stanford_multi_canvas.json").read_bytes())
    options = {"workdir": str(tmp_path / "work")}
    with static_server(tmp_path / "site") as upstream, recording_proxy(upstream) as proxy:
        url = f"{proxy.base}/stanford.json"
        first, _ = harvest(IIIFSource.from_spec(url, options))
        second, report = harvest(IIIFSource.from_spec(url, options))
        assert [answer.status for answer in proxy.served] == [200, 304]
        assert second == first and report.complete
        changed = json.loads(manifest.read_text())
        changed["label"] = "A new title"
        manifest.write_text(json.dumps(changed))
        os.utime(manifest, (time.time() + 5, time.time() + 5))
        third, _ = harvest(IIIFSource.from_spec(url, options))
    assert proxy.served[-1].status == 200 and third[0].title.startswith("A new title")


def test_a_rerun_revalidates_a_collection_and_its_manifests_by_etag(tmp_path):
    with scripted_server() as server:
        manifest_url = server.route("/m.json", ScriptedReply(200, (IIIF / "manifest_v2_bodleian.json").read_bytes(),
                                                             {"Content-Type": "application/json"}, etag='"m1"'))
        collection = {"@context": "http://iiif.io/api/presentation/3/context.json", "id": server.base + "/c.json",
                      "type": "Collection", "items": [{"id": manifest_url, "type": "Manifest"}]}
        url = server.route("/c.json", ScriptedReply(200, json.dumps(collection).encode(),
                                                    {"Content-Type": "application/json"}, etag='"c1"'))
        options = {"workdir": str(tmp_path)}
        first, _ = harvest(IIIFSource.from_spec(url, options))
        second, report = harvest(IIIFSource.from_spec(url, options))
    assert len(first) == 2 and second == first and report.complete
    revalidations = [hit.headers.get("If-None-Match") for hit in server.hits]
    assert revalidations == [None, None, '"c1"', '"m1"']


def test_documents_without_validators_are_always_read_again(tmp_path):
    with scripted_server() as server:
        body = (IIIF / "cookbook_0005_v3_image_service.json").read_bytes()
        url = server.route("/plain.json", ScriptedReply(200, body, {"Content-Type": "application/json"}),
                           ScriptedReply(200, body.replace(b"Picture of", b"Changed picture of"),
                                         {"Content-Type": "application/json"}))
        first, _ = harvest(IIIFSource.from_spec(url, {"workdir": str(tmp_path)}))
        second, _ = harvest(IIIFSource.from_spec(url, {"workdir": str(tmp_path)}))
    assert len(server.hits) == 2 and first[0].metadata != second[0].metadata
