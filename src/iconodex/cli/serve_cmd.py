"""iconodex serve -c COLL [--host 127.0.0.1] [--port 8000] [--api-key KEY] [--private] [--cors ORIGIN]"""

from __future__ import annotations

import click

from ..collection import Collection
from ..serve.settings import API_KEY_ENV, ServeSettings
from .options import collection_option


@click.command()
@collection_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 exposes the server to the network).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--api-key", envvar=API_KEY_ENV, show_envvar=True,
              help="Key that allows changes (POST /ingest, DELETE /items); without it the server is read-only.")
@click.option("--private", is_flag=True, help="Require the API key for reads too.")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Allow browser pages from ORIGIN to call the API (repeatable; off by default).")
@click.option("--max-limit", default=100, show_default=True, type=click.IntRange(1, 1000),
              help="Most results one request may ask for.")
@click.option("--timeout", "request_timeout", default=30.0, show_default=True, type=click.FloatRange(1, 600),
              help="Seconds one search may take before it is answered with a 504.")
@click.option("--cache-mb", "answer_cache_mb", default=64, show_default=True, type=click.IntRange(0, 4096),
              help="Memory for answers to repeated searches, kept until the collection changes (0: off).")
@click.option("--search-threads", type=click.IntRange(1, 64),
              help="Searches computed at once; more wait in arrival order. Default: the cores the server may "
                   "use, at most 4.")
@click.option("--no-model", is_flag=True, help="Never load the model: answer like= queries only, in less memory.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST",
              help="A private host (an intranet IIIF server) that URL searches and POST /ingest may reach "
                   "(repeatable; config allow_hosts, env ICONODEX_ALLOW_HOSTS).")
@click.option("--ingest-root", "ingest_roots", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, resolve_path=True),
              help="A folder POST /ingest may read (repeatable; config ingest_roots, env ICONODEX_INGEST_ROOTS). "
                   "None by default: the API ingests URLs only.")
@click.pass_context
def command(ctx: click.Context, collection: str, host: str, port: int, api_key: str | None, private: bool,
            cors: tuple[str, ...], max_limit: int, request_timeout: float, answer_cache_mb: int,
            search_threads: int | None, no_model: bool, allow_hosts: tuple[str, ...], ingest_roots: tuple[str, ...]) -> None:
    """Serve the search page, the REST API (/docs), SARI's /query and /sparql."""
    from ..serve import run_server

    with Collection.open(collection, read_only=not api_key) as coll:
        threads = {"search_threads": search_threads} if search_threads else {}  # else one per usable core
        settings = ServeSettings(api_key=api_key or None, private=private, cors_origins=cors, max_limit=max_limit,
                                 request_timeout=request_timeout, answer_cache_mb=answer_cache_mb,
                                 load_model=not no_model,
                                 fetch_allow_hosts=allow_hosts or tuple(coll.settings.allow_hosts),
                                 ingest_roots=ingest_roots or tuple(coll.settings.ingest_roots), **threads)
        click.echo(f"iconodex: serving {coll.indexed_count()} items on http://{host}:{port} "
                   f"(API docs at /docs{'; changes need the API key' if api_key else '; read-only'})", err=True)
        run_server(coll, settings, host=host, port=port, log_level=_log_level(ctx))


def _log_level(ctx: click.Context) -> str:
    parent = ctx.find_root().params.get("log_level") or "warning"
    return "info" if parent == "warning" else parent  # uvicorn's access log is useful for a server
