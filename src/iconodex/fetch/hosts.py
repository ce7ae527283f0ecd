"""A circuit breaker per host: a server that stopped answering costs seconds, not minutes.

After ``limit`` failures in a row to reach a host (refused, unresolvable, timed out before any
answer), every later request to it in this run fails at once with the last reason. Items failed
that way are retried by the next run, which starts with a new client.
"""

from __future__ import annotations

import logging
import threading

from ..logs import event

log = logging.getLogger(__name__)


class HostBreaker:
    """Counts consecutive connection failures per host; ``limit`` 0 never gives up."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures: dict[str, int] = {}
        self._given_up: dict[str, str] = {}
        self._lock = threading.Lock()

    def given_up(self, host: str) -> str | None:
        """The reason ``host`` was given up for this run, or None while it is still tried."""
        return self._given_up.get(host)

    def failed(self, host: str, reason: str) -> None:
        with self._lock:
            self._failures[host] = self._failures.get(host, 0) + 1
            if not self.limit or self._failures[host] < self.limit or host in self._given_up:
                return
            self._given_up[host] = reason
        event(log, "host given up for this run", logging.WARNING, host=host, failures=self.limit, reason=reason)

    def answered(self, host: str) -> None:
        with self._lock:
            self._failures[host] = 0

    def reset(self) -> None:
        """A new run tries every host again."""
        with self._lock:
            self._failures.clear()
            self._given_up.clear()
