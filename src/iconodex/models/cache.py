"""Where converted model files live, and how they are written without ever leaving a half file.

Conversions (torch pickle → ONNX, class names → embeddings) take seconds; loading the result takes
milliseconds. Files are keyed by a digest of their inputs, so a changed input simply makes a new
file, and they are written to a temporary name and renamed, so a crash or two processes converting
at once never leave a truncated file under the final name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """``$ICONODEX_CACHE``, else ``$XDG_CACHE_HOME/iconodex``, else ``~/.cache/iconodex`` (created)."""
    explicit = os.environ.get("ICONODEX_CACHE")
    if explicit:
        path = Path(explicit).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base).expanduser() / "iconodex"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot create the cache directory {path} ({err.strerror}); set ICONODEX_CACHE"
        ) from None
    return path


def cache_path(*parts: str) -> Path:
    """A path inside the cache dir; intermediate folders are created."""
    path = cache_dir().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def file_digest(path: str | Path, length: int = 16) -> str:
    """Hex blake2b digest of a file's bytes (``length`` bytes → twice as many hex digits)."""
    digest = hashlib.blake2b(digest_size=length)
    with Path(path).open("rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".b2")


def read_verified(path: str | Path) -> bytes | None:
    """The bytes cached at ``path`` if they match the digest stored beside them, else ``None``.

    A file damaged on disk (a full disk, a copy cut short, an edit) reads as missing, so the caller
    rebuilds it instead of failing somewhere deep inside a model runtime.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        expected = _digest_path(path).read_text().strip()
    except OSError:
        return None
    if hashlib.blake2b(data, digest_size=16).hexdigest() != expected:
        logger.warning("cached file %s is damaged; rebuilding it", path)
        return None
    return data


def write_verified(path: str | Path, data: bytes) -> None:
    """Write ``data`` atomically, then its digest beside it (the digest last: it seals the file)."""
    path = Path(path)
    write_atomic(path, data)
    write_atomic(_digest_path(path), hashlib.blake2b(data, digest_size=16).hexdigest().encode())


def cached_bytes(path: str | Path, build: Callable[[], bytes]) -> bytes:
    """The verified bytes at ``path``; when absent or damaged, ``build()`` them and cache them."""
    data = read_verified(path)
    if data is None:
        data = build()
        try:
            write_verified(path, data)
        except OSError as err:  # a read-only cache costs speed, not correctness
            logger.warning(
                "cannot write cache file %s (%s); it will be rebuilt next time", path, err.strerror
            )
    return data
