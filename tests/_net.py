"""Loopback helpers shared by the tests that start real servers."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen | None = None, what: str = "server",
                  timeout: float = 20.0) -> None:
    """Poll ``url`` until it answers at all; fail early if ``process`` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            detail = process.stderr.read().decode(errors="replace")[-500:] if process.stderr else ""
            raise RuntimeError(f"{what} exited with {process.returncode}: {detail}")
        try:
            httpx.get(url, timeout=1.0, trust_env=False)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


@contextmanager
def running(command: list[str], ready_url: str, what: str, **popen: object) -> Iterator[subprocess.Popen]:
    """Start ``command``, wait until ``ready_url`` answers, and always stop it afterwards."""
    popen = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, **popen}  # a full pipe would block it
    process = subprocess.Popen(command, **popen)  # type: ignore[call-overload]
    try:
        wait_until_up(ready_url, process, what)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
