"""Settings: sensible defaults, overridden by a config file, then by ICONODEX_* environment
variables, then by command-line flags.

Files read, later ones winning: ``~/.config/iconodex/config.toml`` (or ``$XDG_CONFIG_HOME``),
``./iconodex.toml``, ``<collection>/iconodex.toml``, and the file named by ``ICONODEX_CONFIG``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class Settings:
    # pipeline
    chunk_size: int = 256          # items committed together; a kill -9 loses at most one chunk
    batch_size: int = 32           # images per model call: a smaller batch costs the model more per picture, a larger one more memory
    workers: int = 8               # concurrent fetch + decode threads
    per_host: int = 4              # concurrent requests to one host
    timeout: float = 20.0          # seconds an HTTP read may wait
    deadline: float = 60.0         # seconds for a whole HTTP request, body included
    fetch_budget_mb: int = 128     # bodies being downloaded at once, all threads together
    host_failures: int = 6         # connection failures in a row before a host is given up for the run
    retries: int = 3               # retries on 429 / 5xx / transport errors
    max_pixels: int = 100_000_000  # larger images are refused as decompression bombs
    cache_dir: str = ""            # fetched bytes; default: <collection>/cache
    cache_max_mb: int = 2048
    languages: list[str] = field(default_factory=lambda: ["en"])
    cluster: str = ""              # Dask scheduler (tcp://HOST:8786) whose workers fetch + embed; "": here
    # search
    alpha: float = 0.5             # weight of what the picture shows vs what the catalogue says
    keyword: bool = True           # merge a keyword (FTS5) leg by reciprocal rank fusion
    max_limit: int = 1000
    # model runtime
    threads: int = 0               # inference threads; 0 = all cores
    offline: bool = False          # never reach a model hub
    # server (iconodex serve)
    allow_hosts: list[str] = field(default_factory=list)   # private hosts its URL searches and ingests may reach
    ingest_roots: list[str] = field(default_factory=list)  # folders POST /ingest may read; none: no local paths
    # source credentials: given at run time (here, ICONODEX_OMEKA_KEY_* or -o), never stored in a collection
    omeka_key_identity: str = field(default="", repr=False)
    omeka_key_credential: str = field(default="", repr=False)

    def merge(self, values: dict[str, Any], origin: str, *, strict: bool = True) -> Settings:
        known = {f.name: f for f in fields(self)}
        changes = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in known and not strict:
                continue  # other tools' ICONODEX_* variables (e.g. the server's API key)
            if name not in known:
                raise ConfigError(f"{origin}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
            changes[name] = _in_range(name, _coerce(value, getattr(self, name), f"{origin}: {key}"), origin)
        return dataclasses.replace(self, **changes)


# The least each number may be (the pipeline would otherwise stall or spin: chunks of 0 items embed
# nothing), and whether it must be more than that (a timeout of 0 s). Other numbers take any value.
AT_LEAST: dict[str, tuple[float, bool]] = {
    "chunk_size": (1, False), "batch_size": (1, False), "workers": (1, False), "per_host": (1, False),
    "fetch_budget_mb": (1, False), "host_failures": (1, False), "max_pixels": (1, False), "max_limit": (1, False),
    "retries": (0, False), "cache_max_mb": (0, False), "threads": (0, False),
    "timeout": (0, True), "deadline": (0, True),
}
YES = {"1", "true", "yes", "on"}
NO = {"0", "false", "no", "off", ""}


def _in_range(name: str, value: Any, origin: str) -> Any:
    if name == "alpha" and not 0.0 <= value <= 1.0:  # also refuses NaN
        raise ConfigError(f"{origin}: alpha must be between 0 and 1 (0: the catalogue only, 1: the picture only)")
    if name not in AT_LEAST or isinstance(value, bool):
        return value
    least, strictly = AT_LEAST[name]
    if not (value > least if strictly else value >= least):  # NaN fails both
        raise ConfigError(f"{origin}: {name} must be {'more than' if strictly else 'at least'} {least}, not {value}")
    return value


def _coerce(value: Any, current: Any, where: str) -> Any:
    if isinstance(value, str) and not isinstance(current, str):
        try:
            if isinstance(current, bool):
                return _yes_or_no(value, where)
            if isinstance(current, list):
                return [part.strip() for part in value.split(",") if part.strip()]
            return type(current)(value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not a valid {type(current).__name__}") from None
    if _is_number(current) and not _is_number(value):  # a list or a table in a config file
        raise ConfigError(f"{where}: {value!r} is not a number")
    if isinstance(current, int) and isinstance(value, float):  # workers = 2.5 in a TOML file
        if not value.is_integer():
            raise ConfigError(f"{where}: {value!r} is not a whole number")
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _yes_or_no(value: str, where: str) -> bool:
    word = value.strip().lower()
    if word not in YES | NO:
        raise ConfigError(f"{where}: {value!r} is not yes or no (true/false, on/off, 1/0)")
    return word in YES


def config_files(collection: Path | None) -> list[Path]:
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidates = [home / "iconodex" / "config.toml", Path.cwd() / "iconodex.toml"]
    if collection is not None:
        candidates.append(Path(collection) / "iconodex.toml")
    if os.environ.get("ICONODEX_CONFIG"):
        candidates.append(Path(os.environ["ICONODEX_CONFIG"]))
    return [path for path in candidates if path.is_file()]


def load_settings(collection: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    settings = Settings()
    for path in config_files(collection):
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config ({exc})") from None
        settings = settings.merge(data.get("iconodex", data), str(path))
    env = {key[len("ICONODEX_"):].lower(): value for key, value in os.environ.items()
           if key.startswith("ICONODEX_")}
    settings = settings.merge(env, "environment", strict=False)
    return settings.merge({k: v for k, v in (overrides or {}).items() if v is not None}, "option")
