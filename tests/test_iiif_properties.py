"""Property-based: the IIIF readers over real fixture documents, mutated the ways real ones break
(wrong types, missing keys, huge or negative numbers, deep nesting, odd unicode). Whatever comes
in, a harvest ends, in bounded time, with one-line reasons and records the store accepts; an
info.json leads to a well-formed request or a one-line error; a bad canvas costs only itself."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from _servers_harvest import FIXTURES, AppServer, Reply, harvest, load_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iconodex.errors import IconodexError
from iconodex.fetch import iiif_image
from iconodex.fetch.http import HttpClient
from iconodex.fetch.images import ImageFetcher
from iconodex.records import ImageRef
from iconodex.sources.iiif import IIIFSource
from iconodex.store import ItemStore

IIIF = FIXTURES / "iiif"
COLLECTIONS = ["collection_v2_theberlage.json", "collection_v3_northwestern.json", "cookbook_0032_v3_collection.json"]
MANIFESTS = sorted(p.name for p in IIIF.glob("*.json")
                   if ("manifest" in p.name or p.name.startswith("cookbook_0")) and p.name not in COLLECTIONS)
INFOS = sorted(p.name for p in IIIF.glob("info_*.json"))
BOUNDED = settings(max_examples=25, deadline=5000, suppress_health_check=[HealthCheck.too_slow],
                   derandomize=True)

ODD_TEXT = st.sampled_from([
    "", " ", "\u202eevil", "\x00", "\ud800", "\U0001d518\U0001d52b\U0001d526", "null", "http://", "https://",
    "level0", "image/jpeg", "Canvas", "Manifest", "Collection", "ImageService3", "\n\r\t", "é" * 5000,
])
NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 2**63, 10**30]),
                    st.floats(allow_nan=True, allow_infinity=True))


class Deep:
    """A placeholder for a value nested ``depth`` lists or objects deep (written as raw JSON text,
    since building it as Python objects would need the recursion it is here to test)."""

    def __init__(self, depth: int, as_object: bool) -> None:
        self.depth, self.as_object = depth, as_object

    def text(self) -> str:
        opening, closing = ('{"a":', "}") if self.as_object else ("[", "]")
        return opening * self.depth + "1" + closing * self.depth


JUNK = st.one_of(
    st.none(), st.booleans(), NUMBERS, ODD_TEXT, st.text(max_size=30),
    st.lists(st.one_of(st.none(), NUMBERS, ODD_TEXT), max_size=3),
    st.dictionaries(ODD_TEXT, st.one_of(st.none(), NUMBERS, ODD_TEXT), max_size=3),
    st.builds(Deep, st.integers(50, 5000), st.booleans()),
)


def _slots(value: Any, found: list | None = None) -> list[tuple[Any, Any]]:
    """Every (container, key) in a document: the places a mutation can hit."""
    found = [] if found is None else found
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((value, key))
        _slots(child, found)
    return found


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    document = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(document)
        if not slots:
            return draw(JUNK)
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "delete", "wrap", "unwrap"]))
        if action == "delete":
            del container[key]
        elif action == "wrap":  # a list where an object was expected, and the reverse
            container[key] = [container[key]]
        elif action == "unwrap" and isinstance(container[key], list) and container[key]:
            container[key] = container[key][0]
        else:
            container[key] = draw(JUNK)
    return document


def _dump(document: Any) -> bytes:
    """JSON text of ``document`` with every ``Deep`` placeholder written out."""
    deep: dict[str, Deep] = {}

    def default(value: object) -> str:
        if isinstance(value, Deep):
            marker = f"@@deep{len(deep)}@@"
            deep[marker] = value
            return marker
        raise TypeError(type(value).__name__)

    text = json.dumps(document, default=default)
    for marker, value in deep.items():
        text = text.replace(f'"{marker}"', value.text())
    return text.encode("utf-8", "surrogatepass")


class Documents:
    """A loopback server of generated documents (``put``) and of every fixture at ``/iiif/<name>``."""

    def __init__(self) -> None:
        self.served: dict[str, bytes] = {}
        self.server = AppServer(self.answer)

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path in self.served:
            return Reply(200, self.served[path], {"Content-Type": "application/ld+json"})
        fixture = IIIF / path.removeprefix("/iiif/")
        if path.startswith("/iiif/") and fixture.is_file():
            return Reply(200, fixture.read_bytes(), {"Content-Type": "application/json"})
        return Reply(404, b"not found", {"Content-Type": "text/plain"})

    def put(self, document: Any, name: str = "doc.json") -> str:
        path = f"/doc/{len(self.served)}/{name}"
        self.served[path] = _dump(document)
        return self.server.base + path


@pytest.fixture(scope="module")
def documents():
    site = Documents()
    with site.server:
        yield site


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real store: whatever a harvest yields must be storable, or the ingest stops there."""
    return ItemStore(tmp_path_factory.mktemp("store") / "iconodex.db")


@pytest.fixture(scope="module")
def http():
    with HttpClient(retries=0, timeout=5) as client:
        yield client


def _harvest_checked(documents: Documents, http: HttpClient, document: Any,
                     store: ItemStore | None = None) -> tuple[list, Any]:
    """Harvest ``document``; it must end, say what went wrong in one line per problem, and give
    records the store accepts."""
    source = IIIFSource.from_spec(documents.put(document), {})
    records, report = harvest(source, http=http)
    if store is not None:
        store.upsert_records(records, "iiif", 1)
    for where, why in report.failed + report.skipped:
        assert isinstance(where, str) and isinstance(why, str) and why
        assert "\n" not in why and "Traceback" not in why
    for record in records:
        assert isinstance(record.id, str) and record.id
        assert isinstance(record.image, ImageRef) and isinstance(record.image.location, str)
        request = record.image.location
        if record.image.kind == "iiif":
            request = iiif_image.image_url(record.image, 224)
            assert request.startswith(iiif_image.service_base(record.image.location))
        assert httpx.URL(request).scheme in {"http", "https"}  # a URL the fetcher can send
    return records, report


@pytest.mark.parametrize("name", MANIFESTS)
def test_mutated_manifests_harvest_without_a_crash(documents, http, store, name):
    @BOUNDED
    @given(document=mutated(load_fixture("iiif", name)))
    def check(document):
        _harvest_checked(documents, http, document, store)

    check()


def _local_members(name: str, documents: Documents) -> dict:
    """The real collection with its members pointed at fixture manifests on the loopback server."""
    collection = copy.deepcopy(load_fixture("iiif", name))
    key = "items" if "items" in collection else "manifests"
    targets = ["manifest_v2_bodleian.json", "cookbook_0005_v3_image_service.json"]
    for number, member in enumerate(collection[key][:4]):
        member["id" if "id" in member else "@id"] = f"{documents.server.base}/iiif/{targets[number % 2]}"
    collection[key] = collection[key][:4]
    return collection


@pytest.mark.parametrize("name", COLLECTIONS)
def test_mutated_collections_harvest_without_a_crash(documents, http, store, name):
    collection = _local_members(name, documents)

    @BOUNDED
    @given(document=mutated(collection))
    def check(document):
        _harvest_checked(documents, http, document, store)

    check()


@pytest.mark.parametrize("name", INFOS)
def test_mutated_info_documents_give_a_sized_request_or_one_line(documents, http, name):
    """The fetcher's whole IIIF path: a refused request, info.json read, a request it allows."""
    fetcher = ImageFetcher(http, None, min_side=224)

    @BOUNDED
    @given(info=mutated(load_fixture("iiif", name)))
    def check(info):
        base = documents.put(info, name="info.json").removesuffix("/info.json")
        with pytest.raises(IconodexError) as raised:  # no picture is served there: a 404 in the end
            fetcher.fetch(ImageRef("iiif", base))
        assert "\n" not in str(raised.value)
        asked = [path for path in documents.server.requests if path.startswith(urlsplit(base).path + "/")]
        for path in asked:
            size = path.split("/full/", 1)[1].split("/", 1)[0] if "/full/" in path else "info"
            assert size in {"info", "full", "max"} or _is_size(size), path

    check()


def _is_size(size: str) -> bool:
    width, _, height = size.removeprefix("!").partition(",")
    return all(part.isdigit() and 0 < int(part) <= iiif_image.MAX_DIMENSION for part in (width, height) if part)


STANFORD = "manifest_v2_stanford_multi_canvas.json"


def test_a_bad_canvas_is_skipped_alone_with_a_reason(documents, http):
    good = _harvest_checked(documents, http, load_fixture("iiif", STANFORD))[0]
    good_ids = [record.id for record in good]

    @BOUNDED
    @given(position=st.integers(0, len(good_ids) - 1), junk=JUNK, data=st.data())
    def check(position, junk, data):
        manifest = copy.deepcopy(load_fixture("iiif", STANFORD))
        canvas_list = manifest["sequences"][0]["canvases"]
        canvas_list[position] = junk if data.draw(st.booleans()) else _break_inside(canvas_list[position], junk)
        records, report = _harvest_checked(documents, http, manifest)
        others = [canvas_id for number, canvas_id in enumerate(good_ids) if number != position]
        assert [r.id for r in records if r.id != good_ids[position]] == others  # the rest is untouched
        if good_ids[position] not in {r.id for r in records}:
            assert report.skipped or report.failed  # the bad one says why

    check()


def _break_inside(canvas: dict, junk: Any) -> dict:
    broken = copy.deepcopy(canvas)
    broken["images"] = junk
    return broken


@pytest.mark.parametrize("depth", [100, 900, 985, 5000])
@pytest.mark.parametrize("where", ["label", "metadata", "canvas label", "service"])
def test_deep_nesting_anywhere_ends_in_one_line(documents, http, depth, where):
    """Just under the parser's recursion limit the document parses, and every reader after it
    recurses too; just over, it does not parse. Either way: one line, no traceback."""
    manifest = copy.deepcopy(load_fixture("iiif", STANFORD))
    canvas = manifest["sequences"][0]["canvases"][1]
    deep = Deep(depth, as_object=depth % 2 == 0)
    if where == "label":
        manifest["label"] = deep
    elif where == "metadata":
        manifest["metadata"] = [{"label": "Deep", "value": deep}]
    elif where == "canvas label":
        canvas["label"] = deep
    else:
        canvas["images"][0]["resource"]["service"]["profile"] = deep
    _harvest_checked(documents, http, manifest)


def test_lone_surrogates_anywhere_still_give_storable_records(documents, http, store):
    """JSON may escape half a surrogate pair (``"\\ud800"``); SQLite cannot store one, and one
    such title would stop the whole ingest."""
    manifest = copy.deepcopy(load_fixture("iiif", STANFORD))
    canvas = manifest["sequences"][0]["canvases"][2]
    manifest["label"] = "Lone \ud800 half"
    manifest["metadata"] = [{"label": "Note \udfff", "value": "value \ud83d"}]
    canvas["label"] = "page \udc00"
    canvas["@id"] += "\ud800"
    canvas["thumbnail"] = {"@id": "https://example.org/thumb\udfff.jpg"}
    records, _ = _harvest_checked(documents, http, manifest, store)
    assert len(records) == 5 and "\ufffd" in records[2].title
