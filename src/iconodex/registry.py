"""A tiny name → factory registry, one per seam (sources, models, engines, formats).

A new source, model, engine or format is one module that calls ``REGISTRY.register``;
nothing else in the tree changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

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
