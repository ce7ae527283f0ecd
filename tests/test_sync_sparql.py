"""A SPARQL query that binds ?modified is read incrementally: a re-run asks only for what changed.

Against the real oxigraph server; the data is changed between runs with oxigraph's own SPARQL update.
"""

from __future__ import annotations

import subprocess

import pytest
from _servers_harvest import OXIGRAPH, harvest, oxigraph_server

from iconodex.sources.sparql import SparqlSource, since_mark

pytestmark = pytest.mark.skipif(not OXIGRAPH.is_file(), reason=f"oxigraph binary absent ({OXIGRAPH})")
PREFIXES = """PREFIX la: <https://linked.art/ns/terms/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/> PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
QUERY = PREFIXES + """SELECT ?iiif_url ?title ?modified WHERE {
  ?service la:access_point ?iiif_url ; rdfs:label ?title .
  OPTIONAL { ?service dcterms:modified ?modified }
} ORDER BY ?iiif_url"""


def service(number: int, title: str, modified: str | None) -> str:
    date = f' ; dcterms:modified "{modified}"^^xsd:dateTime' if modified else ""
    return (f'<urn:service:{number}> la:access_point <https://images.example.org/iiif/{number}> ; '
            f'rdfs:label "{title}"{date} .\n')


def update(store, text: str) -> None:
    subprocess.run([str(OXIGRAPH), "update", "--location", str(store), "--update", PREFIXES + text], check=True,
                   capture_output=True)


def by_id(records) -> dict[str, tuple]:
    return {r.id: (r.title, r.metadata, r.image) for r in records}


def test_a_rerun_reads_rows_modified_since_the_mark_and_undated_ones(tmp_path):
    turtle = tmp_path / "services.ttl"
    turtle.write_text(PREFIXES.replace("PREFIX ", "@prefix ").replace(">", "> .") + "".join(
        service(n, f"Picture {n}", f"2025-01-0{n}T00:00:00Z") for n in range(1, 7)))
    store, state = tmp_path / "store", {}
    source = SparqlSource.from_spec("http://unused/sparql", {"query": QUERY, "labels": "false"})
    with oxigraph_server(store, turtle) as endpoint:
        source.endpoint = endpoint
        first, report = harvest(source, state=state)
        assert len(first) == 6 and report.complete and state["newest_modified"]["value"] == "2025-01-06T00:00:00Z"

    update(store, 'DELETE { <urn:service:2> ?p ?o } WHERE { <urn:service:2> ?p ?o } ;'
                  'INSERT DATA { ' + service(2, "Picture 2, recatalogued", "2025-02-01T00:00:00Z")
           + service(7, "Picture 7, undated", None) + service(8, "Picture 8", "2025-02-02T12:00:00Z") + '}')
    with oxigraph_server(store) as endpoint:
        source.endpoint = endpoint
        second, report = harvest(source, state=state)
        full, _ = harvest(SparqlSource.from_spec(endpoint, {"query": QUERY, "labels": "false"}))

    titles = sorted(r.title for r in second)
    assert titles == ["Picture 2, recatalogued", "Picture 6", "Picture 7, undated", "Picture 8"]  # 6: on the mark
    assert "deletions not checked" in report.partial and report.complete
    assert state["newest_modified"]["value"] == "2025-02-02T12:00:00Z"
    assert {**by_id(first), **by_id(second)} == by_id(full)


def test_the_filter_goes_inside_the_where_clause_and_escapes_the_mark():
    body = QUERY.rsplit(" ORDER BY", 1)[0] + "\nGROUP BY ?iiif_url ?title ?modified ORDER BY ?iiif_url"
    text = since_mark(body, "modified", {"value": 'x" } DROP ALL', "datatype": "bad> iri"})
    assert text.endswith('FILTER(!BOUND(?modified) || STR(?modified) >= "x\\" } DROP ALL")\n}'
                         "\nGROUP BY ?iiif_url ?title ?modified ORDER BY ?iiif_url")


def test_a_query_without_modified_is_read_whole_every_time():
    source = SparqlSource.from_spec("http://unused/sparql", {"query": QUERY.replace("?modified", "?changed")})
    assert source.modified_variable is None
    named = SparqlSource.from_spec("http://unused/sparql", {"query": QUERY.replace("?modified", "?changed"),
                                                          "modified_variable": "?changed"})
    assert named.modified_variable == "changed"
