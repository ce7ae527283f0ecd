"""Fetching model files from the Hugging Face hub into its standard cache, or finding them on disk.

Files go where every other Hugging Face tool looks for them (``$HF_HUB_CACHE``, else
``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``), so a model pulled once is shared, and an
interrupted download resumes (``hf_hub_download`` keeps ``.incomplete`` files). ``--offline`` and
``HF_HUB_OFFLINE=1`` resolve from the cache only. The environment is read at call time, not at
import time as ``huggingface_hub`` does, so a test or a CLI flag set late still counts.

A model that cannot be had fails with one sentence that names the missing files and how to get
them; there is never a silent fallback to another model. Before downloading, one request probes the
hub (at most ``PROBE_SECONDS``): huggingface_hub retries an unreachable host for about 25 s per
file, so a machine with no network would otherwise wait minutes for the same answer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, ModelNotAvailableError

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_CHUNK = 1 << 20
PROBE_SECONDS = 5.0
DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_cache_dir() -> Path:
    """The hub cache directory, honouring ``HF_HUB_CACHE`` and ``HF_HOME`` as huggingface_hub does."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def offline_requested(offline: bool | None = None) -> bool:
    """True when the caller asked for offline, or ``HF_HUB_OFFLINE`` is set to a true value."""
    if offline:
        return True
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


@dataclass
class ModelFiles:
    """The files of one model, resolved to local paths, with where they came from."""

    root: Path
    paths: dict[str, Path]
    repo_id: str | None = None  # None for a local directory
    revision: str | None = None  # the commit the hub cache resolved, when known
    _digests: dict[str, str] = field(default_factory=dict, repr=False)

    def path(self, relative: str) -> Path:
        return self.paths[relative]

    def has(self, relative: str) -> bool:
        return relative in self.paths

    def digest(self, relative: str) -> str:
        """sha256 of a file. Hub-cache blobs are named by their sha256 (LFS) or git hash already."""
        if relative not in self._digests:
            self._digests[relative] = _file_digest(self.paths[relative])
        return self._digests[relative]


def _file_digest(path: Path) -> str:
    target = path.resolve()
    if target.parent.name == "blobs" and len(target.name) in (40, 64):
        return target.name
    sha = hashlib.sha256()
    with target.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def repo_folder(repo_id: str) -> Path:
    """The cache folder of a repository: ``models--org--name``."""
    return hub_cache_dir() / ("models--" + repo_id.replace("/", "--"))


def cached_snapshot(repo_id: str, revision: str = "main") -> Path | None:
    """The snapshot folder a revision points to in the cache, without any network."""
    folder = repo_folder(repo_id)
    ref = folder / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = folder / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def missing_from_cache(repo_id: str, files: tuple[str, ...], revision: str = "main") -> list[str]:
    """Which of ``files`` the cache lacks for ``repo_id`` (all of them when nothing is cached)."""
    snapshot = cached_snapshot(repo_id, revision)
    if snapshot is None:
        return list(files)
    return [name for name in files if not (snapshot / name).is_file()]


def local_model_files(directory: Path, files: tuple[str, ...], label: str) -> ModelFiles:
    """A model copied by hand into ``directory``: every one of ``files`` must be there."""
    missing = [name for name in files if not (directory / name).is_file()]
    if missing:
        raise ModelNotAvailableError(
            f"model directory {directory} lacks {', '.join(missing)}; copy the complete {label} "
            "repository (every file listed in `iconodex models info`) into it"
        )
    return ModelFiles(root=directory, paths={name: directory / name for name in files})


def fetch_model_files(
    repo_id: str,
    files: tuple[str, ...],
    *,
    label: str,
    revision: str = "main",
    optional: tuple[str, ...] = (),
    offline: bool | None = None,
) -> ModelFiles:
    """Download (or find in the cache) ``files`` of ``repo_id``; ``optional`` ones may be absent.

    Raises ModelNotAvailableError naming every required file that could not be had.
    """
    download = _hf_hub_download()
    cache = hub_cache_dir()
    endpoint = os.environ.get("HF_ENDPOINT") or None  # a mirror, read now rather than at import
    local_only = offline_requested(offline) or _cache_only(repo_id, files, label, revision, endpoint)
    paths: dict[str, Path] = {}
    failures: dict[str, str] = {}
    for name in (*files, *optional):
        try:
            paths[name] = Path(
                download(repo_id, name, revision=revision, cache_dir=cache, local_files_only=local_only,
                         endpoint=endpoint)
            )
        except Exception as err:  # any failure means "this file is not available here"
            failures[name] = type(err).__name__
            log.debug("could not get %s from %s: %r", name, repo_id, err)
    missing = [name for name in files if name in failures]
    if missing:
        raise _not_available(repo_id, label, missing, failures, local_only, cache)
    root = paths[files[0]].parent
    while root != root.parent and root.parent.name != "snapshots":
        root = root.parent
    return ModelFiles(root=root, paths=paths, repo_id=repo_id, revision=root.name or revision)


def _cache_only(repo_id: str, files: tuple[str, ...], label: str, revision: str, endpoint: str | None) -> bool:
    """True when the hub cannot be reached but the cache holds every file; raises when it lacks some."""
    where = endpoint or DEFAULT_ENDPOINT
    problem = hub_unreachable(where)
    if problem is None:
        return False
    if missing_from_cache(repo_id, files, revision):
        raise ModelNotAvailableError(
            f"model {label!r} ({repo_id}) cannot be downloaded: the hub {where} {problem}; check the "
            f"connection (or HF_ENDPOINT) and run `iconodex models pull {label}`, or pass a local directory "
            "holding the files as the model name")
    log.info("hub %s %s; using the cached copy of %s", where, problem, repo_id)
    return True


def hub_unreachable(endpoint: str, seconds: float = PROBE_SECONDS) -> str | None:
    """Why ``endpoint`` cannot be reached within ``seconds`` (one request, DNS included), else None.
    Any HTTP answer, even an error status, means the hub is there."""
    import httpx

    outcome: list[str | None] = []

    def probe() -> None:
        try:
            httpx.head(endpoint, timeout=seconds, follow_redirects=False)
            outcome.append(None)
        except httpx.TimeoutException:
            outcome.append(f"did not answer within {seconds:g} s")
        except httpx.HTTPError as err:
            outcome.append(f"cannot be reached ({type(err).__name__}: {err})")

    # A thread bounds the whole probe: httpx's timeouts do not cover name resolution.
    worker = threading.Thread(target=probe, name="hub-probe", daemon=True)
    worker.start()
    worker.join(seconds + 0.5)
    return outcome[0] if outcome else f"did not answer within {seconds:g} s"


def _not_available(
    repo_id: str, label: str, missing: list[str], failures: dict[str, str], offline: bool, cache: Path
) -> ModelNotAvailableError:
    names = ", ".join(missing)
    if offline:
        how = (
            f"offline mode found only part of it or nothing in {cache}; run `iconodex models pull {label}` "
            "on a machine with internet and copy that cache (or the repository as a directory) here"
        )
    else:
        reasons = sorted(set(failures[name] for name in missing))
        how = (
            f"downloading into {cache} failed ({', '.join(reasons)}); check the connection and run "
            f"`iconodex models pull {label}`, or pass a local directory holding the files as the model name"
        )
    return ModelNotAvailableError(f"model {label!r} ({repo_id}) is missing {names}: {how}")


def _hf_hub_download():
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ConfigError(
            "fetching models needs huggingface_hub; install it with `pip install 'iconodex[hub]'`"
        ) from None
    return hf_hub_download
