"""CSV files as people really send them: huge fields, UTF-16 and Windows-1252, broken quotes, odd schemes.

A bad row fails alone, with its line; good rows are kept; what is stored is never lost to a bad row.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from _servers_harvest import harvest, jpeg_bytes

from iconodex import Collection
from iconodex.errors import ConfigError, SourceError
from iconodex.records import ImageRef
from iconodex.sources.csvfile import CsvSource, image_ref

MAX_ROW_CHARS = 1_000_000  # iconodex.sources.table.MAX_ROW_CHARS, as the messages print it


def pictures(folder: Path, count: int) -> None:
    folder.mkdir(exist_ok=True)
    for number in range(1, count + 1):
        (folder / f"{number}.jpg").write_bytes(jpeg_bytes(number))


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows_csv(folder: Path, third_title: str) -> Path:
    pictures(folder / "img", 4)
    lines = ["id,image,title", "1,img/1.jpg,One", "2,img/2.jpg,Two", f"3,img/3.jpg,{third_title}", "4,img/4.jpg,Four"]
    return write(folder / "list.csv", "\n".join(lines) + "\n")


def test_a_million_character_field_fails_its_row_alone_and_keeps_what_is_stored(tmp_path):
    path = rows_csv(tmp_path, "Three")
    with Collection.open_or_create(tmp_path / "coll") as coll:
        assert coll.ingest(str(path), options={"id_column": "id"}).indexed == 4
        rows_csv(tmp_path, "x" * MAX_ROW_CHARS)  # the third row's title grows past any sane size
        report = coll.ingest(str(path), options={"id_column": "id"})
        kept = {item.id for item in coll.store.iter_items()}

    assert report.harvest.failed == [("list.csv:4", f"the row is longer than {MAX_ROW_CHARS:,} characters")]
    assert report.harvest.harvested == 3 and report.unchanged == 3
    assert kept == {"1", "2", "3", "4"}  # the stored item of the bad row is not deleted


def test_the_command_line_names_the_bad_row_in_one_line(tmp_path):
    path = rows_csv(tmp_path, "x" * (MAX_ROW_CHARS + 1))
    done = subprocess.run([sys.executable, "-m", "iconodex", "ingest", str(path), "-c", str(tmp_path / "coll")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "3 added" in done.stderr and "indexed" in done.stderr
    assert "list.csv:4: the row is longer than 1,000,000 characters" in done.stderr
    listed = subprocess.run([sys.executable, "-m", "iconodex", "info", "-c", str(tmp_path / "coll"), "--failures"],
                            capture_output=True, text=True, timeout=120)
    named = [line for line in listed.stdout.splitlines() if "list.csv:4" in line]
    assert len(named) == 1 and named[0].startswith("source failed (run 1 of ")
    assert named[0].endswith("list.csv:4: the row is longer than 1,000,000 characters")


def test_a_long_quoted_field_over_many_lines_fails_alone_and_reading_goes_on_after_it(tmp_path):
    prose = "A line of a very long description\n" * (MAX_ROW_CHARS // 30)
    path = write(tmp_path / "list.csv", f'image,title\na.jpg,"{prose}",x\nb.jpg,"After, all"\n')
    records, report = harvest(CsvSource(path))
    assert [r.title for r in records] == ["After, all"]  # no line of the description became a row
    assert report.failed == [("list.csv:2", f"the row is longer than {MAX_ROW_CHARS:,} characters")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-32", "cp1252"])
def test_the_encoding_is_detected(tmp_path, encoding):
    path = write(tmp_path / "list.csv", "image,titre\nimg/a.jpg,Café crème – été\n", encoding)
    records, report = harvest(CsvSource(path))
    assert [(r.title, r.metadata) for r in records] == [("", {"titre": ["Café crème – été"]})]
    assert records[0].image == ImageRef("path", str(tmp_path / "img" / "a.jpg"))
    assert not report.failed


def test_an_unknown_encoding_is_one_line_naming_the_option(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(b"image,title\n" + b"a.jpg,\x00\x81\x00\x02binary\x00\n" * 50)
    with pytest.raises(ConfigError, match="name its encoding with -o encoding=NAME") as caught:
        CsvSource(path)
    assert "\n" not in str(caught.value)
    cyrillic = write(tmp_path / "ru.csv", "image,title\na.jpg,Картина\n", "cp1251")
    records, _ = harvest(CsvSource.from_spec(str(cyrillic), {"encoding": "cp1251"}))
    assert records[0].title == "Картина"
    with pytest.raises(ConfigError, match="unknown encoding 'klingon'"):
        CsvSource(cyrillic, encoding="klingon")


def test_a_stray_byte_in_a_utf8_file_fails_only_its_row(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes("image,title\na.jpg,Café\nb.jpg,caf\xe9\nc.jpg,Été\n".encode().replace(b"caf\xc3\xa9", b"caf\xe9"))
    records, report = harvest(CsvSource(path))
    assert [r.title for r in records] == ["Café", "Été"]
    assert report.failed == [("list.csv:3", "bytes that are not utf-8; name the file's encoding with -o encoding=NAME")]


def test_an_unclosed_quote_fails_its_row_and_the_rows_it_swallowed_are_kept(tmp_path):
    path = write(tmp_path / "list.csv", 'image,title\na.jpg,One\nb.jpg,"Two\nc.jpg,Three\nd.jpg,Four\n')
    records, report = harvest(CsvSource(path))
    assert [r.title for r in records] == ["One", "Three", "Four"]
    assert report.failed == [("list.csv:3", "the quote opened on line 3 is never closed")]
    assert not report.complete  # the failed row may be a stored item: nothing is deleted this run


def test_a_quote_that_runs_over_rows_is_a_warning_with_its_line(tmp_path, caplog):
    path = write(tmp_path / "list.csv", 'image,title\na.jpg,"One\nb.jpg,Two\nc.jpg,"Three"\nd.jpg,Four\n')
    with caplog.at_level(logging.WARNING, logger="iconodex"):
        records, _ = harvest(CsvSource(path))
    assert [r.title for r in records] == ['One\nb.jpg,Two\nc.jpg,Three"', "Four"]
    assert "list.csv:2: the quoted field opened on line 2 runs on to line 4" in caplog.text


def test_a_quoted_field_over_several_lines_is_no_warning(tmp_path, caplog):
    path = write(tmp_path / "list.csv", 'image,title\na.jpg,"A title\nover two lines"\nb.jpg,Two\n')
    with caplog.at_level(logging.WARNING, logger="iconodex"):
        records, report = harvest(CsvSource(path))
    assert [r.title for r in records] == ["A title\nover two lines", "Two"] and not report.failed
    assert caplog.text == ""


def test_an_unsupported_scheme_fails_its_row_with_that_reason(tmp_path):
    path = write(tmp_path / "list.csv", "image\nftp://ftp.example.org/a.jpg\nhttps://example.org/b.jpg\n")
    records, report = harvest(CsvSource(path))
    assert [r.image for r in records] == [ImageRef("url", "https://example.org/b.jpg")]
    assert report.failed == [("list.csv:2", "unsupported scheme ftp: in 'ftp://ftp.example.org/a.jpg' "
                                            "(use http(s)://, file:// or a path)")]
    assert image_ref("C:\\pictures\\a.jpg", tmp_path).kind == "path"  # a drive letter is no scheme
    assert image_ref("img:1.jpg", tmp_path) == ImageRef("path", str(tmp_path / "img:1.jpg"))  # nor is a colon
    with pytest.raises(SourceError, match="unsupported scheme data:"):
        image_ref("data:image/png;base64,iVBORw0KGgo=", tmp_path)


def test_blank_and_whitespace_lines_before_the_header_are_skipped(tmp_path):
    path = write(tmp_path / "list.csv", "  \n\n\t\nimage,title\n\na.jpg,One\n ,  \n")
    records, report = harvest(CsvSource(path))
    assert [r.title for r in records] == ["One"] and not report.failed and not report.skipped
