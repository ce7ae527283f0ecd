"""Harvesters through the whole pipeline: Collection.ingest → search, re-harvests, deletions.

Real servers on 127.0.0.1 (the Omeka S fixture API, the IIIF reference image server, oxigraph),
the real offline model, real SQLite and index.
"""

from __future__ import annotations

import io

import pytest
from _servers_fetch import iiif_reference_server, iiif_script
from _servers_harvest import OXIGRAPH, AppServer, OmekaFixture, Reply, oxigraph_server
from PIL import Image

from iconodex import Collection

pytestmark = pytest.mark.skipif(iiif_script("iiif_testserver.py") is None, reason="iiif_testserver.py absent")


def pictures() -> dict[str, Image.Image]:
    """Three clearly different pictures, named as the reference server's identifiers."""
    return {
        "radial": Image.radial_gradient("L").resize((640, 480)).convert("RGB"),
        "stripes": Image.linear_gradient("L").rotate(90).resize((640, 480)).convert("RGB"),
        "red": Image.new("RGB", (640, 480), (200, 30, 30)),
    }


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name, picture in pictures().items():
        picture.save(folder / f"{name}.jpg", quality=92)
    with iiif_reference_server(folder) as base:
        yield base


def jpeg(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG")
    return buffer.getvalue()


def test_omeka_ingest_search_rerun_and_deletion(tmp_path, image_server):
    with OmekaFixture(iiif_base=f"{image_server}/3.0_pil/radial") as omeka:
        coll = Collection.create(tmp_path / "coll", model="offline")
        spec = f"{omeka.base}/api/items"
        first = coll.ingest(spec, options={"per_page": 10})
        assert first.added == 21 and not first.failed and first.harvest.complete

        hits = coll.search("Die Löblich und wyt berümpt Stat Basel", limit=3)
        assert hits[0].id == "10777" and hits[0].links["api"] == f"{omeka.base}/api/items/10777"
        assert coll.search(image=jpeg(pictures()["radial"]), keyword=False, limit=1)[0].id == "14020"  # IIIF media

        media, files = omeka.server.count("/api/media/"), omeka.server.count("/files/")
        again = coll.ingest(spec, options={"per_page": 10})
        assert (again.added, again.updated, again.deleted) == (0, 0, 0) and again.unchanged <= 1  # changes only
        assert omeka.server.count("/api/media/") == media and omeka.server.count("/files/") == files

        gone = omeka.items.pop(14031)
        third = coll.ingest(spec, options={"per_page": 10})
        assert third.deleted == 1 and coll.get("14031") is None
        assert "14031" not in [hit.id for hit in coll.search(gone["o:title"], limit=20)]
        coll.close()


def test_iiif_manifest_over_the_reference_server(tmp_path, image_server):
    def canvas(n: int, identifier: str) -> dict:
        service = f"{image_server}/3.0_pil/{identifier}"
        return {"id": f"{site.base}/canvas/{n}", "type": "Canvas", "items": [{"type": "AnnotationPage", "items": [
            {"type": "Annotation", "motivation": "painting", "target": f"{site.base}/canvas/{n}",
             "body": {"id": f"{service}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg",
                      "service": [{"id": service, "type": "ImageService3", "profile": "level1"}]}}]}]}

    site = AppServer()
    manifest = {"@context": "http://iiif.io/api/presentation/3/context.json", "type": "Manifest",
                "label": {"en": ["Test patterns"]}, "summary": {"en": ["Gradients and a red field"]}}
    site.handler = lambda path, query: Reply.json(
        {**manifest, "id": site.base + path, "items": [canvas(1, "radial"), canvas(2, "stripes"), canvas(3, "red")]},
        "application/ld+json")
    with site:
        coll = Collection.create(tmp_path / "coll", model="offline")
        report = coll.ingest(f"{site.base}/manifest.json")
        assert report.added == 3 and report.indexed == 3 and not report.failed

        (hit,) = coll.search(image=jpeg(pictures()["stripes"]), keyword=False, limit=1)
        assert hit.id == f"{site.base}/canvas/2"
        assert hit.links["manifest"] == f"{site.base}/manifest.json" and hit.links["canvas"] == hit.id
        coll.close()


@pytest.mark.skipif(not OXIGRAPH.is_file(), reason=f"oxigraph binary absent ({OXIGRAPH})")
def test_sparql_linked_art_services_ingest(tmp_path, image_server):
    # Linked Art as real data writes it (PIA): conformsTo the image/3 context, access point = info.json;
    # and as the seed's query expects it (Getty's Jeanne): conformsTo <http://iiif.io/api/image>, a base URL.
    turtle = tmp_path / "services.ttl"
    turtle.write_text(f"""
@prefix dcterms: <http://purl.org/dc/terms/> . @prefix la: <https://linked.art/ns/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<urn:s:1> a la:DigitalService ; rdfs:label "radial" ; dcterms:conformsTo <http://iiif.io/api/image/3/context.json> ;
  la:access_point <{image_server}/3.0_pil/radial/info.json> .
<urn:s:2> a la:DigitalService ; rdfs:label "red field" ; dcterms:conformsTo <http://iiif.io/api/image> ;
  la:access_point <{image_server}/2.1_pil/red> .
""")
    query = """PREFIX dcterms: <http://purl.org/dc/terms/> PREFIX la: <https://linked.art/ns/terms/>
    PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
    SELECT ?iiif_url ?title WHERE { ?service a la:DigitalService ; dcterms:conformsTo ?c ; la:access_point ?iiif_url ;
    rdfs:label ?title . FILTER(REGEX(STR(?c), "^https?://iiif.io/api/image")) } ORDER BY ?iiif_url"""
    with oxigraph_server(tmp_path / "store", turtle) as endpoint:
        coll = Collection.create(tmp_path / "coll", model="offline")
        report = coll.ingest(endpoint, source_type="sparql", options={"query": query, "page_size": 1})
        assert report.added == 2 and report.indexed == 2 and not report.failed

        (hit,) = coll.search("red field", limit=1)
        assert hit.title == "red field" and hit.image.startswith(f"{image_server}/2.1_pil/red")
        coll.close()
