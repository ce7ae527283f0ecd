"""The ``iconodex`` command line. Each command lives in its own module and is imported only when
run, so ``iconodex --help`` is instant and a new command is one new module plus one line here."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import click

from ..errors import IconodexError

COMMANDS: dict[str, str] = {
    "demo": "iconodex.cli.demo_cmd:command",
    "ingest": "iconodex.cli.ingest_cmd:command",
    "search": "iconodex.cli.search_cmd:command",
    "info": "iconodex.cli.info_cmd:command",
    "delete": "iconodex.cli.info_cmd:delete",
    "eval": "iconodex.cli.eval_cmd:command",
    "models": "iconodex.cli.models_cmd:command",
    "serve": "iconodex.cli.serve_cmd:command",
    "sync": "iconodex.cli.sync_cmd:command",
    "export": "iconodex.cli.formats_cmd:export",
    "import": "iconodex.cli.formats_cmd:import_",
    "neighbours": "iconodex.cli.formats_cmd:neighbours",
    "preview": "iconodex.cli.formats_cmd:preview",
    "duplicates": "iconodex.cli.formats_cmd:duplicates",
    "reindex": "iconodex.cli.reindex_cmd:command",
    "verify": "iconodex.cli.index_cmd:verify",
    "repair": "iconodex.cli.index_cmd:repair",
    "map": "iconodex.cli.map_cmd:command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not self._available(name):
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="iconodex")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Operator log level (stderr).")
@click.option("--log-json", is_flag=True, help="Log JSON lines instead of key=value text.")
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_json: bool, debug: bool) -> None:
    """Make image collections searchable by what the pictures show and what the catalogue says."""
    from ..logs import configure_logging

    configure_logging(log_level, log_json)
    ctx.obj = {"debug": debug}


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors are one line on stderr, never a traceback."""
    try:
        cli.main(args=argv, prog_name="iconodex", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except IconodexError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; run the same command again to resume", err=True)
        sys.exit(130)
    except OSError as exc:  # the machine said no (a missing folder, permissions, a full disk): not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # a bug: say so in one line, full traceback only on request
        if "--debug" in (argv if argv is not None else sys.argv):
            raise
        logging.getLogger("iconodex").debug("unexpected error", exc_info=True)
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)", err=True)
        sys.exit(1)
