"""Omeka S harvester against a loopback Omeka S API serving the real fixture documents."""

from __future__ import annotations

import logging

import pytest
from _servers_harvest import OmekaFixture, harvest

from iconodex.config import Settings
from iconodex.errors import ConfigError
from iconodex.sources import open_source
from iconodex.sources.omeka import OmekaSource

SECRET = "s3cr3t-credential-value"


@pytest.fixture()
def omeka():
    with OmekaFixture() as server:
        yield server


def by_id(records):
    return {record.id: record for record in records}


def test_pages_through_every_item_following_link_next(omeka):
    source = open_source(f"{omeka.base}/api/items", options={"per_page": 5})
    records, report = harvest(source)

    assert report.total_hint == 22
    assert omeka.server.count("/api/items?") == 5  # ceil(22 / 5) pages, each asked once
    assert len(records) == 21 and report.harvested == 21
    assert report.complete and not report.failed
    assert report.skipped == [("item 14035", "no image media")]  # the YouTube-only item
    assert sorted(by_id(records)) == sorted(str(i) for i in omeka.items if i != 14035)


def test_values_of_every_type_become_metadata(omeka):
    records, _ = harvest(OmekaSource.from_spec(omeka.base, {}))
    unibe, edisem = by_id(records)["10777"], by_id(records)["14036"]

    assert unibe.title == "Die Löblich und wyt berümpt Stat Basel"
    assert unibe.metadata["dcterms:subject"] == ["Stadt"]  # customvocab with @language
    assert unibe.metadata["dcterms:language"] == ["de"]  # valuesuggest
    assert unibe.version == "2024-10-10T13:57:49+00:00"
    assert unibe.links["api"] == f"{omeka.base}/api/items/10777"
    assert edisem.metadata["skos:hasTopConcept"] == ["Mouvement Beat", "performatif"]  # resources
    assert edisem.metadata["bibo:uri"][0] == "https://en.wikipedia.org/wiki/1_the_Road"  # uri without label


def test_page_links_are_public_item_pages_and_api_links_the_json_ld(omeka):
    records = by_id(harvest(OmekaSource.from_spec(omeka.base, {}))[0])

    # 14036's o:site is [3, 5]; /api/sites names 3 "edisem": its first site with a slug gives the page
    assert records["14036"].links["page"] == f"{omeka.base}/s/edisem/item/14036"
    assert records["14036"].links["api"] == f"{omeka.base}/api/items/14036"
    assert "page" not in records["10777"].links  # in no site: no public page to point to, never the API
    assert omeka.server.count("/api/sites") == 1

    named = by_id(harvest(OmekaSource.from_spec(f"{omeka.base}/api/items", {"site": "basel"}))[0])
    assert named["10777"].links["page"] == f"{omeka.base}/s/basel/item/10777"
    assert omeka.server.count("/api/sites") == 1  # a named site needs no discovery


def test_a_server_without_sites_still_harvests_without_page_links(omeka):
    omeka.sites.clear()
    records, report = harvest(OmekaSource.from_spec(omeka.base, {}))
    assert len(records) == 21 and report.complete
    assert all("page" not in r.links and r.links["api"] for r in records)


def test_language_tags_are_kept_and_languages_choose_the_title(omeka):
    titles = omeka.items[10777]["dcterms:title"]
    titles[0]["@language"] = "de"
    titles.append({**titles[0], "@value": "La louable et très renommée ville de Bâle", "@language": "fr"})
    source = OmekaSource.from_spec(omeka.base, {"item_set": "10780"})

    (french,), _ = harvest(source, languages=("fr", "en"))
    assert french.title == "La louable et très renommée ville de Bâle"
    assert french.metadata["dcterms:title"] == ["La louable et très renommée ville de Bâle"]
    assert french.metadata["dcterms:title@de"] == ["Die Löblich und wyt berümpt Stat Basel"]
    assert french.metadata["dcterms:description"][0].startswith("Die Karte zeigt")  # untagged: every language

    (german,), _ = harvest(source, languages=("de",))
    assert german.title == "Die Löblich und wyt berümpt Stat Basel"
    assert german.metadata["dcterms:title@fr"] == ["La louable et très renommée ville de Bâle"]
    assert german.metadata["dcterms:subject"] == ["Stadt"]


def test_pictures_prefer_iiif_then_large_thumbnail_never_the_original(omeka):
    records, _ = harvest(OmekaSource.from_spec(f"{omeka.base}/api", {}))
    unibe, iiif = by_id(records)["10777"].image, by_id(records)["14020"].image

    assert unibe.kind == "url" and "/files/large/" in unibe.location  # not the 162 MB .tif
    assert (iiif.kind, iiif.location, iiif.api_version) == ("iiif", omeka.iiif_base, "3")
    assert omeka.server.count("/files/") == 0  # harvesting lists; it never downloads pictures


def test_properties_and_item_set_narrow_the_harvest(omeka):
    source = OmekaSource.from_spec(omeka.base, {"item_set": "10780", "properties": "dcterms:title,dcterms:date"})
    records, report = harvest(source)

    assert [r.id for r in records] == ["10777"] and report.total_hint == 1
    assert set(records[0].metadata) == {"dcterms:title"}  # 10777 has no dcterms:date


def test_unchanged_items_need_no_media_request(omeka):
    source = OmekaSource.from_spec(omeka.base, {"per_page": 10})
    state: dict = {}
    first, _ = harvest(source, state=state)
    versions = {r.id: r.version for r in first}
    media_requests = omeka.server.count("/api/media/")
    assert media_requests == 22  # every item's media, once

    full = OmekaSource.from_spec(omeka.base, {"per_page": 10, "full": "true"})
    second, report = harvest(full, state=state, known_version=versions.get)
    assert omeka.server.count("/api/media/") == media_requests
    assert [r.fingerprint() for r in second] == [r.fingerprint() for r in first]
    assert report.unchanged == 21

    omeka.touch(14030)
    third, _ = harvest(full, state=state, known_version=versions.get)
    assert omeka.server.count("/api/media/") == media_requests + 1
    assert by_id(third)["14030"].version == "2030-01-01T00:00:00+00:00"
    assert state["newest_modified"] == "2030-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("html", "not valid JSON (got text/html)"), ("badjson", "not valid JSON"), ("loop", "too many redirects")],
)
def test_a_bad_page_is_reported_and_marks_the_listing_incomplete(omeka, fault, reason):
    omeka.faults[2] = fault
    records, report = harvest(OmekaSource.from_spec(omeka.base, {"per_page": 10}))

    assert len(records) == 10  # page 1 still harvested
    assert not report.complete
    assert len(report.failed) == 1 and reason in report.failed[0][1]
    assert "\n" not in report.failed[0][1]


def test_api_keys_are_sent_and_never_shown(caplog):
    caplog.set_level(logging.DEBUG, logger="iconodex")
    with OmekaFixture(keys=("ident", SECRET)) as omeka:
        options = {"per_page": 10, "key_identity": "ident", "key_credential": SECRET}
        records, report = harvest(OmekaSource.from_spec(omeka.base, options))
        assert len(records) == 21 and report.complete  # keys repeated in every "next" link

        omeka.faults[2] = "html"
        _, broken = harvest(OmekaSource.from_spec(omeka.base, options))
        wrong = {**options, "key_credential": SECRET + "x"}
        _, refused = harvest(OmekaSource.from_spec(omeka.base, wrong))

    messages = [reason for _, reason in broken.failed + refused.failed] + [where for where, _ in broken.failed]
    assert "HTTP 403" in refused.failed[0][1]
    assert "key_credential=***" in broken.failed[0][0]
    assert all(SECRET not in text for text in messages + [r.getMessage() for r in caplog.records])
    assert SECRET not in repr(OmekaSource.from_spec(omeka.base, options))


def test_keys_come_from_settings_when_no_option_gives_them():
    settings = Settings(omeka_key_identity="ident", omeka_key_credential=SECRET)
    with OmekaFixture(keys=("ident", SECRET)) as omeka:
        records, report = harvest(OmekaSource.from_spec(omeka.base, {"per_page": 10}), settings=settings)
        assert len(records) == 21 and report.complete

        _, refused = harvest(OmekaSource.from_spec(omeka.base, {"per_page": 10}))
    (where, reason), = refused.failed
    assert "HTTP 403" in reason and "-o key_credential=" in reason and "ICONODEX_OMEKA_KEY_CREDENTIAL" in reason
    assert "\n" not in reason


def test_a_source_harvested_with_keys_refuses_a_run_without_them():
    state: dict = {}
    with OmekaFixture(keys=("ident", SECRET)) as omeka:
        options = {"key_identity": "ident", "key_credential": SECRET}
        harvest(OmekaSource.from_spec(omeka.base, options), state=state)
        assert state["keys_used"] is True and SECRET not in repr(state)
        with pytest.raises(ConfigError, match="ICONODEX_OMEKA_KEY_IDENTITY.*omeka_key_credential"):
            harvest(OmekaSource.from_spec(omeka.base, {}), state=state)
        assert omeka.server.count("/api/items?page") + omeka.server.count("/api/items?per_page") == 1


def test_bad_options_are_one_line_errors():
    with pytest.raises(ConfigError, match="key_identity and key_credential"):
        OmekaSource.from_spec("https://example.org", {"key_identity": "x"})
    with pytest.raises(ConfigError, match="key_identity and key_credential"):
        harvest(OmekaSource.from_spec("https://example.org", {}), settings=Settings(omeka_key_credential="x"))
    with pytest.raises(ConfigError, match="per_page"):
        OmekaSource.from_spec("https://example.org", {"per_page": "lots"})


def test_a_browser_url_carries_its_options(omeka):
    source = OmekaSource.from_spec(f"{omeka.base}/api/items?item_set_id=10780&per_page=3", {})
    assert (source.root, source.item_set, source.per_page) == (omeka.base, "10780", 3)
    assert [r.id for r in harvest(source)[0]] == ["10777"]


def test_detects_api_urls_only():
    assert OmekaSource.detect("https://humazur.univ-cotedazur.fr/api/items")
    assert OmekaSource.detect("https://omeka.unibe.ch/api")
    assert not OmekaSource.detect("https://omeka.unibe.ch/s/site/item/1")
