"""Properties of the CSV reader over generated files: any bytes, encodings, quotes and field sizes.

Whatever the file holds: no exception but a one-line ``ConfigError`` when it is opened, a bounded
time, every good row kept as written, every bad row failed alone on its own line.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import pytest
from _servers_harvest import harvest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iconodex.errors import ConfigError
from iconodex.fetch.http import HttpClient
from iconodex.sources import table
from iconodex.sources.csvfile import CsvSource

ROW_LIMIT = 300  # stands in for MAX_ROW_CHARS, so that overlong rows cost nothing to generate
PROPERTY = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
TITLES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=40)
ROW_KINDS = st.sampled_from(["good", "good", "good", "overlong", "overlong lines", "ftp", "nul", "stray byte"])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
LINE_END = re.compile("\r\n|\r|\n")
CLIENT = HttpClient(retries=0, timeout=1)  # unused by a CSV source; one, since each costs a TLS context


@pytest.fixture
def small_rows(monkeypatch):
    monkeypatch.setattr(table, "MAX_ROW_CHARS", ROW_LIMIT)


def read(data: bytes) -> tuple[list, object]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "list.csv"
        path.write_bytes(data)
        try:
            source = CsvSource(path, id_column="id")
        except ConfigError as exc:
            assert "\n" not in str(exc)
            return [], None
        return harvest(source, http=CLIENT)


CSV_SOUP = st.lists(st.sampled_from(['"', '""', ",", ";", "\n", "\r", "x", "é", "\0", " ", "ftp://a", "\t"]),
                    max_size=400).map("".join)
BODIES = st.one_of(st.binary(max_size=3000), CSV_SOUP.map(lambda text: text.encode("utf-8", errors="surrogatepass")))


@PROPERTY
@given(body=BODIES, header=st.sampled_from([b"id,image,title\n", b"\xef\xbb\xbfid;image\r\n", b""]))
def test_any_bytes_give_rows_or_one_line_errors(small_rows, body, header):
    records, report = read(header + body)
    if report is not None:
        assert all("\n" not in reason for _, reason in report.failed + report.skipped)
        assert all(record.id for record in records)


def write_rows(kinds: list[str], titles: list[str], encoding: str) -> tuple[bytes, list[tuple[str, str]], list[int]]:
    """The file, the (id, title) of its good rows, and the lines of its bad ones."""
    good, bad_lines, line = [], [], 2
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n", quoting=csv.QUOTE_ALL)  # MINIMAL leaves a bare \r unquoted
    writer.writerow(["id", "image", "title"])
    utf8 = encoding.startswith("utf-8")
    for number, (kind, title) in enumerate(zip(kinds, titles, strict=True)):
        image = f"ftp://example.org/{number}.jpg" if kind == "ftp" else f"img/{number}.jpg"
        if kind == "stray byte" and not utf8:
            kind = "overlong"  # a stray byte would shift every later UTF-16/32 unit
        title = {"overlong": "x" * ROW_LIMIT, "overlong lines": "a long description\n" * (ROW_LIMIT // 19 + 1),
                 "nul": title + "\0", "stray byte": title + "é\udcff"}.get(kind, title)
        start = text.tell()
        writer.writerow([str(number), image, title])
        if kind == "good":
            good.append((str(number), title.strip()))  # as the source trims every cell
        else:
            bad_lines.append(line)
        line += len(LINE_END.findall(text.getvalue()[start:]))
    return text.getvalue().encode(encoding, errors="surrogateescape"), good, bad_lines


@PROPERTY
@given(rows=st.lists(st.tuples(ROW_KINDS, TITLES), max_size=12), encoding=ENCODINGS)
def test_good_rows_are_kept_and_bad_rows_fail_alone(small_rows, rows, encoding):
    data, good, bad_lines = write_rows([kind for kind, _ in rows], [title for _, title in rows], encoding)
    records, report = read(data)
    assert [(r.id, r.title) for r in records] == good
    assert [int(where.rsplit(":", 1)[1]) for where, _ in report.failed] == bad_lines
    assert report.complete is not bad_lines  # a bad row may be a stored item: nothing is deleted
