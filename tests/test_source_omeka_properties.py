"""Property-based: odd JSON-LD documents and paging headers never crash the Omeka S reader.

Arbitrary values are grafted onto the real fixture documents (the UniBE item 10777 and its media), and
a real HTTP server on 127.0.0.1 answers the harvester with them, under arbitrary ``Link`` and
``Omeka-S-Total-Results`` headers. Whatever comes back: no exception, one-line reasons, bounded time,
and the one good item is still harvested (a bad item fails alone).
"""

from __future__ import annotations

import json
import re
import time

import pytest
from _servers_harvest import AppServer, Reply, harvest, load_fixture
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iconodex.sources.omeka import OmekaSource, item_metadata, item_title, media_image, value_text

KEYS = ("@id", "@type", "@value", "@language", "o:id", "o:title", "o:modified", "o:created", "o:media",
        "o:primary_media", "o:site", "o:item_set", "dcterms:title", "dcterms:description", "display_title",
        "o:label", "value_resource_id", "thumbnail_display_urls", "o:thumbnail_urls", "o:ingester", "o:source",
        "o:media_type", "o:original_url", "data", "@context", "large", "medium", "o:slug")
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
           | st.text(max_size=12) | st.sampled_from(["", "image/jpeg", "iiif", "http://x/info.json", "de", "fr"]))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
GRAFTS = st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6)
# what a header may carry: latin-1 text without line breaks
HEADER = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=60)
BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SERVED = settings(BOUNDED, max_examples=30)  # each example is a few requests to the loopback server

ITEM = load_fixture("omeka", "item_10777_unibe.json")
MEDIA = load_fixture("omeka", "media_10778_unibe.json")


@BOUNDED
@given(item=GRAFTS, media=GRAFTS, languages=st.lists(st.sampled_from(["en", "de", "fr", "none", ""]), max_size=3))
def test_reading_any_item_or_media_document_never_raises(item, media, languages):
    document = {**ITEM, **item}
    metadata = item_metadata(document, (), languages)
    assert all(isinstance(v, list) and all(isinstance(t, str) and t for t in v) for v in metadata.values())
    assert isinstance(item_title(document, languages), str)
    assert all(value_text(v) is None or isinstance(value_text(v), str) for v in item.values())
    image = media_image({**MEDIA, **media})
    assert image is None or (image.kind in ("url", "iiif") and isinstance(image.location, str))


class OddOmeka:
    """An Omeka S API whose items page, media and paging headers are whatever the example says."""

    def __init__(self) -> None:
        self.server = AppServer(self.answer)
        self.base = self.server.base
        self.page = b"[]"
        self.headers: dict[str, str] = {}
        self.media: dict[str, bytes] = {}

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path == "/api/items":
            return Reply(200, self.page, {"Content-Type": "application/ld+json", **self.headers})
        if path.startswith("/api/media/") and path.rsplit("/", 1)[1] in self.media:
            return Reply(200, self.media[path.rsplit("/", 1)[1]], {"Content-Type": "application/ld+json"})
        if path == "/api/sites":
            return Reply(200, b'[{"o:id": 1, "o:slug": "s"}, {"o:id": []}, 7]', {"Content-Type": "application/json"})
        return Reply(404, b'{"errors":{"error":"Not found"}}', {"Content-Type": "application/ld+json"})


@pytest.fixture(scope="module")
def odd():
    server = OddOmeka()
    with server.server:
        yield server


def _bad_item(number: int, graft: dict) -> object:
    return {**ITEM, "o:id": number, "o:media": [{"o:id": 900 + number}], **graft} if graft else graft


@SERVED
@given(grafts=st.lists(GRAFTS, max_size=4), media=st.lists(JSON, max_size=4), link=HEADER, total=HEADER,
       raw=st.none() | st.binary(max_size=40))
@example(grafts=[{"o:id": None}], media=[], link="", total="\u00b2", raw=None)  # "²".isdigit(), int("²") fails
@example(grafts=[], media=[], link="", total="\u00e9", raw=None)  # a latin-1 header value
@example(grafts=[], media=[], link="", total="", raw=b"[1, 2]")
def test_any_page_media_and_paging_headers_harvest_without_a_traceback(odd, grafts, media, link, total, raw):
    good = {**ITEM, "o:media": [{"o:id": 10778}]}
    items = [good, *(_bad_item(n, graft) for n, graft in enumerate(grafts, 1))]
    odd.page = raw if raw is not None else json.dumps(items).encode()
    odd.headers = {"Link": link, "Omeka-S-Total-Results": total}
    odd.media = {"10778": json.dumps(MEDIA).encode(),
                 **{str(900 + n): json.dumps(doc).encode() for n, doc in enumerate(media, 1)}}

    started, asked = time.monotonic(), len(odd.server.requests)
    records, report = harvest(OmekaSource.from_spec(odd.base, {}))
    assert time.monotonic() - started < 10
    # whatever the documents say, only the API's own pages and numbered media are asked for
    assert all(re.fullmatch(r"/api/(items|sites)\?.*|/api/media/\d+", path) for path in odd.server.requests[asked:])

    assert all("\n" not in where + reason for where, reason in report.failed + report.skipped)
    if raw is None:
        assert "10777" in {r.id for r in records}  # the good item, whatever its neighbours are
    assert all(isinstance(r.title, str) and r.image is not None for r in records)


@SERVED
@given(next_link=st.sampled_from(["?page=2", "/api/items?page=3", "http://[::1", "ftp://x/y", "//127.0.0.1:1/a",
                                  "javascript:alert(1)", "", " "]) | HEADER)
def test_next_links_of_any_shape_end_the_listing_cleanly(odd, next_link):
    odd.page = json.dumps([{**ITEM, "o:media": [{"o:id": 10778}]}]).encode()
    odd.headers = {"Link": f'<{next_link}>; rel="next"'}
    odd.media = {"10778": json.dumps(MEDIA).encode()}
    records, report = harvest(OmekaSource.from_spec(odd.base, {}))
    assert [r.id for r in records][:1] == ["10777"]
    assert all("\n" not in reason for _, reason in report.failed)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("next_link", ["?òßJ±cÉ", "?page=%C3%B2", "/api/items?q=ü&page=1"])
def test_a_next_link_back_to_the_same_page_in_any_spelling_ends_the_listing(odd, next_link):
    """httpx sends (and reports) a URL percent-encoded: a page whose "next" is itself with raw
    non-ASCII characters must still be recognised as read, or the harvest would ask for it forever."""
    odd.page = json.dumps([{**ITEM, "o:media": [{"o:id": 10778}]}]).encode()
    odd.headers = {"Link": f'<{next_link}>; rel="next"'}
    odd.media = {"10778": json.dumps(MEDIA).encode()}
    asked = len(odd.server.requests)
    records, report = harvest(OmekaSource.from_spec(odd.base, {}))
    pages = [path for path in odd.server.requests[asked:] if path.startswith("/api/items")]
    assert [r.id for r in records] == ["10777"] and len(pages) <= 3, pages
    assert any("already read" in reason for _, reason in report.failed), report.failed


def test_a_deeply_nested_page_is_one_failed_page(odd):
    odd.page, odd.headers = b"[" * 100_000 + b"]" * 100_000, {}
    records, report = harvest(OmekaSource.from_spec(odd.base, {}))
    assert records == [] and not report.complete and "nested too deeply" in report.failed[0][1]


def test_an_empty_page_that_still_links_onwards_ends_the_listing(odd):
    """A server that keeps linking to fresh empty pages would otherwise be read forever."""
    pages = iter(range(1, 10_000))

    def endless(path: str, query: dict[str, str]) -> Reply:
        return Reply(200, b"[]", {"Content-Type": "application/ld+json",
                                  "Link": f'<{odd.base}/api/items?page={next(pages)}>; rel="next"'})

    handler, odd.server.handler = odd.server.handler, endless
    try:
        records, report = harvest(OmekaSource.from_spec(odd.base, {}))
    finally:
        odd.server.handler = handler
    assert records == [] and report.complete and next(pages) < 5


@pytest.mark.parametrize(
    ("link", "expected"),
    [("?page=2", "https://omeka.example.org/api/items?page=2"),
     ("http://omeka.example.org/api/items?page=2", "https://omeka.example.org/api/items?page=2"),  # TLS proxy
     ("https://omeka.example.org:8443/api/items?page=2", None),
     ("https://evil.example.org/api/items?page=2", None),
     ("//evil.example.org/api/items", None),
     ("ftp://omeka.example.org/x", None),
     ("http://[::1", None)],
)
def test_next_links_stay_on_the_server_and_on_tls(link, expected):
    from iconodex.sources.omeka import _same_server

    assert _same_server("https://omeka.example.org/api/items?page=1", link) == expected
