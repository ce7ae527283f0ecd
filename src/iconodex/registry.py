"""A tiny name → factory registry, one per seam (sources, models, engines, formats).

A new source, model, engine or format is one module that calls ``REGISTRY.register``;
nothing else in the tree changes.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories. Built-in entries are imported lazily by module path."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T] | T:
        """Register ``entry`` under ``name``; usable as a decorator."""
        if entry is not None:
            self._entries[name] = entry
            return entry

        def decorate(obj: T) -> T:
            self._entries[name] = obj
            return obj

        return decorate

    def register_lazy(self, name: str, module: str) -> None:
        """Register a built-in whose module is imported on first use (keeps start-up fast)."""
        self._lazy[name] = module

    def get(self, name: str) -> T:
        if name not in self._entries and name in self._lazy:
            importlib.import_module(self._lazy[name])
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self.names())) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(set(self._entries) | set(self._lazy))

    def items(self) -> Iterator[tuple[str, T]]:
        for name in self.names():
            yield name, self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy


def check_options(what: str, factory: Callable[..., Any], options: Mapping[str, Any],
                  hidden: tuple[str, ...] = ()) -> None:
    """A one-line ConfigError for an option ``factory`` does not take (a typo in ``--model-option`` or
    ``--engine-option``), or for text where it takes a number (options typed on a command line arrive as
    text), before anything is made with them. ``hidden``: parameters that are not options."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no readable signature: the factory checks its own options
        return
    named = {key: p for key, p in parameters.items()
             if key not in hidden and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(named))
        if unknown:
            raise ConfigError(f"{what} has no option {unknown[0]!r}{did_you_mean(unknown[0], named)}; "
                              f"its options: {', '.join(named)}")
    for key, value in options.items():
        kind = _number_kind(named[key]) if key in named else None
        if kind is not None and value is not None and not isinstance(value, bool):
            try:
                kind(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{what}: option {key} must be a number, not {value!r}") from None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean X?)`` for the known name closest to a mistyped one, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _number_kind(parameter: inspect.Parameter) -> type | None:
    """int or float where the parameter is declared (or defaults to) one, else None."""
    declared = parameter.annotation if isinstance(parameter.annotation, str) else getattr(
        parameter.annotation, "__name__", "")
    match = re.match(r"\s*(int|float)\b", str(declared))
    if match:
        return int if match.group(1) == "int" else float
    default = parameter.default
    return type(default) if isinstance(default, int | float) and not isinstance(default, bool) else None
