"""A folder of pictures, searched recursively, with optional descriptions next to them.

Descriptions come from, in this order of precedence for the title:
- a JSON sidecar ``photo.json`` (or ``photo.jpg.json``): a flat or multi-valued object; its
  ``title`` becomes the title, every other key a metadata field;
- a text sidecar ``photo.txt`` (or ``photo.jpg.txt``): the whole text becomes ``description``;
- a ``captions.jsonl`` in the picture's folder or above it, one ``{"path"|"image"|"file_name", "caption"}``
  object per line (as ImageSearchTR writes it): the caption becomes ``caption``;
- otherwise the file name, prettified.
The version is the mtime and size of the picture and of its sidecars, so an unchanged file costs
one ``stat`` in the pipeline's change check.

Ids (``-o id=``): ``path`` (default) is the path under the folder (``sub/astronaut.jpg``); ``name`` the
file name (``astronaut.jpg``); ``stem`` the file name without extension (``astronaut``), as ONiT names
its images. When two pictures would share a ``name``/``stem`` id, the first in the walk's sorted order
keeps it and each later one fails alone, naming the picture that has the id (``id=path`` keeps both).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..fetch.decode import describe_os_error
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext, HarvestReport

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".tif", ".tiff", ".gif", ".bmp",
                            ".jp2", ".j2k", ".jpx", ".jpf", ".avif"})
# Pictures in formats Pillow does not read: said once each, so "0 added" never hides a folder of them.
UNREAD_PICTURES = {
    ".heic": "HEIC", ".heif": "HEIF", ".jxl": "JPEG XL", ".svg": "SVG (a vector drawing)", ".psd": "Photoshop",
    ".dng": "camera raw", ".cr2": "camera raw", ".cr3": "camera raw", ".nef": "camera raw", ".arw": "camera raw",
    ".orf": "camera raw", ".rw2": "camera raw", ".raf": "camera raw",
}
CAPTIONS_FILE = "captions.jsonl"
CAPTION_PATH_KEYS = ("path", "image", "file_name", "file", "filename")
ID_STYLES: dict[str, Callable[[str], str]] = {
    "path": lambda rel: rel,
    "name": lambda rel: rel.rsplit("/", 1)[-1],
    "stem": lambda rel: Path(rel).stem,
}


class FolderSource:
    """Every picture under ``root`` (hidden files and folders excluded), in sorted order."""

    kind = "folder"
    options = frozenset({"name", "id"})  # what -o may set
    image_option = None  # no column of pictures for --iiif-column to name

    def __init__(self, root: str | os.PathLike[str], name: str | None = None, id_style: str = "path") -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(f"{root}: not a folder")
        if id_style not in ID_STYLES:
            raise ConfigError(f"folder option id={id_style!r}: choose one of {', '.join(ID_STYLES)}")
        self.name = name or f"folder:{self.root}"
        self.id_style = id_style

    @classmethod
    def detect(cls, spec: str) -> bool:
        return Path(spec).expanduser().is_dir()

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> FolderSource:
        return cls(spec, name=options.get("name"), id_style=str(options.get("id") or "path"))

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        captions: dict[Path, _CaptionsFile] = {}
        owners: dict[str, str] = {}  # id → the picture that has it, to catch name/stem collisions
        for folder, files in self._walk(ctx.report):
            captions[folder] = _CaptionsFile(folder / CAPTIONS_FILE, ctx.report)
            chain = [captions[p] for p in (folder, *folder.parents) if p in captions]
            for filename in files:
                record = self._record(folder / filename, chain, ctx.report)
                if record is not None and _claim(record.id, self._relative(folder / filename), owners, ctx.report):
                    ctx.report.harvested += 1
                    yield record


    def _walk(self, report: HarvestReport) -> Iterator[tuple[Path, list[str]]]:
        def on_error(exc: OSError) -> None:
            # A folder we cannot list hides items: the pipeline must not delete them.
            report.fail(self._relative(Path(exc.filename or self.root)), _reason(exc), listing=True)

        for dirpath, dirnames, filenames in os.walk(self.root, onerror=on_error):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            visible = sorted(f for f in filenames if not f.startswith("."))
            for unread in (f for f in visible if Path(f).suffix.lower() in UNREAD_PICTURES):
                kind = UNREAD_PICTURES[Path(unread).suffix.lower()]
                report.skip(self._relative(Path(dirpath) / unread),
                            f"{kind} is not a format iconodex reads; convert it to JPEG, PNG or TIFF")
            yield Path(dirpath), [f for f in visible if Path(f).suffix.lower() in IMAGE_SUFFIXES]

    def _record(self, path: Path, captions: list[_CaptionsFile], report: HarvestReport) -> SourceRecord | None:
        rel = self._relative(path)
        try:
            stat = path.stat()
        except OSError as exc:
            broken = f": a broken symbolic link to {os.readlink(path)}" if path.is_symlink() else ""
            report.fail(rel, _reason(exc) + broken)
            return None
        if not os.access(path, os.R_OK):
            report.fail(rel, "permission denied")
            return None
        sidecars = _Sidecars(path)
        metadata: Metadata = {}
        title = sidecars.read_into(metadata, report, self._relative)
        # The nearest captions.jsonl that knows the picture wins.
        caption = next((found for file in captions if (found := file.caption_for(path))), None)
        add_value(metadata, "caption", caption)
        return SourceRecord(
            id=ID_STYLES[self.id_style](rel),
            image=ImageRef("path", str(path)),
            title=title or caption or prettify(path.stem),
            metadata=metadata,
            version=";".join([_stat_version(stat), *sidecars.versions()]),
        )

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


class _Sidecars:
    """The ``.json`` and ``.txt`` files that describe one picture."""

    def __init__(self, image: Path) -> None:
        self.json = _first_existing(image.with_suffix(".json"), image.with_name(image.name + ".json"))
        self.text = _first_existing(image.with_suffix(".txt"), image.with_name(image.name + ".txt"))

    def versions(self) -> list[str]:
        found = []
        for path in (self.json, self.text):
            if path is not None:
                try:
                    found.append(_stat_version(path.stat()))
                except OSError:
                    continue
        return found

    def read_into(self, metadata: Metadata, report: HarvestReport, rel: Callable[[Path], str]) -> str:
        """Fill ``metadata`` from the sidecars; return the title they give (or "")."""
        title = ""
        if self.json is not None:
            try:
                title = _json_sidecar(self.json, metadata)
            except (OSError, ValueError) as exc:
                report.fail(rel(self.json), f"sidecar ignored: {_reason(exc)}")
        if self.text is not None:
            try:
                add_value(metadata, "description", self.text.read_text(encoding="utf-8-sig", errors="replace"))
            except OSError as exc:
                report.fail(rel(self.text), f"sidecar ignored: {_reason(exc)}")
        return title


class _CaptionsFile:
    """A folder's ``captions.jsonl``, read on first use; paths are matched relative to its
    folder, then by file name (ImageSearchTR writes paths relative to where it ran)."""

    def __init__(self, path: Path, report: HarvestReport) -> None:
        self.path = path
        self.report = report
        self._by_path: dict[str, str] | None = None
        self._by_name: dict[str, str] = {}

    def caption_for(self, image: Path) -> str | None:
        if self._by_path is None:
            self._load()
        assert self._by_path is not None
        rel = image.relative_to(self.path.parent).as_posix()
        return self._by_path.get(rel) or self._by_name.get(image.name)

    def _load(self) -> None:
        self._by_path = {}
        if not self.path.is_file():
            return
        try:
            lines = self.path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        except OSError as exc:
            self.report.fail(str(self.path), f"captions ignored: {_reason(exc)}")
            return
        for number, line in enumerate(lines, start=1):
            if line.strip():
                self._add_line(line, number)

    def _add_line(self, line: str, number: int) -> None:
        try:
            entry = json.loads(line)
        except ValueError:
            self.report.fail(f"{self.path.name}:{number}", "not a JSON object")
            return
        target = next((entry[k] for k in CAPTION_PATH_KEYS if isinstance(entry, dict) and isinstance(entry.get(k), str)), None)
        caption = entry.get("caption") if isinstance(entry, dict) else None
        if target is None or not isinstance(caption, str):
            self.report.skip(f"{self.path.name}:{number}", "line has no path or no caption")
            return
        key = Path(target.replace("\\", "/")).as_posix().removeprefix("./")
        assert self._by_path is not None
        self._by_path[key] = caption.strip()
        self._by_name.setdefault(Path(key).name, caption.strip())


def _claim(item_id: str, rel: str, owners: dict[str, str], report: HarvestReport) -> bool:
    """True when ``item_id`` is free or already ``rel``'s; else the picture fails, naming the id's owner."""
    owner = owners.setdefault(item_id, rel)
    if owner != rel:
        report.fail(rel, f"its id {item_id!r} is already {owner}'s (name/stem ids collide); -o id=path keeps both")
        return False
    return True


def _json_sidecar(path: Path, metadata: Metadata) -> str:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    if not isinstance(data, dict):
        raise ValueError("JSON sidecar must be an object")
    title = ""
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, (dict, list)):
                item = json.dumps(item, ensure_ascii=False)
            if key == "title" and not title and item not in (None, ""):
                title = str(item).strip()
            else:
                add_value(metadata, key, item)
    return title


def prettify(stem: str) -> str:
    """``"st_gallen-abbey_01"`` → ``"St gallen abbey 01"``: a readable title from a file name."""
    words = " ".join(part for part in re.split(r"[_\-\s]+", stem) if part)
    return words[:1].upper() + words[1:] if words else stem


def _first_existing(*candidates: Path) -> Path | None:
    return next((path for path in candidates if path.is_file()), None)


def _stat_version(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return " ".join(str(exc).split())[:200] or type(exc).__name__


SOURCES.register("folder", FolderSource)
