"""IIIF Image API URLs: real info.json documents, the reference server, and a static level-0 site."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from _servers_fetch import iiif_reference_server, iiif_script, recording_proxy, static_server
from _servers_harvest import iipimage_missing, iipimage_server
from PIL import Image

from iconodex.errors import SourceError
from iconodex.fetch import iiif_image, iiif_tiles
from iconodex.fetch.http import HttpClient
from iconodex.fetch.images import ImageFetcher
from iconodex.records import ImageRef
from iconodex.store import codec

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "iiif"


def _info(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("name", "version", "level"),
    [
        ("info_v1_1_gallica.json", "1.1", 2),
        ("info_v2_iipimage_toolforge.json", "2", 2),
        ("info_v2_iipimage_uu.json", "2", 1),
        ("info_v2_local_iipsrv_1.1_jp2.json", "2", 1),
        ("info_v2_local_zimeon_iiif_testserver.json", "2", 1),
        ("info_v3_iiif_reference_gottingen.json", "3", 1),
        ("info_v3_level0_static.json", "3", 0),
        ("info_v3_local_zimeon_iiif_testserver.json", "3", 1),
    ],
)
def test_real_info_documents_are_read(name, version, level):
    info = _info(name)
    ref = iiif_image.ref_from_info(info)
    assert ref.kind == "iiif" and ref.api_version == version
    assert iiif_image.compliance_level(info) == level
    assert ref.location == (info.get("id") or info["@id"]).rstrip("/")
    assert bool(ref.sizes) == (level == 0)


def test_v1_1_asks_for_the_native_quality():
    ref = iiif_image.ref_from_info(_info("info_v1_1_gallica.json"))
    assert iiif_image.image_url(ref, 224) == "https://gallica.bnf.fr/iiif/ark:/12148/btv1b53243704g/f1/full/224,/0/native.jpg"


def test_query_string_service_ids_are_kept_intact():
    ref = iiif_image.ref_from_info(_info("info_v2_iipimage_uu.json"))
    assert iiif_image.image_url(ref, 224).endswith(".jp2/full/351,/0/default.jpg")


def test_level0_picks_the_smallest_advertised_size_that_is_big_enough():
    ref = iiif_image.ref_from_info(_info("info_v3_level0_static.json"))
    assert iiif_image.image_url(ref, 224).endswith("/mmph_wae681/full/500,372/0/default.jpg")
    assert iiif_image.image_url(ref, 5000).endswith("/full/1999,1485/0/default.jpg")  # else the largest
    v2 = ImageRef("iiif", "http://x/iiif/a", api_version="2", sizes=((250, 187), (500, 375)))
    assert iiif_image.image_url(v2, 180) == "http://x/iiif/a/full/250,/0/default.jpg"


def test_info_json_urls_and_trailing_slashes_become_the_base():
    assert iiif_image.service_base("http://x/iiif/2/abc/info.json") == "http://x/iiif/2/abc"
    assert iiif_image.service_base("http://x/iiif/2/abc/") == "http://x/iiif/2/abc"
    assert iiif_image.info_url(ImageRef("iiif", "http://x/a/")) == "http://x/a/info.json"
    assert iiif_image.full_image_url(ImageRef("iiif", "http://x/a", "3")) == "http://x/a/full/max/0/default.jpg"


def test_a_document_without_an_id_is_refused_in_one_line():
    with pytest.raises(SourceError, match="no id"):
        iiif_image.ref_from_info({"width": 10})
    with pytest.raises(SourceError, match="not a JSON object"):
        iiif_image.ref_from_info(["no"])


@pytest.fixture(scope="module")
def reference_server(tmp_path_factory):
    images = tmp_path_factory.mktemp("iiif-images")
    Image.new("RGB", (1600, 1200), (30, 120, 200)).save(images / "plain.jpg", quality=90)
    with iiif_reference_server(images) as base:
        yield base


@pytest.mark.parametrize(("version", "expected"), [("1.1", "1.1"), ("2.1", "2"), ("3.0", "3")])
def test_reference_server_info_and_sized_image(reference_server, version, expected):
    with HttpClient(timeout=10, retries=1) as http:
        info = http.get_json(f"{reference_server}/{version}_pil/plain/info.json")
        ref = iiif_image.ref_from_info(info)
        assert ref.api_version == expected
        fetched = ImageFetcher(http, None, min_side=224).fetch(ref)
    quality = "native" if expected == "1.1" else "default"
    assert fetched.source_url.endswith(f"/full/299,/0/{quality}.jpg")
    assert fetched.image.size == (299, 224)


def test_reference_server_missing_image_is_a_fetch_error(reference_server):
    with HttpClient(timeout=10, retries=0) as http:
        outcomes = dict(ImageFetcher(http).fetch_many([ImageRef("iiif", f"{reference_server}/3.0_pil/absent", "3")]))
    assert "HTTP 404" in str(outcomes[0]) or "HTTP 400" in str(outcomes[0])


@pytest.fixture(scope="module")
def static_level0_site(tmp_path_factory):
    """A real level-0 site written by the iiif package's ``iiif_static.py`` (Image API 2.1)."""
    script = iiif_script("iiif_static.py")
    assert script is not None, "the iiif package is a dev dependency"
    root = tmp_path_factory.mktemp("static")
    source = root / "plain.jpg"
    Image.new("RGB", (800, 600), (200, 60, 60)).save(source)
    out = root / "site"
    with static_server(out.parent) as base:
        prefix = f"{base}/site"
        subprocess.run([sys.executable, str(script), "-d", str(out), "-p", prefix, "-t", "256", str(source)],
                       check=True, capture_output=True)
        yield prefix


def test_level0_server_refusing_a_size_is_retried_with_tiles_when_no_listed_size_is_enough(static_level0_site):
    """iiif_static lists sizes only up to one tile (200×150 here, below the model's 224): the
    tiles at scale 1/2 give 400×300 instead, still far below the 800×600 original."""
    with recording_proxy(static_level0_site.rsplit("/site", 1)[0]) as proxy, HttpClient(timeout=5, retries=0) as http:
        fetched = ImageFetcher(http, None, min_side=224).fetch(ImageRef("iiif", f"{proxy.base}/site/plain", "2"))
    assert fetched.image.size == (299, 224)
    assert sorted(answer.pixels for answer in proxy.pictures()) == [(144, 44), (144, 256), (256, 44), (256, 256)]
    _no_full_size_request(proxy)


# -- never more pixels than the model needs --------------------------------------------------------

SERVER_VERSIONS = [("1.1", "native"), ("2.1", "default"), ("3.0", "default")]


def _no_full_size_request(proxy) -> None:
    asked = [answer.path for answer in proxy.served]
    assert not [path for path in asked if "/full/full/" in path or "/full/max/" in path], asked


@pytest.mark.parametrize(("version", "quality"), SERVER_VERSIONS)
def test_a_described_service_is_asked_for_exactly_the_model_size(reference_server, version, quality):
    """info.json gives the picture's size: one request, ``w,`` (level 1 in 1.1, 2 and 3), whose
    shorter side is the model's, instead of a ``!448,448`` box four times the pixels needed."""
    with recording_proxy(reference_server) as proxy, HttpClient(timeout=10, retries=0) as http:
        info = http.get_json(f"{proxy.base}/{version}_pil/plain/info.json")
        ref = replace(iiif_image.ref_from_info(info), location=f"{proxy.base}/{version}_pil/plain")
        fetched = ImageFetcher(http, None, min_side=224).fetch(ref)
    assert fetched.source_url.endswith(f"/full/299,/0/{quality}.jpg")
    assert [answer.pixels for answer in proxy.pictures()] == [(299, 224)]  # 1600×1200 scaled to a 224 short side
    _no_full_size_request(proxy)
    whole_size = "max" if version == "3.0" else "full"
    whole = httpx.get(f"{reference_server}/{version}_pil/plain/full/{whole_size}/0/{quality}.jpg", trust_env=False)
    assert proxy.pictures()[0].size_bytes * 4 < len(whole.content)  # what the old request would have cost


@pytest.mark.parametrize(("version", "quality"), SERVER_VERSIONS)
def test_a_service_of_unknown_version_is_never_fetched_whole(reference_server, version, quality):
    """A CSV's bare service URL says neither version nor size: a 1.1 server refuses ``default.jpg``,
    and the retry after info.json must ask for the model's size, not ``full/full/0/native.jpg``."""
    with recording_proxy(reference_server) as proxy, HttpClient(timeout=10, retries=0) as http:
        ImageFetcher(http, None, min_side=224).fetch(ImageRef("iiif", f"{proxy.base}/{version}_pil/plain"))
    _no_full_size_request(proxy)
    assert len(proxy.pictures()) == 1
    assert all(min(answer.pixels) >= 224 and answer.pixels[0] * answer.pixels[1] <= 448 * 448
               for answer in proxy.pictures())


@pytest.fixture(scope="module")
def iipimage(tmp_path_factory):
    missing = iipimage_missing()
    if missing:
        pytest.skip(f"IIPImage binary absent: {missing} (scripts/install-test-deps installs it)")
    images = tmp_path_factory.mktemp("iip-images")
    Image.radial_gradient("L").resize((2000, 1500)).convert("RGB").save(images / "test.jp2")
    with iipimage_server(images, tmp_path_factory.mktemp("iip-work")) as prefix:
        yield prefix


def test_iipimage_is_asked_for_the_model_size_only(iipimage):
    with recording_proxy(iipimage.rsplit("/iiif", 1)[0]) as proxy, HttpClient(timeout=10, retries=0) as http:
        base = f"{proxy.base}/iiif/test.jp2"
        described = replace(iiif_image.ref_from_info(http.get_json(f"{base}/info.json")), location=base)
        fetcher = ImageFetcher(http, None, min_side=224)
        fetcher.fetch(described)
        fetcher.fetch(ImageRef("iiif", base))  # a bare service URL, version and size unknown
    _no_full_size_request(proxy)
    first, second = (answer.pixels for answer in proxy.pictures())
    assert first == (299, 224)
    assert min(second) >= 224 and second[0] * second[1] <= 448 * 448


def _limited(name: str, **limits: object) -> dict:
    info = _info(name)
    if info.get("type") == "ImageService3":
        info.update(limits)
        return info
    profile = iiif_image.as_profile_list(info.get("profile"))
    extras = [entry for entry in profile if isinstance(entry, dict)]
    if extras:
        extras[0].update(limits)
    else:
        info["profile"] = [*profile, limits]
    return info


@pytest.mark.parametrize("name", ["info_v2_local_iipsrv_1.1_jp2.json", "info_v3_local_zimeon_iiif_testserver.json"])
def test_max_width_and_max_area_are_respected(name):
    """A server that caps sizes refuses larger requests: ask within its limits (2.x in the profile, 3 at top level)."""
    plain = iiif_image.request_after_info(_info(name), "http://x/a", 224)
    assert "/full/full/" not in plain and "/full/max/" not in plain
    narrow = iiif_image.request_after_info(_limited(name, maxWidth=200), "http://x/a", 224)
    assert "/full/200,/" in narrow
    small_area = iiif_image.request_after_info(_limited(name, maxArea=40_000), "http://x/a", 224)
    width = int(small_area.split("/full/")[1].split(",")[0])
    info = _info(name)
    assert width * round(width * info["height"] / info["width"]) <= 40_000 + width


def test_level0_with_neither_sizes_nor_tiles_can_only_be_asked_for_the_whole_picture():
    info = _info("info_v3_level0_static.json")
    assert iiif_image.request_after_info(info, "http://x/a", 224) == "http://x/a/full/500,372/0/default.jpg"
    del info["sizes"], info["tiles"]
    assert iiif_image.request_after_info(info, "http://x/a", 224) == "http://x/a/full/max/0/default.jpg"


@pytest.fixture(scope="module")
def static_level0_1_1_site(tmp_path_factory):
    """A real Image API 1.1 level-0 site (``iiif_static.py --api-version 1.1``): 1.1 has no
    ``sizes``, so its info.json offers nothing but tiles and the whole picture."""
    script = iiif_script("iiif_static.py")
    assert script is not None, "the iiif package is a dev dependency"
    root = tmp_path_factory.mktemp("static11")
    source = root / "plain.jpg"
    Image.radial_gradient("L").resize((1600, 1200)).convert("RGB").save(source)
    with static_server(root) as base:
        subprocess.run([sys.executable, str(script), "-d", str(root / "site"), "-p", f"{base}/site", "-t", "256",
                        "--api-version", "1.1", str(source)], check=True, capture_output=True)
        yield base


def test_level0_without_sizes_is_assembled_from_tiles_at_the_model_scale(static_level0_1_1_site):
    with recording_proxy(static_level0_1_1_site) as proxy, HttpClient(timeout=5, retries=0) as http:
        fetched = ImageFetcher(http, None, min_side=224).fetch(ImageRef("iiif", f"{proxy.base}/site/plain", "1.1"))
    _no_full_size_request(proxy)
    tiles = proxy.pictures()
    assert sum(w * h for w, h in (answer.pixels for answer in tiles)) == 400 * 300  # scale 1/4: 1600×1200 → 400×300
    assert len(tiles) == 4 and all(answer.path.endswith("/0/native.jpg") for answer in tiles)
    assert fetched.image.size == (299, 224)
    reference = Image.radial_gradient("L").resize((1600, 1200)).convert("RGB").resize((299, 224))
    difference = np.abs(np.asarray(fetched.image.convert("L"), float) - np.asarray(reference.convert("L"), float))
    assert difference.mean() < 8  # the tiles are in their places


def test_tiles_are_planned_per_version_and_bounded():
    info = _info("info_v3_level0_static.json")
    del info["sizes"]
    plan = iiif_image.request_after_info(info, "http://x/a", 224)
    assert isinstance(plan, iiif_tiles.TiledPicture)
    assert plan.size == (500, 372) and len(plan.tiles) == 12  # scale 4 with 128 px tiles: 4×3
    assert plan.tiles[0].url == "http://x/a/0,0,512,512/128,128/0/default.jpg"  # 3.0 writes w,h
    assert plan.tiles[-1].url == "http://x/a/1536,1024,463,461/116,116/0/default.jpg"
    info["tiles"] = [{"width": 1, "scaleFactors": [1]}]  # a million tiles: not a plan, the whole picture
    assert iiif_image.request_after_info(info, "http://x/a", 224) == "http://x/a/full/max/0/default.jpg"


def test_the_servable_size_is_stored_with_the_item():
    """The store keeps what the harvest learnt, so a later fetch still asks for ``w,``."""
    ref = iiif_image.ref_from_info(_info("info_v2_local_iipsrv_1.1_jp2.json"))
    assert (ref.width, ref.height) == (2000, 1500)
    assert codec.image_from_json(codec.image_to_json(ref)) == ref
    old_row = '{"api_version": "2", "kind": "iiif", "location": "http://x/a", "sizes": []}'  # stored before
    assert codec.image_from_json(old_row) == ImageRef("iiif", "http://x/a", "2")
