"""Pseudo-SPARQL: the parser, the SPARQL 1.1 protocol and results formats, and a real engine
(Oxigraph) federating to the server through SERVICE."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from _net import free_port, wait_until_up
from _serve_fixtures import serve, shared_collection

from iconodex.serve.sparql import SparqlError, parse
from iconodex.serve.sparql_results import XSD_DOUBLE, choose_format

SEED_QUERY = """
        PREFIX  clip: <https://service.swissartresearch.net/clip/>
        SELECT ?iiif ?score WHERE {
            ?request a clip:Request ;
                clip:queryString "A cat" ;
                clip:minScore "0.2" ;
                clip:score ?score ;
                clip:iiifUrl ?iiif .
        } LIMIT 10
"""
# What Oxigraph 0.5 sends for a SERVICE block (observed): BASE, SELECT *, full IRIs, no LIMIT.
OXIGRAPH_FORM = (
    "BASE <http://127.0.0.1:1/query>\nSELECT * WHERE { ?request <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
    "<https://service.swissartresearch.net/clip/Request> .?request <https://service.swissartresearch.net/clip/"
    "queryString> \"A cat\" .?request <https://service.swissartresearch.net/clip/score> ?score .?request "
    "<https://service.swissartresearch.net/clip/iiifUrl> ?iiif . }")
SRX = "{http://www.w3.org/2005/sparql-results#}"
OXIGRAPH = shutil.which("oxigraph") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "oxigraph")


# -- parser -----------------------------------------------------------------------------------

def test_parses_the_seed_example():
    query = parse(SEED_QUERY)
    assert (query.text, query.min_score, query.limit) == ("A cat", 0.2, 10)
    assert query.variables == ["iiif", "score"]
    assert query.outputs == {"score": "score", "iiifUrl": "iiif"}


def test_parses_what_oxigraph_sends():
    query = parse(OXIGRAPH_FORM)
    assert (query.text, query.min_score, query.limit) == ("A cat", None, None)
    assert query.variables == ["request", "score", "iiif"] and query.request_var == "request"


def test_any_names_order_and_literal_forms():
    query = parse("""# a comment
        prefix c: <https://service.swissartresearch.net/clip/>
        select distinct ?hit ?s ?id where { ?x c:score ?s ; c:minScore 0.25 ; c:iiifUrl ?hit ;
          c:queryString 'Ein \\'Berg\\'see'@de ; c:imageId ?id ; a c:Request ; } offset 2 limit 5""")
    assert (query.text, query.min_score, query.limit, query.offset) == ("Ein 'Berg'see", 0.25, 5, 2)
    assert query.outputs == {"score": "s", "iiifUrl": "hit", "imageId": "id"}
    typed = parse('PREFIX clip: <https://service.swissartresearch.net/clip/> SELECT * { '
                  '_:r clip:queryString "x" ; clip:minScore "0.3"^^<http://www.w3.org/2001/XMLSchema#double> . }')
    assert typed.min_score == 0.3 and typed.request_var is None


@pytest.mark.parametrize("query, message", [
    ("ASK { ?s ?p ?o }", "only SELECT"),
    ("CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }", "only SELECT"),
    ("SELECT ?s WHERE { ?s <http://example.org/p> ?o }", "unsupported predicate"),
    ("SELECT ?s WHERE { ?s a <https://service.swissartresearch.net/clip/Request> }", "queryString"),
    ("SELECT ?s WHERE { ?s x:y ?o }", "unknown prefix"),
    ("SELECT ?s WHERE { ?s ?p ?o }", "predicates must be IRIs"),
    ("SELECT ?s WHERE { ?s <https://service.swissartresearch.net/clip/queryString> \"x\" } LIMIT ten",
     "whole number"),
    ("SELECT ?s WHERE { ?s <https://service.swissartresearch.net/clip/queryString> \"x\" } ORDER BY ?s",
     "after the pattern"),
    ("SELECT ?s WHERE { ?s <https://service.swissartresearch.net/clip/queryString> \"x\" . ?t "
     "<https://service.swissartresearch.net/clip/score> ?v }", "exactly one"),
    ("SELECT (1 AS ?x) WHERE {}", "expressions"),
    ("SELECT ?s WHERE { ?s <https://service.swissartresearch.net/clip/minScore> \"high\" ; "
     "<https://service.swissartresearch.net/clip/queryString> \"x\" }", "must be a number"),
    ('SELECT ?s WHERE { ?s <a> "unterminated }', "cannot parse"),
])
def test_queries_outside_the_pattern_say_why(query, message):
    with pytest.raises(SparqlError, match=message):
        parse(query)


def test_format_choice_follows_accept():
    assert choose_format(None) == "application/sparql-results+json"
    assert choose_format("application/sparql-results+xml") == "application/sparql-results+xml"
    assert choose_format("application/sparql-results+json;q=0.5, application/sparql-results+xml") \
        == "application/sparql-results+xml"
    assert choose_format("text/html, */*") == "application/sparql-results+json"


# -- endpoint ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    with serve(shared_collection()) as running, running.client() as client:
        yield client


def test_get_answers_sparql_json(server):
    response = server.get("/sparql", params={"query": SEED_QUERY},
                          headers={"Accept": "application/sparql-results+json"})
    assert response.headers["content-type"].startswith("application/sparql-results+json")
    body = response.json()
    assert body["head"]["vars"] == ["iiif", "score"]
    first = body["results"]["bindings"][0]
    assert first["iiif"]["type"] == "uri" and first["iiif"]["value"].endswith("/items/chelsea.png/image")
    assert first["score"]["datatype"] == XSD_DOUBLE and float(first["score"]["value"]) >= 0.2


def test_post_forms_and_xml_results(server):
    as_body = server.post("/sparql", content=SEED_QUERY, headers={
        "Content-Type": "application/sparql-query", "Accept": "application/sparql-results+xml"})
    as_form = server.post("/sparql", data={"query": SEED_QUERY}, headers={"Accept": "application/sparql-results+xml"})
    for response in (as_body, as_form):
        assert response.headers["content-type"].startswith("application/sparql-results+xml")
        root = ET.fromstring(response.content)
        names = [v.get("name") for v in root.iter(f"{SRX}variable")]
        assert names == ["iiif", "score"]
        first = root.find(f"{SRX}results/{SRX}result")
        assert first.find(f"{SRX}binding[@name='iiif']/{SRX}uri").text.endswith("/items/chelsea.png/image")
        assert first.find(f"{SRX}binding[@name='score']/{SRX}literal").get("datatype") == XSD_DOUBLE


def test_missing_limit_has_a_default_and_limit_0_is_empty(server):
    rows = server.get("/sparql", params={"query": OXIGRAPH_FORM}).json()["results"]["bindings"]
    assert len(rows) == 8 and all(row["request"]["type"] == "bnode" for row in rows)
    empty = SEED_QUERY.replace("LIMIT 10", "LIMIT 0")
    assert server.get("/sparql", params={"query": empty}).json()["results"]["bindings"] == []


def test_errors_follow_the_protocol(server):
    bad = server.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain")
    assert "predicates must be IRIs" in bad.text
    assert server.get("/sparql").status_code == 400
    assert server.post("/sparql", content="x", headers={"Content-Type": "text/turtle"}).status_code == 415
    too_long = SEED_QUERY.replace("A cat", "x" * 600)
    assert server.get("/sparql", params={"query": too_long}).status_code == 400


# -- a real SPARQL engine federating to us ----------------------------------------------------

@pytest.fixture(scope="module")
def oxigraph():
    if not Path(OXIGRAPH).exists():
        pytest.skip("the oxigraph binary is absent (pip install oxigraph)")
    port = free_port()
    process = subprocess.Popen([OXIGRAPH, "serve", "--bind", f"127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/query?query=ASK%20%7B%7D", what="oxigraph")
        yield base
    finally:
        process.terminate()
        process.wait(10)


def test_oxigraph_service_federation_returns_iconodex_results(oxigraph):
    with serve(shared_collection()) as running:
        picture = f"{running.base}/items/chelsea.png/image"
        turtle = f'<{picture}> <http://www.w3.org/2000/01/rdf-schema#label> "Chelsea, a tabby cat" .'
        loaded = httpx.post(f"{oxigraph}/store?default", content=turtle,
                            headers={"Content-Type": "text/turtle"}, trust_env=False)
        assert loaded.status_code in (200, 201, 204)
        federated = f"""
            PREFIX clip: <https://service.swissartresearch.net/clip/>
            PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
            SELECT ?iiif ?score ?label WHERE {{
              SERVICE <{running.base}/sparql> {{
                ?request a clip:Request ; clip:queryString "a cat" ; clip:minScore "0.2" ;
                         clip:score ?score ; clip:iiifUrl ?iiif .
              }}
              OPTIONAL {{ ?iiif rdfs:label ?label }}
            }} ORDER BY DESC(?score) LIMIT 5"""
        response = httpx.post(f"{oxigraph}/query", data={"query": federated}, timeout=60, trust_env=False,
                              headers={"Accept": "application/sparql-results+json"})
    assert response.status_code == 200, response.text
    rows = response.json()["results"]["bindings"]
    assert rows[0]["iiif"]["value"] == picture
    assert rows[0]["label"]["value"] == "Chelsea, a tabby cat"  # joined with the engine's own triples
    assert all(float(row["score"]["value"]) >= 0.2 for row in rows)
