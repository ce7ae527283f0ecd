"""``iconodex models list|pull|info``: what can be used, fetch it once, see what is on disk."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..models.catalog import CATALOG, ModelEntry, find_entry
from ..models.hub import cached_snapshot, fetch_model_files, hub_cache_dir, missing_from_cache
from .options import json_option, print_json, quiet_option


@click.group(name="models")
def command() -> None:
    """CLIP-family models: list them, pull them into the Hugging Face cache, inspect them."""


@command.command("list")
@json_option
def list_models(as_json: bool) -> None:
    """Every supported model, with its size, licence and whether it is cached here."""
    rows = [_summary(entry) for entry in CATALOG.values()]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"CLIP-family models (cache: {hub_cache_dir()})")
    for column in ("name", "family", "hub id", "dims", "download", "licence", "cached"):
        table.add_column(column, justify="right" if column in ("dims", "download") else "left")
    for row in rows:
        table.add_row(row["name"], row["family"], row["hub_id"], str(row["dims"]),
                      f"~{row['size_mb']} MB", row["licence"], row["cached"])
    _console().print(table)
    click.echo("Also: 'offline' (built in, no download) and 'auto' (uform3-multilingual when it can be had, "
               "else offline). Any local model directory works as a name too.")


@command.command("pull")
@click.argument("name")
@click.option("--fp16", is_flag=True, help="Also fetch the fp16 graphs (used on GPUs) where the export has them.")
@quiet_option
def pull(name: str, fp16: bool, quiet: bool) -> None:
    """Download NAME into the Hugging Face cache (resumes an interrupted download)."""
    entry = _entry(name)
    if quiet:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    files = fetch_model_files(entry.repo_id, entry.files, label=entry.name, revision=entry.revision,
                              optional=entry.fp16_files if fp16 else ())
    from ..models.clip import load_clip

    encoder = load_clip(entry.name, offline=True, device="cpu", precision="fp32")  # proves the files load
    click.echo(f"{entry.name}: {len(files.paths)} files in {files.root} ({encoder.dims} dims), ready offline")


@command.command("info")
@click.argument("name")
@json_option
def info(name: str, as_json: bool) -> None:
    """Files, configuration and cache location of NAME (a catalog name, hub id or directory); never downloads."""
    details = _local_details(Path(name).expanduser()) if Path(name).expanduser().is_dir() else _entry_details(_entry(name))
    if as_json:
        print_json(details)
        return
    from rich.table import Table

    console = _console()
    for key, value in details.items():
        if key not in ("files", "config"):
            console.print(f"[bold]{key}[/bold]: {value}")
    table = Table(title="files")
    for column in ("file", "present", "path"):
        table.add_column(column)
    for relative, (present, path) in details["files"].items():
        table.add_row(relative, "yes" if present else "[red]missing[/red]", path or "")
    console.print(table)
    if details.get("config"):
        console.print("[bold]config[/bold] (read from the model's own files):")
        for key, value in details["config"].items():
            console.print(f"  {key}: {value}")


def _entry(name: str) -> ModelEntry:
    entry = find_entry(name)
    if entry is None:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(CATALOG))}")
    return entry


def _cached_label(entry: ModelEntry) -> str:
    missing = missing_from_cache(entry.repo_id, entry.files, entry.revision)
    if not missing:
        return "yes"
    return "no" if len(missing) == len(entry.files) else f"partial ({len(missing)} missing)"


def _summary(entry: ModelEntry) -> dict[str, Any]:
    return {"name": entry.name, "family": entry.family, "hub_id": entry.repo_id, "dims": entry.dims,
            "size_mb": entry.size_mb, "licence": entry.licence, "cached": _cached_label(entry)}


def _entry_details(entry: ModelEntry) -> dict[str, Any]:
    snapshot = cached_snapshot(entry.repo_id, entry.revision)
    files = {name: _presence(snapshot / name if snapshot else None) for name in (*entry.files, *entry.fp16_files)}
    details = {
        "name": entry.name, "summary": entry.summary, "hub_id": entry.repo_id, "revision": entry.revision,
        "snapshot": str(snapshot) if snapshot else f"not cached (cache: {hub_cache_dir()})",
        "dims": entry.dims, "download": f"~{entry.size_mb} MB", "licence": entry.licence,
        "languages": entry.languages, "zero_shot": entry.zero_shot, "source": entry.source,
        "query_prompt": entry.prompt, "files": files,
    }
    if all(files[name][0] for name in entry.files):
        details["config"] = _config(entry.family, entry.repo_id, entry.files, entry.revision)
    return details


def _local_details(directory: Path) -> dict[str, Any]:
    from ..models.catalog import FAMILY_FILES
    from ..models.clip.families import detect_family

    family = detect_family(directory)
    files = {name: _presence(directory / name) for name in FAMILY_FILES[family]}
    details: dict[str, Any] = {"name": directory.name, "family": family, "path": str(directory), "files": files}
    if all(present for present, _ in files.values()):
        from ..models.hub import local_model_files

        spec = _spec(family, local_model_files(directory, FAMILY_FILES[family], str(directory)))
        details["config"] = spec
    return details


def _config(family: str, repo_id: str, files: tuple[str, ...], revision: str) -> dict[str, Any]:
    return _spec(family, fetch_model_files(repo_id, files, label=repo_id, revision=revision, offline=True))


def _spec(family: str, files) -> dict[str, Any]:
    from ..models.clip.families import read_spec

    spec = read_spec(family, files)
    return {"model_type": spec.model_type, "image": asdict(spec.image), "text": asdict(spec.text_spec),
            "image_graph": spec.vision, "text_graph": spec.text, "tokenizer": spec.tokenizer}


def _presence(path: Path | None) -> tuple[bool, str | None]:
    return (bool(path and path.is_file()), str(path) if path and path.is_file() else None)


def _console():
    from rich.console import Console

    return Console(soft_wrap=True)
