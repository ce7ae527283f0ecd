"""Answers to repeated reads, kept until the collection changes.

Search logs repeat themselves: a handful of popular queries make up a large share of the traffic,
and a page's suggestions are asked again and again. ``AnswerCache`` keeps the bytes of ``200``
answers to ``GET /search``, ``/query`` and ``/items/{id}`` (LRU, bounded in entries and bytes) and
replays them without routing, validation, the search pool or serialisation.

An answer is only ever as old as the store: every request reads the store's change mark (SQLite's
``data_version`` and this process's own commits, one ``PRAGMA``), and any commit since the answers
were kept, an ingest, a delete or a sync by this process or another, empties the cache first.
Items are marked ``indexed`` only after the index that holds them is saved, so a mark that did not
move means the searches would find the same items. The key is the method, path, query string, host
and scheme (SARI's answer holds absolute URLs), and whether the request carries the API key (key
holders see more); a private server's requests without the key are never answered from here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .security import sees_inside
from .state import state_of

MAX_ENTRIES = 4096
CACHE_HEADER = b"x-iconodex-cache"


def cacheable(path: str) -> bool:
    """Reads whose answer depends only on the URL and the collection (not a picture's bytes)."""
    return path in ("/search", "/query") or (path.startswith("/items/") and not path.endswith("/image"))


class AnswerCache:
    """ASGI middleware; ``mark()`` is the store's change mark, read on every cacheable request."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_entries: int = MAX_ENTRIES) -> None:
        self.app = app
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._answers: OrderedDict[Hashable, tuple[Message, bytes]] = OrderedDict()
        self._bytes = 0
        self._mark: Hashable = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not cacheable(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = state_of(request)
        inside = sees_inside(request)
        if state.settings.private and not inside:  # the route answers 401/403
            await self.app(scope, receive, send)
            return
        mark = state.coll.store.generation
        self._follow(mark())
        key = (scope["path"], scope["query_string"], request.headers.get("host"), scope["scheme"],
               scope.get("root_path", ""), inside)
        kept = self._answers.get(key)
        if kept is not None:
            self._answers.move_to_end(key)
            await _replay(send, *kept)
            return
        await self.app(scope, receive, self._keeping(key, send, mark))

    def _follow(self, now: Hashable) -> None:
        if now != self._mark:
            self._answers.clear()
            self._bytes = 0
            self._mark = now

    def _keeping(self, key: Hashable, send: Send, mark: Callable[[], Hashable]) -> Send:
        """``send``, remembering a complete 200 answer sent in one body message (as JSON answers are),
        unless the store changed while it was computed (it may hold the older state)."""
        start: Message | None = None
        asked_at = self._mark

        async def keeping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message if message["status"] == 200 else None
                message = {**message, "headers": [*message.get("headers", []), (CACHE_HEADER, b"miss")]}
            elif message["type"] == "http.response.body" and start is not None:
                if not message.get("more_body", False) and mark() == asked_at == self._mark:
                    self._keep(key, start, message.get("body", b""))
                start = None
            await send(message)
        return keeping

    def _keep(self, key: Hashable, start: Message, body: bytes) -> None:
        if len(body) > self.max_bytes // 16:
            return
        replaced = self._answers.pop(key, None)  # two identical requests missed at once
        self._bytes -= len(replaced[1]) if replaced else 0
        self._answers[key] = (start, body)
        self._bytes += len(body)
        while len(self._answers) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, dropped) = self._answers.popitem(last=False)
            self._bytes -= len(dropped)


async def _replay(send: Send, start: Message, body: bytes) -> None:
    await send({**start, "headers": [*start.get("headers", []), (CACHE_HEADER, b"hit")]})
    await send({"type": "http.response.body", "body": body})
