"""Real servers on 127.0.0.1 for the harvester tests.

- ``AppServer``: a threaded HTTP server whose answers come from a Python function; every
  request path (with query) is recorded, so tests can count what a harvester asked for;
- ``OmekaFixture``: an Omeka S REST API built from the real fixture documents (items, media,
  paging with ``Link`` and ``Omeka-S-Total-Results`` headers as Omeka S sends them, API keys);
- ``oxigraph_server``: the real oxigraph SPARQL server loaded with fixture Turtle;
- ``iipimage_server``: Debian's iipsrv behind lighttpd (FastCGI), as in servers/COMMANDS.txt.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from _net import free_port, running
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, document: object, content_type: str = "application/json", **headers: str) -> Reply:
        return cls(200, json.dumps(document).encode(), {"Content-Type": content_type, **headers})


Handler = Callable[[str, dict[str, str]], Reply]


class AppServer:
    """Serves ``handler(path, query) -> Reply``; ``requests`` lists every path asked, in order, and
    ``bytes_sent`` counts the bodies. A reply with an ``ETag`` honours ``If-None-Match`` (304)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler or (lambda path, query: Reply(404, b"not found"))
        self.requests: list[str] = []
        self.bytes_sent = 0
        self.not_modified: list[str] = []  # the paths answered 304
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, self))
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, raw_path: str) -> Reply:
        with self._lock:
            self.requests.append(raw_path)
        parts = urlsplit(raw_path)
        return self.handler(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))

    def count(self, prefix: str) -> int:
        return sum(1 for path in self.requests if path.startswith(prefix))

    def __enter__(self) -> AppServer:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stalls

    def __init__(self, app: AppServer, *args, **kwargs) -> None:
        self.app = app
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        reply = self.app.answer(self.path)
        etag = reply.headers.get("ETag")
        if etag and reply.status == 200 and etag in self.headers.get("If-None-Match", ""):
            reply = Reply(304, b"", {"ETag": etag})
            self.app.not_modified.append(self.path)
        self.app.bytes_sent += len(reply.body)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, *args: object) -> None:
        pass


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG whose colour depends on ``seed`` (so pictures differ)."""
    colour = ((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256)
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def load_fixture(*parts: str) -> object:
    return json.loads(FIXTURES.joinpath(*parts).read_text(encoding="utf-8"))


# -- Omeka S -------------------------------------------------------------------------------------

OMEKA_HOSTS = ("https://edisem.arcanes.ca/omk", "https://omeka.unibe.ch")
HTML_ERROR = b"<!DOCTYPE html><html><body><h1>Omeka S</h1><p>An error occurred.</p></body></html>"


class OmekaFixture:
    """An Omeka S API over the real fixture items (21 EDISEM items + UniBE item 10777).

    Media: UniBE's real media 10778 (a 162 MB TIFF upload: the original must never be fetched);
    every EDISEM item gets a media built from that real document with its own thumbnails; item
    14035 gets a YouTube media instead (no picture), item 14020 a IIIF media (``o:ingester`` iiif).
    ``/api/sites`` lists the two sites the EDISEM items name in ``o:site`` (3 and 5), built in the shape
    of Omeka S's ``o:Site`` documents (no real one is among the fixtures); 10777 is in no site.
    ``keys`` (identity, credential) makes the API refuse requests without them (HTTP 403);
    ``faults`` maps a page number to ``"html"``, ``"badjson"`` or ``"loop"`` (redirects to itself).

    ``version`` picks what the listing understands, as the real releases do: every version sorts
    (``sort_by`` id/modified/created, ``sort_order``; NULL dates first ascending, last descending, as
    MySQL does); 3.2 and later answer ``return_scalar=id`` with an id → id object, paged; 4.0 and
    later filter by ``created_after``/``modified_after``/…_before (strictly, as Omeka S's ``gt``/``lt``).
    Parameters a version does not know are ignored, as Omeka S ignores unknown parameters.
    """

    def __init__(self, keys: tuple[str, str] | None = None, iiif_base: str = "https://iiif.example.org/iiif/3/map",
                 version: tuple[int, int] = (4, 1)) -> None:
        self.keys = keys
        self.version = version
        self.iiif_base = iiif_base
        self.faults: dict[int, str] = {}
        self.sites = {3: "edisem", 5: "arcanes"}
        self.server = AppServer(self.answer)
        self.base = self.server.base
        self.items: dict[int, dict] = {}
        self.media: dict[int, dict] = {}
        self.items_served = 0  # whole item documents sent in listings (not ids-only pages)
        self._edits = 0
        self._order_cache: dict = {}
        self._load()

    def _rewrite(self, document: object) -> dict:
        text = json.dumps(document)
        for host in OMEKA_HOSTS:
            text = text.replace(host, self.base)
        return json.loads(text)

    def _load(self) -> None:
        edisem = self._rewrite(load_fixture("omeka", "items_list_page_edisem.json"))
        unibe = self._rewrite(load_fixture("omeka", "item_10777_unibe.json"))
        template = self._rewrite(load_fixture("omeka", "media_10778_unibe.json"))
        self.media[10778] = template
        for item in [*edisem, unibe]:
            self.items[item["o:id"]] = item
        for item in edisem:
            media_id = item["o:media"][0]["o:id"]
            self.media[media_id] = self._media_for(template, item, media_id)

    def _media_for(self, template: dict, item: dict, media_id: int) -> dict:
        media = copy.deepcopy(template)
        media.update({"@id": f"{self.base}/api/media/{media_id}", "o:id": media_id, "o:item": {"o:id": item["o:id"]}})
        media["o:thumbnail_urls"] = dict(item["thumbnail_display_urls"])
        media["o:original_url"] = item["thumbnail_display_urls"]["large"].replace("/large/", "/original/")
        media["o:media_type"] = "image/jpeg"
        if item["o:id"] == 14035:
            media.update({"o:ingester": "youtube", "o:renderer": "youtube", "o:media_type": None,
                          "o:source": "https://www.youtube.com/watch?v=cQ54GDm1eL0", "o:original_url": None,
                          "o:thumbnail_urls": []})
        if item["o:id"] == 14020:
            media.update({"o:ingester": "iiif", "o:renderer": "iiif", "o:media_type": None, "o:original_url": None,
                          "o:source": f"{self.iiif_base}/info.json",
                          "data": {"@context": "http://iiif.io/api/image/3/context.json", "id": self.iiif_base}})
        return media

    def _site(self, site_id: int, slug: str) -> dict:
        return {"@context": f"{self.base}/api-context", "@id": f"{self.base}/api/sites/{site_id}", "@type": "o:Site",
                "o:id": site_id, "o:slug": slug, "o:theme": "default", "o:title": slug.title(), "o:is_public": True,
                "o:owner": {"@id": f"{self.base}/api/users/1", "o:id": 1}}

    def touch(self, item_id: int, when: str = "2030-01-01T00:00:00+00:00", title: str | None = None) -> None:
        """Change an item the way an editor's save does: new ``o:modified`` (and title, when given)."""
        self._edits += 1
        item = self.items[item_id]
        item["o:modified"] = {"@value": when, "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}
        if title is not None:
            item["o:title"] = title
            item["dcterms:title"] = [{"type": "literal", "property_id": 1, "is_public": True, "@value": title}]

    def add(self, item_id: int, created: str = "2030-01-02T00:00:00+00:00") -> None:
        """A new item made from 14036, never edited since: ``o:modified`` is null, as Omeka S leaves it."""
        item = copy.deepcopy(self.items[14036])
        media_id = item_id + 1
        item.update({"@id": f"{self.base}/api/items/{item_id}", "o:id": item_id, "o:modified": None,
                     "o:created": {"@value": created, "@type": "http://www.w3.org/2001/XMLSchema#dateTime"},
                     "o:title": f"New item {item_id}", "o:media": [{"@id": f"{self.base}/api/media/{media_id}",
                                                                    "o:id": media_id}],
                     "o:primary_media": None})
        item["dcterms:title"] = [{"type": "literal", "property_id": 1, "is_public": True, "@value": f"New item {item_id}"}]
        self.items[item_id] = item
        self._edits += 1
        self.media[media_id] = self._media_for(self.media[10778], item, media_id)
        self.media[media_id]["o:thumbnail_urls"] = {"large": f"{self.base}/files/large/new{item_id}.jpg"}

    def delete(self, item_id: int) -> None:
        self._edits += 1
        del self.items[item_id]

    # -- answering --

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path.startswith("/api/") and self.keys and (query.get("key_identity"), query.get("key_credential")) != self.keys:
            return Reply(403, b'{"errors":{"error":"Invalid key."}}', {"Content-Type": "application/ld+json"})
        if path == "/api/items":
            return self._items_page(query)
        if path == "/api/sites":
            return Reply.json([self._site(site_id, slug) for site_id, slug in self.sites.items()], "application/ld+json")
        if path.startswith("/api/media/"):
            media = self.media.get(int(path.rsplit("/", 1)[1]))
            return Reply.json(media, "application/ld+json") if media else Reply(404, b'{"errors":{"error":"Not found"}}')
        if path.startswith("/api/items/"):
            item = self.items.get(int(path.rsplit("/", 1)[1]))
            return Reply.json(item, "application/ld+json") if item else Reply(404, b"{}")
        if path.startswith("/files/"):
            return Reply(200, jpeg_bytes(sum(path.encode())), {"Content-Type": "image/jpeg"})
        return Reply(404, b"not found")

    def _items_page(self, query: dict[str, str]) -> Reply:
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 25))
        items = self._sorted(query.get("sort_by", "id"), query.get("sort_order", "asc"))
        if "item_set_id" in query:
            items = [i for i in items if any(str(s["o:id"]) == query["item_set_id"] for s in i["o:item_set"])]
        if self.version >= (4, 0):
            items = [i for i in items if _omeka_date_match(i, query)]
        fault = self.faults.get(page)
        if fault == "html":
            return Reply(200, HTML_ERROR, {"Content-Type": "text/html; charset=UTF-8"})
        if fault == "loop":
            return Reply(302, b"", {"Location": f"/api/items?{urlencode(query)}"})
        if fault == "badjson":
            return Reply(200, b'[{"o:id": 1, "o:title": "trunc', {"Content-Type": "application/ld+json"})
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = self._paging_headers(query, page, per_page, len(items))
        if self.version >= (3, 2) and "return_scalar" in query:
            if query["return_scalar"] != "id":
                return Reply(400, b'{"errors":{"error":"The field is not available."}}')
            return Reply.json({str(i["o:id"]): i["o:id"] for i in chunk}, "application/ld+json", **headers)
        self.items_served += len(chunk)
        return Reply.json(chunk, "application/ld+json", **headers)

    def _sorted(self, sort_by: str, order: str) -> list[dict]:
        """The items in that order, kept until they change (the benchmark asks 100,000 items many times)."""
        state = (len(self.items), self._edits)
        if self._order_cache.get("state") != state:
            self._order_cache = {"state": state}
        if (sort_by, order) not in self._order_cache:
            self._order_cache[(sort_by, order)] = _omeka_sorted(list(self.items.values()), sort_by, order)
        return self._order_cache[(sort_by, order)]

    def _paging_headers(self, query: dict[str, str], page: int, per_page: int, total: int) -> dict[str, str]:
        """``Link`` (first/prev/next/last, every query parameter repeated) and the total, as Omeka S does."""
        last = max(1, -(-total // per_page))

        def link(number: int, rel: str) -> str:
            return f'<{self.base}/api/items?{urlencode({**query, "page": number})}>; rel="{rel}"'

        links = [link(1, "first")]
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
        links.append(link(last, "last"))
        return {"Link": ", ".join(links), "Omeka-S-Total-Results": str(total)}

    def __enter__(self) -> OmekaFixture:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def _omeka_date(item: dict, name: str) -> datetime | None:
    value = item.get(f"o:{name}")
    return _iso_date(value["@value"]) if isinstance(value, dict) else None


@cache
def _iso_date(text: str) -> datetime:
    """Parsed once per distinct date: the benchmark's mock sorts 100,000 items per request."""
    return datetime.fromisoformat(text)


def _omeka_sorted(items: list[dict], sort_by: str, order: str) -> list[dict]:
    """Omeka S's ORDER BY field, id: NULL dates first ascending, hence last descending (MySQL)."""
    def key(item: dict) -> tuple:
        if sort_by in ("modified", "created"):
            when = _omeka_date(item, sort_by)
            return (when is not None, when.timestamp() if when else 0.0, item["o:id"])
        return (True, 0.0, item["o:id"])
    return sorted(items, key=key, reverse=order == "desc")


_DATE_FILTERS = {"created_after": ("created", 1), "created_before": ("created", -1),
                 "modified_after": ("modified", 1), "modified_before": ("modified", -1)}


def _omeka_date_match(item: dict, query: dict[str, str]) -> bool:
    """Omeka S 4's date filters: strictly after/before; an item without the date never matches."""
    for parameter, (name, direction) in _DATE_FILTERS.items():
        if parameter in query:
            when, bound = _omeka_date(item, name), datetime.fromisoformat(query[parameter])
            bound = bound if bound.tzinfo else bound.replace(tzinfo=UTC)
            if when is None or (when - bound).total_seconds() * direction <= 0:
                return False
    return True


# -- IIIF Change Discovery -----------------------------------------------------------------------

DISCOVERY_CONTEXT = "http://iiif.io/api/discovery/1/context.json"


class IIIFPublisher:
    """A IIIF publisher on 127.0.0.1: manifests made from the real cookbook recipe 0001 (one canvas,
    one image without a service), each with an ETag (304 on ``If-None-Match``), and a IIIF Change
    Discovery 1.0 stream of them at ``/activity/all-changes`` (``OrderedCollection`` with ``first`` /
    ``last``, ``OrderedCollectionPage``s with ``prev`` / ``next`` and ``orderedItems``), as the
    specification's examples write it. ``create``/``update``/``delete`` log activities, one second
    apart on the publisher's clock; ``collection`` is a plain IIIF 3 Collection of the live manifests.
    """

    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.server = AppServer(self.answer)
        self.base = self.server.base
        self.template = load_fixture("iiif", "cookbook_0001_v3_no_service.json")
        self.labels: dict[int, str] = {}
        self.activities: list[dict] = []
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)

    @property
    def stream_url(self) -> str:
        return f"{self.base}/activity/all-changes"

    def manifest_url(self, number: int) -> str:
        return f"{self.base}/manifest/{number}.json"

    def _log(self, kind: str, number: int) -> None:
        self.clock = self.clock.replace(microsecond=0) + timedelta(seconds=1)
        self.activities.append({"type": kind, "object": {"id": self.manifest_url(number), "type": "Manifest"},
                                "endTime": self.clock.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def create(self, number: int, label: str | None = None) -> None:
        self.labels[number] = label or f"Plate {number}"
        self._log("Create", number)

    def update(self, number: int, label: str) -> None:
        self.labels[number] = label
        self._log("Update", number)

    def delete(self, number: int) -> None:
        del self.labels[number]
        self._log("Delete", number)

    def manifest(self, number: int) -> dict:
        text = json.dumps(self.template).replace("https://iiif.io/api/cookbook/recipe/0001-mvm-image",
                                                 f"{self.base}/m{number}")
        text = text.replace("https://iiif.io/api/presentation/2.1/example/fixtures/resources/page1-full.png",
                            f"{self.base}/images/{number}.jpg")
        manifest = json.loads(text)
        manifest.update({"id": self.manifest_url(number), "label": {"en": [self.labels[number]]}})
        return manifest

    def answer(self, path: str, query: dict[str, str]) -> Reply:
        if path.startswith("/manifest/"):
            number = int(path.rsplit("/", 1)[1].split(".")[0])
            return self._tagged(self.manifest(number)) if number in self.labels else Reply(404, b"{}")
        if path == "/activity/all-changes":
            return self._tagged(self._stream())
        if path.startswith("/activity/page-"):
            return self._tagged(self._page(int(path.rsplit("-", 1)[1])))
        if path == "/collection.json":
            return self._tagged({"@context": "http://iiif.io/api/presentation/3/context.json",
                                 "id": f"{self.base}/collection.json", "type": "Collection",
                                 "label": {"en": ["All plates"]},
                                 "items": [{"id": self.manifest_url(n), "type": "Manifest",
                                            "label": {"en": [label]}} for n, label in sorted(self.labels.items())]})
        if path.startswith("/images/"):
            return Reply(200, jpeg_bytes(int(path.rsplit("/", 1)[1].split(".")[0]), (32, 24)),
                         {"Content-Type": "image/jpeg"})
        return Reply(404, b"not found")

    def _pages(self) -> int:
        return max(1, -(-len(self.activities) // self.page_size))

    def _ref(self, number: int) -> dict:
        return {"id": f"{self.base}/activity/page-{number}", "type": "OrderedCollectionPage"}

    def _stream(self) -> dict:
        return {"@context": DISCOVERY_CONTEXT, "id": self.stream_url, "type": "OrderedCollection",
                "totalItems": len(self.activities), "first": self._ref(0), "last": self._ref(self._pages() - 1)}

    def _page(self, number: int) -> dict:
        page = {"@context": DISCOVERY_CONTEXT, **self._ref(number), "startIndex": number * self.page_size,
                "partOf": {"id": self.stream_url, "type": "OrderedCollection"},
                "orderedItems": self.activities[number * self.page_size:(number + 1) * self.page_size]}
        if number > 0:
            page["prev"] = self._ref(number - 1)
        if number < self._pages() - 1:
            page["next"] = self._ref(number + 1)
        return page

    @staticmethod
    def _tagged(document: dict) -> Reply:
        body = json.dumps(document).encode()
        etag = f'"{hashlib.blake2b(body, digest_size=8).hexdigest()}"'
        return Reply(200, body, {"Content-Type": "application/ld+json", "ETag": etag})

    def __enter__(self) -> IIIFPublisher:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


# -- external servers ----------------------------------------------------------------------------






OXIGRAPH = VENV_BIN / "oxigraph"


@contextmanager
def oxigraph_server(store: Path, *turtle: Path) -> Iterator[str]:
    """The real oxigraph server over ``turtle`` files; yields the query endpoint URL."""
    for path in turtle:
        subprocess.run([str(OXIGRAPH), "load", "--location", str(store), "--file", str(path)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(OXIGRAPH), "serve-read-only", "--location", str(store), "--bind", f"127.0.0.1:{port}"]
    with running(command, base, "oxigraph"):
        yield f"{base}/query"


IIPSRV = Path("/usr/lib/iipimage-server/iipsrv.fcgi")


def iipimage_missing() -> str | None:
    """Which binary is absent for the IIPImage server, or None when both are here."""
    if not IIPSRV.is_file():
        return str(IIPSRV)
    return None if shutil.which("lighttpd") else "lighttpd"


@contextmanager
def iipimage_server(image_dir: Path, workdir: Path) -> Iterator[str]:
    """iipsrv (FastCGI) behind lighttpd on 127.0.0.1; yields the IIIF prefix ``{base}/iiif``."""
    fcgi_port, http_port = free_port(), free_port()
    (workdir / "www").mkdir(parents=True, exist_ok=True)
    config = workdir / "lighttpd.conf"
    config.write_text(
        f'server.document-root = "{workdir / "www"}"\nserver.bind = "127.0.0.1"\nserver.port = {http_port}\n'
        f'server.errorlog = "{workdir / "lighttpd-error.log"}"\nserver.modules += ( "mod_fastcgi" )\n'
        f'fastcgi.server = ( "/iiif/" => (( "host" => "127.0.0.1", "port" => {fcgi_port}, "check-local" => "disable" )) )\n'
    )
    env = {"FILESYSTEM_PREFIX": f"{image_dir}/", "URI_MAP": "iiif=>IIIF", "CORS": "*",
           "LOGFILE": str(workdir / "iipsrv.log"), "VERBOSITY": "1", "PATH": "/usr/bin:/bin"}
    iipsrv = subprocess.Popen([str(IIPSRV), "--bind", f"127.0.0.1:{fcgi_port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{http_port}"
    try:
        with running([shutil.which("lighttpd") or "lighttpd", "-D", "-f", str(config)], base, "lighttpd"):
            yield f"{base}/iiif"
    finally:
        iipsrv.terminate()
        iipsrv.wait(timeout=10)


def harvest(source, http=None, **context: object):
    """Run ``source.harvest`` with a fresh report; returns (records, report)."""
    from iconodex.fetch.http import HttpClient
    from iconodex.sources import HarvestContext, HarvestReport

    report = HarvestReport(source.name)
    client = http or HttpClient(retries=0, timeout=10)
    ctx = HarvestContext(http=client, report=report, **context)  # type: ignore[arg-type]
    return list(source.harvest(ctx)), report
