"""Language maps in every shape IIIF 2 / 3 and JSON-LD write them."""

from __future__ import annotations

import pytest

from iconodex.sources.langmap import by_language, first_text, pick_language, split_languages


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A <b>bold</b>  title", {"none": ["A bold title"]}),
        (["one", "two", "one"], {"none": ["one", "two"]}),
        ({"@value": "Titre", "@language": "fr"}, {"fr": ["Titre"]}),
        ([{"@value": "Title", "@language": "en"}, {"@value": "Titel", "@language": "de"}], {"en": ["Title"], "de": ["Titel"]}),
        ({"en": ["Title"], "none": ["1696"]}, {"en": ["Title"], "none": ["1696"]}),
        (None, {}),
    ],
)
def test_every_shape_normalises(value, expected):
    assert by_language(value) == expected


def test_preferred_language_then_none_then_any():
    assert pick_language(["sv", "en"], ["de", "en"]) == "en"
    assert pick_language(["de-CH", "fr"], ["de"]) == "de-CH"
    assert pick_language(["none", "sv"], ["en"]) == "none"
    assert pick_language(["sv"], ["en"]) == "sv"


def test_values_without_language_join_the_best_language():
    best, others = split_languages({"sv": ["Arkiv"], "en": ["Archive"], "none": ["RA"]}, ["en"])
    assert best == ["Archive", "RA"] and others == {"sv": ["Arkiv"]}
    assert first_text({"true": ["Hamilton letter"]}, ["en"]) == "Hamilton letter"
