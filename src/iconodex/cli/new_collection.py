"""Undoing a collection that a failed first command made: the folder is left as it was found."""

from __future__ import annotations

import shutil
from pathlib import Path


def entries(path: Path) -> set[str] | None:
    """What a folder holds; None when there is no folder."""
    return {entry.name for entry in path.iterdir()} if path.is_dir() else None


def remove_new_collection(path: Path, there_before: set[str] | None) -> None:
    """Undo a collection a command made and then stored nothing in (a first ingest whose source failed,
    an import whose every row was skipped): left there, it would fix the model, engine and options, and
    refuse the corrected command's. Whatever the folder held before (``there_before``) stays."""
    if there_before is None:
        shutil.rmtree(path, ignore_errors=True)
        return
    for entry in path.iterdir():
        if entry.name in there_before:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
