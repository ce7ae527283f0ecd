"""What makes a saved index file trustworthy before its library (USearch, FAISS) reads it.

USearch trusts its input: a damaged file can abort the whole process (``free(): corrupted
unsorted chunks``) or answer with garbage scores. So every save records, in ``spaces.json``, the
file it wrote (named after its checksum, never overwritten), its size, its vector count and a
checksum of the saved bytes; a file is opened only when all of them match.

Files are immutable once named: a writer saves a new file, then replaces the manifest (an atomic
rename), then deletes the file it replaced. A reader that has the old file memory-mapped keeps
reading it safely, and a reader always sees a manifest and the files it names agree.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from dataclasses import asdict, dataclass
from pathlib import Path

try:  # xxh3 hashes 4-10x faster than sha256 (the fallback): docs/benchmarks.md, "Index checks"
    import xxhash
except ImportError:  # pragma: no cover - xxhash is a dependency; sha256 keeps a bare install working
    xxhash = None

MANIFEST = "spaces.json"


@dataclass(frozen=True)
class SpaceFile:
    """One space as the manifest records it; ``file`` is None until the space is first saved."""

    dims: int
    file: str | None = None
    size: int = 0
    count: int = 0
    checksum: str | None = None


@dataclass(frozen=True)
class Manifest:
    generation: int
    spaces: dict[str, SpaceFile]


def read_manifest(directory: Path) -> Manifest:
    """The manifest of ``directory`` (empty if none). Manifests from before checksums were
    recorded (``{space: dims}``) name ``<space>.usearch`` with no checksum, so it is rebuilt."""
    path = directory / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Manifest(0, {})
    except (OSError, ValueError):  # an unreadable manifest: every space gets rebuilt from the store
        return Manifest(0, {})
    if "spaces" not in data:
        return Manifest(0, {name: SpaceFile(int(dims), f"{name}.usearch") for name, dims in data.items()})
    return Manifest(int(data.get("generation", 0)),
                    {name: SpaceFile(**record) for name, record in data["spaces"].items()})


def write_manifest(directory: Path, manifest: Manifest) -> None:
    tmp = directory / f"{MANIFEST}.{os.getpid()}.tmp"
    data = {"generation": manifest.generation, "spaces": {n: asdict(r) for n, r in sorted(manifest.spaces.items())}}
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, directory / MANIFEST)


DEFAULT_ALGORITHM = "xxh3_128" if xxhash is not None else "sha256"


def file_checksum(path: Path, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """``algorithm:hex`` of the file's bytes, hashed from a memory map (no copy: about 3x faster
    than reading it in chunks when the file is in the page cache)."""
    digest = xxhash.xxh3_128() if algorithm == "xxh3_128" else hashlib.new(algorithm)
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                digest.update(mapped)
    return f"{algorithm}:{digest.hexdigest()}"


def file_damage(path: Path, record: SpaceFile) -> str | None:
    """Why the file at ``path`` must not be opened, or None when it is the file ``record`` saved."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"index file {path.name} is missing"
    if record.checksum is None:
        return "no checksum was recorded for it (saved by an older iconodex)"
    if size != record.size:
        return f"index file {path.name} has {size} bytes, {record.size} were saved (truncated or overwritten)"
    algorithm = record.checksum.split(":", 1)[0]
    if algorithm not in ("sha256", "xxh3_128") or (algorithm == "xxh3_128" and xxhash is None):
        return f"its {algorithm} checksum cannot be checked here"
    if file_checksum(path, algorithm) != record.checksum:
        return f"index file {path.name} does not match its checksum (its bytes were changed)"
    return None


def saved_name(space: str, checksum: str, suffix: str = "usearch") -> str:
    return f"{space}.{checksum.split(':', 1)[1][:16]}.{suffix}"
