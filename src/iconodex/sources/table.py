"""Reading a delimited text file (CSV, TSV) so that one bad row fails alone.

- The encoding comes from a byte-order mark (UTF-8, UTF-16, UTF-32), else UTF-8, UTF-16 without a
  mark (told by its NUL bytes), else Windows-1252; anything else is a one-line error that names the
  ``encoding`` option. Bytes that do not decode fail only the rows that hold them.
- Rows are streamed: a row longer than ``MAX_ROW_CHARS`` fails alone, and so does a row whose quote
  never closes; the lines such a quote swallowed are read again as rows of their own.
- A quoted field that runs over lines which look like rows of their own is probably a missing quote:
  it is kept, with a warning that names its line.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import ConfigError

log = logging.getLogger(__name__)

MAX_ROW_CHARS = 1_000_000
SAMPLE_BYTES = 1 << 20
DELIMITERS = ",;\t|"
_READ_CHUNK = 1 << 16
_BOMS = (  # UTF-32's marks first: UTF-32-LE's starts with UTF-16-LE's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
_UNDECODED = re.compile("[\udc80-\udcff]")  # what ``surrogateescape`` makes of bytes that do not decode
_QUOTED = re.compile(r'"[^"]*"')
_NON_ASCII = re.compile("[^\x00-\x7f]")
_SUSPECT = re.compile("[\udc80-\udcff\x00]")

# The csv module's own field limit (128 Ki characters) would fire mid-row and leave the reader lost
# inside a quoted field; rows are bounded by MAX_ROW_CHARS (and their skeletons past it) instead.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


@dataclass(frozen=True)
class Row:
    """A row by column name; ``line`` is the line it starts on (the header is line 1)."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be read, and why in words."""

    line: int
    reason: str


@dataclass(frozen=True)
class _Line:
    number: int
    text: str
    skeleton: str | None = None  # set for an overlong line, whose text is not kept

    @property
    def overlong(self) -> bool:
        return self.skeleton is not None


class _RowTooLong(Exception):
    pass


class _Undecodable(Exception):
    """Bytes the codec cannot even escape (a cut UTF-16 unit): the rest of the file is unreadable."""


class _Lines:
    """Physical lines for ``csv.reader``, numbered, bounded per row, and able to read lines again.

    Past ``MAX_ROW_CHARS`` a row has failed: if the lines it took in look like rows, an unclosed
    quote swallowed them and they are read again (``_RowTooLong``); otherwise it is one long quoted
    field, and the reader gets only the lines' skeletons (quotes, delimiters, line ends) until the
    field closes, so that it goes on at the next real row holding next to nothing.
    """

    def __init__(self, handle: IO[str], skeleton: Callable[[str], str],
                 look_like_rows: Callable[[list[_Line]], bool]) -> None:
        self.handle = handle
        self.skeleton = skeleton
        self.look_like_rows = look_like_rows
        self.again: deque[_Line] = deque()
        self.taken: list[_Line] = []
        self.chars = 0
        self.number = 0
        self.at_end = False  # the end of the file came inside the row: its quote never closed
        self.too_long = False

    def start_row(self) -> None:
        self.taken, self.chars, self.at_end, self.too_long = [], 0, False, False

    def read_again(self, lines: list[_Line]) -> None:
        self.again.extendleft(reversed(lines))

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.again.popleft() if self.again else self._read()
        if line is None:
            self.at_end = True
            raise StopIteration
        if not self.too_long and (line.overlong or self.chars + len(line.text) > MAX_ROW_CHARS):
            if self.look_like_rows(self.taken[1:]):
                self.again.appendleft(line)
                raise _RowTooLong
            self.too_long = True
        if self.too_long:
            self.taken = self.taken or [line]  # only where the row starts is still needed
            return line.skeleton if line.skeleton is not None else self.skeleton(line.text)
        self.taken.append(line)
        self.chars += len(line.text)
        return line.text

    def _read(self) -> _Line | None:
        try:
            text = self.handle.readline(MAX_ROW_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise _Undecodable(f"cannot be decoded as {self.handle.encoding} ({exc.reason}), nor can the rest "
                               "of the file; name the file's encoding with -o encoding=NAME") from None
        if not text:
            return None
        self.number += 1
        if len(text) <= MAX_ROW_CHARS or text.endswith(("\n", "\r")):
            return _Line(self.number, text)
        skeleton = [self.skeleton(text)]  # the rest of an overlong line is read without holding it
        while (rest := self.handle.readline(_READ_CHUNK)) and not rest.endswith(("\n", "\r")):
            skeleton.append(self.skeleton(rest))
        return _Line(self.number, "", skeleton="".join(skeleton) + self.skeleton(rest))


class Table:
    """A delimited text file: its encoding, delimiter and columns, and its rows one by one."""

    def __init__(self, path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> None:
        self.path = path
        self.encoding = _checked_encoding(encoding) if encoding else detect_encoding(path)
        header = self._header_text()
        self.delimiter = delimiter or header_delimiter(header, tab=path.suffix.lower() == ".tsv")
        cells = next(csv.reader([header], delimiter=self.delimiter), [])
        self.columns = [cell.strip() for cell in cells]
        self._filler = re.compile(f'[^"{re.escape(self.delimiter)}\r\n]+')
        if _UNDECODED.search(header):
            raise ConfigError(f"{path.name}: the header is not valid {self.encoding}; "
                              "name the file's encoding with -o encoding=NAME")

    def rows(self) -> Iterator[Row | BadRow]:
        """Every data row, or why it cannot be read; blank rows are left out."""
        with self._open() as handle:
            lines = _Lines(handle, self._skeleton, self._look_like_rows)
            reader = csv.reader(lines, delimiter=self.delimiter)
            header_seen = False
            while True:
                lines.start_row()
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except _RowTooLong:
                    yield self._swallowed(lines)
                    continue
                except _Undecodable as exc:
                    yield BadRow(lines.number + 1, str(exc))
                    return
                except csv.Error as exc:
                    yield BadRow(lines.taken[0].number if lines.taken else lines.number, f"not CSV: {exc}")
                    continue
                if not "".join(cells).strip():
                    continue  # a blank line, as _header_text skips them
                if header_seen:
                    yield self._row(lines, cells)
                header_seen = True  # the header itself was read in __init__

    def _row(self, lines: _Lines, cells: list[str]) -> Row | BadRow:
        first, *rest = lines.taken
        if lines.too_long:
            unclosed = f" (the quote opened on line {first.number} is never closed)" if lines.at_end else ""
            return BadRow(first.number, f"the row is longer than {MAX_ROW_CHARS:,} characters{unclosed}")
        if lines.at_end and rest:
            lines.read_again(rest)  # the unclosed quote swallowed them: they are rows of their own
        if lines.at_end:
            return BadRow(first.number, f"the quote opened on line {first.number} is never closed")
        if rest and self._suspicious(lines.taken):
            log.warning("%s:%d: the quoted field opened on line %d runs on to line %d over lines that look "
                        "like rows; check for a missing quote", self.path.name, first.number, first.number,
                        rest[-1].number)
        if any(_SUSPECT.search(line.text) for line in lines.taken):
            return BadRow(first.number, f"bytes that are not {self.encoding}; name the file's encoding with "
                          "-o encoding=NAME" if _UNDECODED.search("".join(cells)) else
                          "a NUL character: a corrupt row, or a file in another encoding")
        return Row(first.number, dict(zip(self.columns, cells, strict=False)))  # extra cells have no name

    def _swallowed(self, lines: _Lines) -> BadRow:
        """A row grown too long over lines that look like rows: an unclosed quote took them in."""
        first, *rest = lines.taken
        lines.read_again(rest)
        return BadRow(first.number, f"the row is longer than {MAX_ROW_CHARS:,} characters: "
                      f"is the quote opened on line {first.number} closed?")

    def _skeleton(self, text: str) -> str:
        """What the reader needs of a line to follow its quoting: runs of other characters as one."""
        return self._filler.sub("x", text)

    def _suspicious(self, taken: list[_Line]) -> bool:
        """A row read over several lines whose quoting is odd or whose lines look like rows."""
        try:
            next(csv.reader([line.text for line in taken], delimiter=self.delimiter, strict=True), None)
        except csv.Error:
            return True  # text after a closing quote: the quote probably closed someone else's field
        return len(self.columns) > 1 and self._look_like_rows(taken[1:])

    def _look_like_rows(self, lines: list[_Line]) -> bool:
        width = len(self.columns)
        return any(len(next(csv.reader([line.text], delimiter=self.delimiter), [])) >= width for line in lines)

    def _header_text(self) -> str:
        with self._open() as handle:
            try:
                for line in iter(lambda: handle.readline(MAX_ROW_CHARS + 1), ""):
                    if line.strip():
                        if len(line) > MAX_ROW_CHARS:
                            raise ConfigError(f"{self.path.name}: the header line is longer than {MAX_ROW_CHARS:,} "
                                              "characters; is this a CSV file?")
                        return line
            except UnicodeDecodeError:
                raise ConfigError(f"{self.path.name}: the header is not valid {self.encoding}; "
                                  "name the file's encoding with -o encoding=NAME") from None
        return ""

    def _open(self) -> IO[str]:
        try:
            return self.path.open(encoding=self.encoding, errors="surrogateescape", newline="")
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read ({exc.strerror or exc})") from None


def detect_encoding(path: Path) -> str:
    """The file's encoding from its first MiB; a one-line ``ConfigError`` when it is none we know."""
    try:
        with path.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if sample.count(0) > len(sample) / 10:  # a stray NUL fails its row; this many is no 8-bit text
        utf16 = _utf16_without_bom(sample)
        if utf16:
            return utf16
        raise ConfigError(f"{path.name}: binary data, not text in a known encoding; if it is text, "
                          "name its encoding with -o encoding=NAME")
    if _mostly_utf8(sample):
        return "utf-8"
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        pass
    raise ConfigError(f"{path.name}: not UTF-8, UTF-16 or Windows-1252 text; name its encoding with "
                      "-o encoding=NAME (e.g. latin-1, cp1251, shift_jis)")


def _mostly_utf8(sample: bytes) -> bool:
    """UTF-8 unless its bad bytes outnumber its valid non-ASCII characters: a UTF-8 file with a stray
    byte stays UTF-8 (the row holding it fails), a Windows-1252 file has no valid sequences at all."""
    text = sample.decode("utf-8", errors="surrogateescape")
    bad = len(_UNDECODED.findall(text[:-3] if len(sample) == SAMPLE_BYTES else text))  # the cut may split a character
    return len(_NON_ASCII.findall(text)) - bad >= bad


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text without a mark has a NUL in every other byte where it writes ASCII."""
    pairs = len(sample) // 2
    if not pairs:
        return None
    even, odd = sample[0:pairs * 2:2].count(0), sample[1:pairs * 2:2].count(0)
    name = "utf-16-le" if odd > pairs / 3 and even < pairs / 20 else "utf-16-be" if even > pairs / 3 and odd < pairs / 20 else None
    if name is None:
        return None
    try:
        codecs.getincrementaldecoder(name)().decode(sample[:pairs * 2], final=False)
    except UnicodeDecodeError:
        return None
    return name


def _checked_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ConfigError(f"unknown encoding {name!r} (e.g. utf-8, utf-16, cp1252, latin-1)") from None


def header_delimiter(header: str, *, tab: bool = False) -> str:
    """The delimiter the header line uses most (quoted names aside); a one-column file gets ``,``."""
    bare = _QUOTED.sub("", header)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    if counts[best]:
        return best
    return "\t" if tab else ","
