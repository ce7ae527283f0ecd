"""FolderSource and CsvSource on real files: sidecars, captions.jsonl, SARI CSVs, odd CSV dialects."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from _images_fetch import jpeg_bytes, write_zoo

from iconodex.errors import ConfigError
from iconodex.fetch.images import ImageFetcher
from iconodex.records import ImageRef
from iconodex.sources import HarvestContext, HarvestReport, open_source
from iconodex.sources.csvfile import CsvSource, image_ref, sari_id
from iconodex.sources.folder import FolderSource, prettify

CSV_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "csv"


def _harvest(source) -> tuple[list, HarvestReport]:
    report = HarvestReport(source.name)
    return list(source.harvest(HarvestContext(http=None, report=report))), report


# -- folder -----------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "pictures"
    (root / "b-sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "st_gallen-abbey_01.JPG").write_bytes(jpeg_bytes())
    (root / "described.png").write_bytes(jpeg_bytes())
    (root / "described.json").write_text(json.dumps({"title": "Abbey library", "creator": ["A", "B"], "year": 1767}))
    (root / "noted.webp").write_bytes(jpeg_bytes())
    (root / "noted.txt").write_text("A baroque ceiling\nwith frescoes", encoding="utf-8")
    (root / "b-sub" / "12345.jpeg").write_bytes(jpeg_bytes())
    (root / "b-sub" / "deeper" / "x.tiff").write_bytes(jpeg_bytes())
    (root / "b-sub" / "captions.jsonl").write_text(
        '{"path": "12345.jpeg", "caption": "Bir kedi"}\n\nnot json\n{"image": "data/deeper/x.tiff", "caption": "Deep"}\n',
        encoding="utf-8",
    )
    (root / ".hidden" / "secret.jpg").write_bytes(jpeg_bytes())
    (root / ".dotfile.jpg").write_bytes(jpeg_bytes())
    (root / "readme.md").write_text("not a picture")
    return root


def test_folder_records_ids_titles_and_metadata(folder):
    records, report = _harvest(FolderSource(folder))
    by_id = {r.id: r for r in records}
    assert list(by_id) == ["described.png", "noted.webp", "st_gallen-abbey_01.JPG", "b-sub/12345.jpeg", "b-sub/deeper/x.tiff"]
    assert by_id["st_gallen-abbey_01.JPG"].title == "St gallen abbey 01"
    assert by_id["described.png"].title == "Abbey library"
    assert by_id["described.png"].metadata == {"creator": ["A", "B"], "year": ["1767"]}
    assert by_id["noted.webp"].metadata["description"] == ["A baroque ceiling\nwith frescoes"]
    assert by_id["b-sub/12345.jpeg"].metadata["caption"] == ["Bir kedi"]
    assert by_id["b-sub/12345.jpeg"].title == "Bir kedi"
    assert by_id["b-sub/deeper/x.tiff"].metadata["caption"] == ["Deep"]  # a parent's file, by name
    image = by_id["described.png"].image
    assert image == ImageRef("path", str(folder / "described.png"))
    assert report.harvested == 5 and [w for w, _ in report.failed] == ["captions.jsonl:3"]


def test_folder_order_is_stable(folder):
    assert [r.id for r in _harvest(FolderSource(folder))[0]] == [r.id for r in _harvest(FolderSource(folder))[0]]


def test_folder_version_changes_with_the_image_or_its_sidecar(folder):
    def versions() -> dict[str, str]:
        return {r.id: r.version for r in _harvest(FolderSource(folder))[0]}

    before = versions()
    assert versions() == before
    (folder / "described.json").write_text(json.dumps({"title": "Renamed"}))
    os.utime(folder / "described.json", ns=(1, 1))
    (folder / "noted.webp").write_bytes(jpeg_bytes((10, 10)))
    after = versions()
    assert after["described.png"] != before["described.png"] and after["noted.webp"] != before["noted.webp"]
    assert after["st_gallen-abbey_01.JPG"] == before["st_gallen-abbey_01.JPG"]


def test_bad_sidecar_is_reported_and_the_image_still_harvested(folder):
    (folder / "described.json").write_text("{broken")
    records, report = _harvest(FolderSource(folder))
    assert "described.png" in {r.id for r in records}
    assert any(where == "described.json" and "sidecar ignored" in why for where, why in report.failed)


def test_folder_of_broken_files_harvests_and_fetch_reports_each(tmp_path):
    expected = write_zoo(tmp_path / "zoo")
    records, report = _harvest(FolderSource(tmp_path / "zoo"))
    failed = dict(report.failed)
    assert "loop" in failed["loop.jpg"] and "dangling.jpg" in failed  # unreadable at listing time
    outcomes = dict(ImageFetcher(None).fetch_many([r.image for r in records], workers=2))
    for index, record in enumerate(records):
        outcome = outcomes[index]
        if record.id.startswith("good"):
            assert outcome.image.mode == "RGB"
        else:
            assert expected[record.id].lower() in str(outcome).lower(), (record.id, outcome)


def test_folder_detection_and_registry(folder, tmp_path):
    assert FolderSource.detect(str(folder)) and not FolderSource.detect(str(tmp_path / "nope"))
    assert isinstance(open_source(str(folder)), FolderSource)
    with pytest.raises(ConfigError, match="not a folder"):
        FolderSource(tmp_path / "nope")


@pytest.mark.parametrize("spec", ["", "   "])
def test_an_empty_source_is_refused_rather_than_read_as_this_folder(spec, folder, monkeypatch):
    """``iconodex ingest "$PICTURES"`` with the variable unset ingested the working folder, recursively."""
    monkeypatch.chdir(folder)
    with pytest.raises(ConfigError, match="no source given"):
        open_source(spec)


@pytest.mark.parametrize(("spec", "options", "said"), [
    ("{folder}", {"nonsense": "1"}, "the folder source takes no option 'nonsense'; it takes id, name"),
    ("{folder}", {"recursiv": "no"}, "no option 'recursiv'"),
    ("http://127.0.0.1:9/api/items", {"item_sets": "7"}, "no option 'item_sets' (did you mean item_set?)"),
    ("http://127.0.0.1:9/sparql", {"querry": "SELECT"}, "no option 'querry' (did you mean query?)"),
])
def test_an_option_the_source_does_not_take_is_refused_naming_those_it_does(folder, spec, options, said):
    """A mistyped ``-o item_sets=7`` was ignored: the harvest read the whole Omeka S instance."""
    with pytest.raises(ConfigError, match=re.escape(said)):
        open_source(spec.format(folder=folder), options=options)


def test_run_wide_options_are_taken_by_every_source(folder):
    assert isinstance(open_source(str(folder), options={"workdir": str(folder), "full": "true"}), FolderSource)


@pytest.mark.parametrize(("spec", "option"), [("{csv}", "image_column"), ("http://127.0.0.1:9/sparql", "iiif_variable")])
def test_the_picture_column_option_goes_to_the_sources_own_name_for_it(tmp_path, spec, option):
    table = tmp_path / "items.csv"
    table.write_text("id,picture\n1,https://example.org/iiif/a\n")
    source = open_source(spec.format(csv=table), options={"iiif_column": "picture",
                                                          **({"query": "SELECT ?picture WHERE {}"} if "sparql" in spec else {})})
    assert getattr(source, option) == "picture"
    with pytest.raises(ConfigError, match="no column or variable of pictures to name"):
        open_source(str(tmp_path), options={"iiif_column": "picture"})


@pytest.mark.parametrize(
    ("style", "ids"),
    [("path", ["described.png", "noted.webp", "st_gallen-abbey_01.JPG", "b-sub/12345.jpeg", "b-sub/deeper/x.tiff"]),
     ("name", ["described.png", "noted.webp", "st_gallen-abbey_01.JPG", "12345.jpeg", "x.tiff"]),
     ("stem", ["described", "noted", "st_gallen-abbey_01", "12345", "x"])],
)
def test_folder_ids_follow_the_id_option(folder, style, ids):
    records, report = _harvest(open_source(str(folder), options={"id": style}))
    assert [r.id for r in records] == ids and report.harvested == 5
    assert records[3].metadata["caption"] == ["Bir kedi"]  # sidecars and captions still found by path


def test_folder_stem_collisions_fail_alone_naming_the_picture_that_has_the_id(folder):
    (folder / "b-sub" / "described.png").write_bytes(jpeg_bytes())  # stem and name clash with described.png
    (folder / "noted.png").write_bytes(jpeg_bytes())  # same folder, other extension: stems clash only

    records, report = _harvest(FolderSource(folder, id_style="stem"))
    assert [r.id for r in records] == ["described", "noted", "st_gallen-abbey_01", "12345", "x"]
    assert records[0].image == ImageRef("path", str(folder / "described.png"))  # the first in sorted order
    failed = dict(report.failed)
    assert failed["noted.webp"] == "its id 'noted' is already noted.png's (name/stem ids collide); -o id=path keeps both"
    assert "'described' is already described.png's" in failed["b-sub/described.png"]

    by_name, report = _harvest(FolderSource(folder, id_style="name"))
    assert len(by_name) == 6 and [w for w, _ in report.failed] == ["captions.jsonl:3", "b-sub/described.png"]
    assert len(_harvest(FolderSource(folder))[0]) == 7  # path ids never collide


def test_stem_ids_name_the_same_items_as_onit_files(sample_pictures, tmp_path, capsys):
    """ONiT's ids are file names without extension: with -o id=stem, an ONiT id list, a neighbours
    file and an iconodex export all name the same items."""
    import shutil

    from iconodex.cli import main

    pictures = tmp_path / "pictures"
    (pictures / "sub").mkdir(parents=True)
    for name, target in (("astronaut.png", "sub/astronaut.png"), ("chelsea.png", "chelsea.png"),
                         ("coffee.png", "sub/coffee.png")):
        shutil.copy2(sample_pictures / name, pictures / target)
    coll, ids = tmp_path / "coll", tmp_path / "ids.txt"
    ids.write_text("astronaut\nchelsea\n")
    outputs = []
    for args in (["ingest", str(pictures), "-c", str(coll), "-o", "id=stem", "--quiet"],
                 ["export", "onit-jsonl", str(tmp_path / "out.jsonl"), "-c", str(coll)],
                 ["neighbours", "-c", str(coll), "--ids", str(ids), "--k", "2"]):
        with pytest.raises(SystemExit) as stopped:
            main(args)
            raise SystemExit(0)
        outputs.append(capsys.readouterr().out)
        assert not stopped.value.code, args
    neighbours = json.loads(outputs[-1])
    exported = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(exported) == ["astronaut", "chelsea", "coffee"]
    assert [entry["reference"]["id"] for entry in neighbours] == ["astronaut", "chelsea"]


def test_folder_id_option_is_checked():
    with pytest.raises(ConfigError, match="id='basename'.*path, name, stem"):
        open_source(".", kind="folder", options={"id": "basename"})


def test_prettify():
    assert prettify("IMG_0042") == "IMG 0042"
    assert prettify("--") == "--"


# -- CSV --------------------------------------------------------------------------------------


def test_sari_csv_ids_match_the_upstream_local_identifiers():
    path = CSV_FIXTURES / "sari_bso_images_first200.csv"
    records, report = _harvest(open_source(str(path)))
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(records) == len(rows) == 200 and report.harvested == 200
    assert [r.id for r in records] == [row["localIdentifier"] for row in rows]
    first = records[0]
    assert first.image == ImageRef("iiif", rows[0]["iiif_url"], api_version="2")


def test_sari_test_csv_is_fully_read():
    records, report = _harvest(CsvSource(CSV_FIXTURES / "sari_bso_test_images.csv"))
    assert len(records) == report.harvested > 100 and not report.skipped and not report.failed


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_csv_with_bom_quotes_and_blank_lines(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(jpeg_bytes())
    path = _write(
        tmp_path / "list.csv",
        '\ufeffid;title;image;subject\n'
        '1;"Ceiling; painted";img/a.jpg;"ceiling|fresco"\n'
        '\n'
        '2;No picture;;x\n'
        '3;Remote;https://example.org/pics/b.jpg;\n',
    )
    source = CsvSource(path, id_column="id", multi_separator="|")
    records, report = _harvest(source)
    assert [r.id for r in records] == ["1", "3"]
    assert records[0].title == "Ceiling; painted" and records[0].metadata == {"subject": ["ceiling", "fresco"]}
    assert records[0].image == ImageRef("path", str(tmp_path / "img" / "a.jpg"))
    assert records[1].image == ImageRef("url", "https://example.org/pics/b.jpg")
    assert report.skipped == [("list.csv:4", "no value in image column 'image'")]
    fetched = ImageFetcher(None).fetch(records[0].image)
    assert fetched.image.mode == "RGB"


def test_tsv_and_duplicate_ids(tmp_path):
    path = _write(tmp_path / "list.tsv", "url\tnote\nhttp://x/a.png\tone\nhttp://x/a.png\ttwo\n")
    records, report = _harvest(open_source(str(path)))
    assert [r.metadata["note"] for r in records] == [["one"]] and records[0].id == sari_id("http://x/a.png")
    assert report.skipped[0][1].startswith("duplicate id")


def test_missing_image_column_lists_the_columns(tmp_path):
    path = _write(tmp_path / "bad.csv", "name,notes\na,b\n")
    with pytest.raises(ConfigError, match="columns are: name, notes"):
        CsvSource(path)
    with pytest.raises(ConfigError, match="no column 'ident'"):
        CsvSource(_write(tmp_path / "ok.csv", "image,x\na.jpg,1\n"), id_column="ident")


@pytest.mark.parametrize(
    ("value", "kind", "location", "version"),
    [
        ("https://iiif.example.org/iiif/2/abc/info.json", "iiif", "https://iiif.example.org/iiif/2/abc", "2"),
        ("https://iiif.example.org/iiif/3/abc/", "iiif", "https://iiif.example.org/iiif/3/abc", "3"),
        ("https://e.org/i3f/v20/abc", "iiif", "https://e.org/i3f/v20/abc", None),
        ("https://e.org/iiif/2/abc/full/640,/0/default.jpg", "url", "https://e.org/iiif/2/abc/full/640,/0/default.jpg", None),
        ("https://e.org/photos/abc.jpg", "url", "https://e.org/photos/abc.jpg", None),
        ("https://e.org/images/abc", "url", "https://e.org/images/abc", None),
        ("file:///data/a.png", "path", "/data/a.png", None),
    ],
)
def test_image_values_are_classified(tmp_path, value, kind, location, version):
    assert image_ref(value, tmp_path) == ImageRef(kind, location, api_version=version)


def test_the_iiif_url_column_means_iiif_even_without_a_telling_path(tmp_path):
    records, _ = _harvest(CsvSource(_write(tmp_path / "s.csv", "iiif_url\nhttps://e.org/services/abc\n")))
    assert records[0].image.kind == "iiif"


def test_csv_detection(tmp_path):
    path = _write(tmp_path / "a.CSV", "image\nx.jpg\n")
    assert CsvSource.detect(str(path)) and not CsvSource.detect(str(tmp_path / "missing.csv"))
    assert not CsvSource.detect(str(_write(tmp_path / "a.txt", "image\n")))
