"""Options shared by several commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from ..errors import ConfigError

collection_option = click.option(
    "-c", "--collection", "collection", required=True, type=click.Path(file_okay=False),
    envvar="ICONODEX_COLLECTION", help="The collection directory (env ICONODEX_COLLECTION).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars (for scripts).")


def parse_pairs(values: tuple[str, ...], flag: str) -> dict[str, list[str]]:
    """``field=value`` pairs (repeatable) into a multi-valued dict."""
    pairs: dict[str, list[str]] = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{flag} expects field=value, got {raw!r}")
        pairs.setdefault(name.strip(), []).append(value.strip())
    return pairs


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def compose(*decorators: Callable) -> Callable:
    def apply(func: Callable) -> Callable:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply
