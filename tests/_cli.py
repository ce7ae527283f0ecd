"""Running the real command line in-process, as a user would, with what it printed."""

from __future__ import annotations

import pytest

from iconodex.cli import main


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """``iconodex ARGS``: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return stopped.value.code or 0, out, err
