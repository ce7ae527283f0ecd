"""SPARQL harvester against the real oxigraph server loaded with the Linked Art fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _servers_harvest import FIXTURES, OXIGRAPH, AppServer, Reply, harvest, oxigraph_server

from iconodex.errors import ConfigError
from iconodex.sources import open_source
from iconodex.sources import sparql as sparql_source
from iconodex.sources.documents import url_id
from iconodex.sources.sparql import PagedQuery, SparqlSource
from iconodex.sources.sparql_labels import sparql_term

SPARQL = FIXTURES / "sparql"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "sparql.md"
pytestmark = pytest.mark.skipif(not OXIGRAPH.is_file(), reason=f"oxigraph binary absent ({OXIGRAPH})")

# The fixtures carry no description; this is one as Linked Art models it (referred_to_by a
# LinguisticObject classified aat:300435416 "description"), for the documented query to find.
JEANNE_DESCRIPTION = """@prefix crm: <http://www.cidoc-crm.org/cidoc-crm/> .
<https://linked.art/example/jeanne/HumanMadeObject/spring/11> crm:P67i_is_referred_to_by
    [ a crm:E33_Linguistic_Object ; crm:P2_has_type <http://vocab.getty.edu/aat/300435416> ;
      crm:P190_has_symbolic_content "A young woman in a flowered hat, against foliage." ] .
"""
TITLES = {  # what the Linked Art fixtures name each service's picture
    "https://ids.lib.harvard.edu/ids/iiif/47174896": "Self-Portrait Dedicated to Paul Gauguin",
    "https://media.getty.edu/iiif/image/8094f61e-e458-42bd-90cf-a0ed0dcc90b9": "Jeanne (Spring)",
    "https://sipi.participatory-archives.ch/SGV_10/SGV_10P_00060.jp2": "[Porträt von Emilie Kreis-Martz]",
    "https://sipi.participatory-archives.ch/SGV_12/SGV_12N_00001.jp2": "[Schwyzer Fasnacht]",
    "https://sipi.participatory-archives.ch/SGV_12/SGV_12N_02727.jp2": "[Menschenmasse und Propellerflugzeuge]",
}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    store = tmp_path_factory.mktemp("oxigraph")
    description = store.parent / "jeanne_description.ttl"
    description.write_text(JEANNE_DESCRIPTION, encoding="utf-8")
    with oxigraph_server(store, SPARQL / "pia_linkedart_derived.ttl", SPARQL / "linkedart_docs_derived.ttl",
                         description) as url:
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


def test_the_seed_query_gets_the_title_the_linked_art_object_has(endpoint):
    records, report = harvest(open_source(endpoint, kind="sparql", options={"query": str(SPARQL / "seed_query.rq")}))
    assert [r.title for r in records] == ["Jeanne (Spring)"]  # the painting's Name, four links away
    assert report.complete and not report.failed


def test_every_labelled_picture_gets_a_title_in_batches(endpoint, monkeypatch):
    monkeypatch.setattr(sparql_source, "LABEL_BATCH", 2)  # 5 pictures: 3 label queries per page
    query = (SPARQL / "relaxed_query.rq").read_text()
    records, report = harvest(SparqlSource.from_spec(endpoint, {"query": query, "page_size": 5}))
    assert {r.image.location: r.title for r in records} == TITLES
    assert report.complete and not report.failed


def test_labels_can_be_turned_off(endpoint):
    options = {"query": str(SPARQL / "seed_query.rq"), "labels": "false"}
    records, _ = harvest(SparqlSource.from_spec(endpoint, options))
    assert [r.title for r in records] == [""]


def test_the_documented_query_gets_titles_and_descriptions(endpoint):
    query = re.search(r"```sparql\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S).group(1)
    records, report = harvest(SparqlSource.from_spec(endpoint, {"query": query, "labels": "false"}))
    assert {r.image.location: r.title for r in records} == TITLES
    jeanne = next(r for r in records if r.title == "Jeanne (Spring)")
    assert jeanne.metadata["description"] == ["A young woman in a flowered hat, against foliage."]
    assert report.complete and not report.failed


def test_an_endpoint_that_cannot_answer_the_label_query_leaves_titles_empty(caplog):
    services = ["https://iiif.example.org/iiif/3/a", "https://iiif.example.org/iiif/3/b"]

    def answer(path: str, query: dict[str, str]) -> Reply:
        if "VALUES ?access" in query.get("query", ""):
            return Reply(400, b"property paths are not supported here")
        offset = int(query["query"].rsplit("OFFSET", 1)[1])
        rows = [{"iiif_url": {"type": "uri", "value": url}} for url in services[offset:offset + 1]]
        return Reply.json({"head": {"vars": ["iiif_url"]}, "results": {"bindings": rows}})

    with AppServer(answer) as server, caplog.at_level("WARNING", logger="iconodex"):
        source = SparqlSource.from_spec(f"{server.base}/sparql", {"query": "SELECT ?iiif_url {} ORDER BY ?iiif_url",
                                                                  "page_size": 1})
        records, report = harvest(source)
    assert [(r.image.location, r.title) for r in records] == [(url, "") for url in services]
    assert report.complete and not report.failed
    assert caplog.text.count("no titles from") == 1  # asked once; later pages do not ask again


@pytest.mark.parametrize(
    ("cell", "term"),
    [
        ({"type": "uri", "value": "https://e.org/iiif/a"}, "<https://e.org/iiif/a>"),
        ({"type": "uri", "value": "https://e.org/a b"}, None),
        ({"type": "literal", "value": 'say "hi"\n\\'}, '"say \\"hi\\"\\n\\\\"'),
        ({"type": "literal", "value": "x", "xml:lang": "de"}, '"x"@de'),
        ({"type": "literal", "value": "https://e.org/a", "datatype": "http://www.w3.org/2001/XMLSchema#anyURI"},
         '"https://e.org/a"^^<http://www.w3.org/2001/XMLSchema#anyURI>'),
        ({"type": "bnode", "value": "b0"}, None),
    ],
)
def test_values_terms_are_written_safely(cell, term):
    assert sparql_term(cell) == term


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
