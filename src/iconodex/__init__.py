"""iconodex: make image collections searchable by what the pictures show and what the catalogue says."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Collection", "__version__"]


def __getattr__(name: str):  # lazy: `import iconodex` stays fast and light
    if name == "Collection":
        from .collection import Collection

        return Collection
    raise AttributeError(name)
