"""Progress bars for long stages (rich) on a terminal; nothing with ``quiet`` or when stderr is not a
terminal (a log file or a pipe would keep every redrawn bar)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


class ItemsPerSecond(TextColumn):
    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[override]
        speed = task.finished_speed or task.speed
        return f"{speed:,.1f} items/s" if speed else ""


class Stages:
    """One bar per pipeline stage."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def start(self, stage: str, total: int | None = None) -> None:
        if self._progress is not None and stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=total)

    def total(self, stage: str, total: int | None) -> None:
        if self._progress is not None and stage in self._tasks:
            self._progress.update(self._tasks[stage], total=total)

    def advance(self, stage: str, n: int = 1) -> None:
        if self._progress is not None and stage in self._tasks:
            self._progress.advance(self._tasks[stage], n)

    def finish(self, stage: str) -> None:
        if self._progress is not None and stage in self._tasks:
            task = self._progress.tasks[self._tasks[stage]]
            self._progress.update(self._tasks[stage], total=task.completed)


@contextmanager
def stages(quiet: bool = False, console: Console | None = None) -> Iterator[Stages]:
    console = console or Console(stderr=True)
    if quiet or not console.is_terminal:
        yield Stages(None)
        return
    progress = Progress(
        TextColumn("[bold]{task.description:<8}"), BarColumn(), MofNCompleteColumn(), ItemsPerSecond(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )
    with progress:
        yield Stages(progress)


def counted(items: Iterable[T], advance: Callable[[int], None],
            size: Callable[[T], int] = lambda item: 1) -> Iterator[T]:
    """``items`` as they come, telling ``advance`` each one's size once it has been used (a bar moves)."""
    for item in items:
        yield item
        advance(size(item))


@contextmanager
def preparing(what: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Announce work done once before first use (a model converted, names embedded), which would
    otherwise be tens of seconds of silence: a bar on a terminal, else one plain line on stderr,
    written before the work starts. Yields ``advance(n)``."""
    console = Console(stderr=True)
    if not console.is_terminal:
        print(f"preparing {what} …", file=sys.stderr, flush=True)
        yield lambda n=1: None
        return
    progress = Progress(TextColumn("preparing {task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    with progress:
        task = progress.add_task(what, total=total)
        yield lambda n=1: progress.advance(task, n)
