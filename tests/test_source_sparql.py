"""SPARQL harvester against the real oxigraph server loaded with the Linked Art fixtures."""

from __future__ import annotations

import json

import pytest
from _servers_harvest import FIXTURES, OXIGRAPH, harvest, oxigraph_server

from iconodex.errors import ConfigError
from iconodex.sources import open_source
from iconodex.sources.documents import url_id
from iconodex.sources.sparql import PagedQuery, SparqlSource

SPARQL = FIXTURES / "sparql"
pytestmark = pytest.mark.skipif(not OXIGRAPH.is_file(), reason=f"oxigraph binary absent ({OXIGRAPH})")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    store = tmp_path_factory.mktemp("oxigraph")
    with oxigraph_server(store, SPARQL / "pia_linkedart_derived.ttl", SPARQL / "linkedart_docs_derived.ttl") as url:
        yield url


def expected_urls(result_file: str) -> list[str]:
    """The image URLs of oxigraph's recorded answer, cut back to service bases."""
    bindings = json.loads((SPARQL / result_file).read_text())["results"]["bindings"]
    return [row["iiif_url"]["value"].removesuffix("/info.json") for row in bindings]


def test_the_seed_query_finds_the_one_service_it_matches(endpoint):
    source = open_source(endpoint, kind="sparql", options={"query": str(SPARQL / "seed_query.rq")})
    records, report = harvest(source)

    assert [r.image.location for r in records] == expected_urls("seed_query_result.json")
    assert records[0].id == url_id(records[0].image.location)  # SARI's blake2b id
    assert report.complete and report.harvested == 1


def test_relaxed_query_pages_and_cuts_info_json(endpoint):
    query = (SPARQL / "relaxed_query.rq").read_text()
    records, report = harvest(SparqlSource.from_spec(endpoint, {"query": query, "page_size": 2}))

    assert [r.image.location for r in records] == expected_urls("relaxed_query_result.json")  # 3 pages
    assert all(r.image.kind == "iiif" and not r.image.location.endswith("info.json") for r in records)
    assert records[0].metadata["conformsTo"] == ["https://iiif.io/api/image/2/context.json"]
    assert report.complete and not report.failed


def test_the_query_limit_is_kept_across_pages(endpoint):
    query = (SPARQL / "relaxed_query.rq").read_text() + " LIMIT 3"
    records, _ = harvest(SparqlSource.from_spec(endpoint, {"query": query, "page_size": 2}))
    assert [r.image.location for r in records] == expected_urls("relaxed_query_result.json")[:3]


def test_title_and_id_variables(endpoint):
    query = """PREFIX la: <https://linked.art/ns/terms/>
    SELECT ?url ?label ?format WHERE { ?service a la:DigitalService ; la:access_point ?url ;
      <http://www.w3.org/2000/01/rdf-schema#label> ?label ; <http://purl.org/dc/elements/1.1/format> ?format .
      FILTER(CONTAINS(STR(?url), "sipi")) } ORDER BY ?url"""
    options = {"query": query, "iiif_variable": "?url", "id_variable": "url"}
    records, _ = harvest(SparqlSource.from_spec(endpoint, options))

    assert len(records) == 3
    assert {r.title for r in records} == {"IIIF Image API"}  # ?label → title
    assert all(r.id.endswith("/info.json") and r.image.location == r.id.removesuffix("/info.json") for r in records)
    assert records[0].metadata["format"] == ["application/ld+json"]


def test_a_malformed_query_is_a_one_line_error(endpoint):
    source = SparqlSource.from_spec(endpoint, {"query": "SELECT ?iiif_url WHERE { ?s ?p "})
    with pytest.raises(ConfigError, match=r"rejected the SPARQL query \(HTTP 400\)") as caught:
        harvest(source)
    assert "\n" not in str(caught.value)


def test_an_unreachable_endpoint_is_reported_not_raised():
    source = SparqlSource.from_spec("http://127.0.0.1:9/sparql", {"query": "SELECT ?iiif_url WHERE {}"})
    records, report = harvest(source)
    assert records == [] and not report.complete and "127.0.0.1:9" in report.failed[0][1]


@pytest.mark.parametrize(
    ("query", "body", "offset", "limit"),
    [
        ("SELECT * WHERE {} ORDER BY ?x", "SELECT * WHERE {} ORDER BY ?x", 0, None),
        ("SELECT * WHERE {} LIMIT 100", "SELECT * WHERE {}", 0, 100),
        ("SELECT * WHERE {} limit 10 offset 5", "SELECT * WHERE {}", 5, 10),
        ("SELECT * WHERE {} OFFSET 5 LIMIT 10", "SELECT * WHERE {}", 5, 10),
    ],
)
def test_paged_query_reads_the_users_slice(query, body, offset, limit):
    assert PagedQuery.parse(query) == PagedQuery(body, offset, limit)


def test_pages_cover_the_users_slice_exactly():
    pages = list(PagedQuery("Q", offset=5, limit=25).pages(10))
    assert [asked for _, asked in pages] == [10, 10, 5]
    assert pages[-1][0].endswith("LIMIT 5\nOFFSET 25")


def test_options_are_checked():
    with pytest.raises(ConfigError, match="needs option query"):
        SparqlSource.from_spec("https://example.org/sparql", {})
    with pytest.raises(ConfigError, match="does not exist"):
        SparqlSource.from_spec("https://example.org/sparql", {"query": "missing.rq"})
    with pytest.raises(ConfigError, match="page_size"):
        SparqlSource.from_spec("https://example.org/sparql", {"query": "SELECT * {}", "page_size": 0})
