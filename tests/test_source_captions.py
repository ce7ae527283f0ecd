"""Caption datasets (parquet / JSONL / CSV as HF datasets write them) and URL lists (Open Images)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _servers_harvest import harvest, jpeg_bytes
from PIL import Image

from iconodex.errors import ConfigError
from iconodex.sources import open_source
from iconodex.sources.captions import CaptionsSource
from iconodex.sources.csvfile import CsvSource
from iconodex.sources.documents import url_id
from iconodex.sources.urls import UrlListSource

OPEN_IMAGES_HEADER = (
    "ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,"
    "OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation"
)


def write_parquet(path: Path) -> list[bytes]:
    """A table shaped like ``Dataset.to_parquet`` writes an ``Image`` feature: a bytes/path struct."""
    pictures = [jpeg_bytes(1), jpeg_bytes(2), b""]
    table = pa.table({
        "image": [{"bytes": pictures[0], "path": "12345.jpeg"}, {"bytes": pictures[1], "path": None},
                  {"bytes": None, "path": None}],
        "caption": ["karlı dağlar", "deniz kenarında gün batımı", "boş"],
        "width": [64, 64, 0],
    })
    pq.write_table(table, path)
    return pictures


def test_parquet_with_embedded_bytes_writes_them_to_the_cache(tmp_path):
    data = tmp_path / "train.parquet"
    pictures = write_parquet(data)
    source = open_source(str(data), options={"workdir": str(tmp_path / "work")})
    assert isinstance(source, CaptionsSource)
    records, report = harvest(source)

    assert [r.title for r in records] == ["karlı dağlar", "deniz kenarında gün batımı"]
    assert report.skipped == [("train.parquet row 3", "no usable image in column 'image'")]
    first, second = records
    assert first.id == "12345.jpeg" and first.image.kind == "path"
    assert Path(first.image.location).read_bytes() == pictures[0]
    assert Path(first.image.location).is_relative_to(tmp_path / "work")
    assert Image.open(second.image.location).size == (64, 48)
    assert first.metadata == {"caption": ["karlı dağlar"], "width": ["64"]}

    again, _ = harvest(open_source(str(data), options={"workdir": str(tmp_path / "work")}))
    assert [r.fingerprint() for r in again] == [r.fingerprint() for r in records]  # stable ids and paths


def test_jsonl_with_relative_paths_and_sentence_lists(tmp_path):
    (tmp_path / "12345.jpeg").write_bytes(jpeg_bytes(3))
    lines = [
        {"image": "12345.jpeg", "sentences": ["a red square", "a plain picture"]},
        {"image": "missing.jpeg", "sentences": ["gone"]},
        {"image": "https://example.org/a.jpg", "sentences": [{"raw": "from the web"}]},
    ]
    data = tmp_path / "captions.jsonl"
    data.write_text("\n".join(json.dumps(line) for line in lines) + "\n{not json\n", encoding="utf-8")
    records, report = harvest(open_source(str(data)))

    local, remote = records
    assert local.id == "12345.jpeg" and local.image.location == str(tmp_path / "12345.jpeg")
    assert local.metadata["caption"] == ["a red square", "a plain picture"] and local.title == "a red square"
    assert remote.id == url_id("https://example.org/a.jpg") and remote.image.kind == "url"
    assert report.skipped[0][1].startswith("image file") and "missing.jpeg" in report.skipped[0][1]
    assert report.failed[0][0] == "captions.jsonl:4" and "not valid JSON" in report.failed[0][1]


def test_csv_with_named_columns(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(jpeg_bytes(4))
    data = tmp_path / "pairs.csv"
    data.write_text("file,text,id\nimg/a.jpg,a small picture,A1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no image column"):
        harvest(CaptionsSource.from_spec(str(data), {}))

    records, _ = harvest(CaptionsSource.from_spec(str(data), {"image_column": "file", "caption_column": "text"}))
    assert [(r.id, r.title) for r in records] == [("A1", "a small picture")]


def _open_images_csv(tmp_path):
    data = tmp_path / "open_images.csv"
    data.write_text(
        OPEN_IMAGES_HEADER + "\n"
        "000002b66c9c498e,train,https://farm3.staticflickr.com/2/a_o.jpg,https://www.flickr.com/photos/x/2,"
        "https://creativecommons.org/licenses/by/2.0/,https://www.flickr.com/people/x/,Author One,\"Harbour, at dusk\","
        "1000,abc==,https://c1.staticflickr.com/2/a_z.jpg,0\n"
        "000002b97e5471a0,train,,https://www.flickr.com/photos/y/3,,,,No picture,,,,\n"
        "000002c707c9895e,train,https://farm4.staticflickr.com/3/c_o.jpg,https://www.flickr.com/photos/z/4,"
        ",,,No thumbnail,,,,\n",
        encoding="utf-8",
    )
    return data


def test_open_images_csv_is_recognised_and_read_from_its_thumbnails(tmp_path):
    data = _open_images_csv(tmp_path)
    assert UrlListSource.detect(str(data)) and not CsvSource.detect(str(data))
    records, report = harvest(open_source(str(data)))  # no --source-type needed
    originals, _ = harvest(UrlListSource.from_spec(str(data), {"prefer_thumbnail": "false"}))

    harbour, no_thumbnail = records
    assert harbour.id == "000002b66c9c498e" and harbour.title == "Harbour, at dusk"
    assert harbour.image.location == "https://c1.staticflickr.com/2/a_z.jpg"  # 300K pixels, not the original
    assert no_thumbnail.image.location == "https://farm4.staticflickr.com/3/c_o.jpg"  # the only picture it has
    assert harbour.links == {"page": "https://www.flickr.com/photos/x/2"}
    assert harbour.metadata["Author"] == ["Author One"] and "Title" not in harbour.metadata
    assert harbour.metadata["License"] == ["https://creativecommons.org/licenses/by/2.0/"]
    assert originals[0].image.location == "https://farm3.staticflickr.com/2/a_o.jpg"
    assert report.skipped == [("open_images.csv:3", "no http(s) URL in Thumbnail300KURL or OriginalURL")]


def test_open_images_csv_as_a_plain_csv_is_a_hint_not_a_wrong_flag(tmp_path):
    data = _open_images_csv(tmp_path)
    with pytest.raises(ConfigError, match="-o image_column=NAME") as caught:
        open_source(str(data), kind="csv")
    assert "--image-column" not in str(caught.value)


def test_plain_url_list(tmp_path):
    data = tmp_path / "urls.txt"
    data.write_text("https://example.org/1.jpg\n\n# a comment\nnot a url\nhttps://example.org/2.jpg\n")
    assert UrlListSource.detect(str(data))
    records, report = harvest(open_source(str(data)))

    assert [r.id for r in records] == [url_id("https://example.org/1.jpg"), url_id("https://example.org/2.jpg")]
    assert report.skipped == [("urls.txt:4", "not an http(s) URL")]
