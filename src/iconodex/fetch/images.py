"""Fetch and decode the pictures behind ``ImageRef``s, one at a time or many in threads.

Every failure is an ``IconodexError`` carrying one line (URL masked): a batch reports its bad
items and goes on. Decoding runs in the worker threads too; Pillow releases the GIL while it
decodes, so threads overlap both the network wait and the pixel work.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass, replace
from functools import partial
from itertools import islice
from pathlib import Path

from PIL import Image

from ..errors import DecodeError, FetchError, IconodexError
from ..records import ImageRef
from . import iiif_image, iiif_tiles
from .cache import Cache
from .decode import DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIDE, decode_image, describe_os_error
from .http import HttpClient, mask_url
from .iiif_image import service_base

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FetchedImage:
    image: Image.Image  # RGB, shorter side reduced to about ``min_side``
    content_hash: str  # blake2b-128 of the fetched bytes: the same picture twice hashes the same
    source_url: str  # what was actually read (a sized IIIF URL, a URL, a file path)


class ImageFetcher:
    """Reads ``path`` refs from disk and ``url``/``iiif`` refs over ``http`` (cached if given)."""

    def __init__(
        self,
        http: HttpClient | None,
        cache: Cache | None = None,
        min_side: int = DEFAULT_MIN_SIDE,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        check_path: Callable[[str], None] | None = None,
    ) -> None:
        self.http = http
        self.cache = cache
        self.min_side = min_side
        self.max_pixels = max_pixels
        self.check_path = check_path  # raises for paths this fetcher must not read (a confined ingest)

    def fetch(self, ref: ImageRef, *, final_resize: bool = True) -> FetchedImage:
        """Fetch and decode one picture; raises ``FetchError`` or ``DecodeError`` (one line).
        ``final_resize=False``: see ``decode_image`` (for a caller that resizes the picture itself)."""
        data, where = self._read(ref)
        return self._decode(data, where, final_resize)

    def fetch_fitted(self, ref: ImageRef, transform: Callable[[Image.Image], Image.Image]) -> FetchedImage:
        """Fetch, decode and ``transform`` (a model's resize and crop) one picture, which is then
        resampled once: by ``transform``, from the cheaply reduced decode."""
        fetched = self.fetch(ref, final_resize=False)
        try:
            image = transform(fetched.image)
        except OSError as exc:  # PIL decodes lazily: a truncated file can fail only now
            raise DecodeError(f"{fetched.source_url}: {exc}") from None
        return replace(fetched, image=image)

    def _read(self, ref: ImageRef) -> tuple[bytes, str]:
        """The picture's bytes and where they were read."""
        if ref.kind == "path":
            if self.check_path is not None:
                self.check_path(ref.location)
            return self._read_path(ref.location), ref.location
        if ref.kind == "url":
            return self._get(ref.location), ref.location
        if ref.kind == "iiif":
            return self._read_iiif(ref)
        raise FetchError(f"{ref.location}: unknown image kind {ref.kind!r}")

    def fetch_many(
        self, refs: Iterable[ImageRef], workers: int = 8,
        transform: Callable[[Image.Image], Image.Image] | None = None,
    ) -> Iterator[tuple[int, FetchedImage | IconodexError]]:
        """Yield ``(index in refs, result or error)`` as each completes, in completion order.

        At most ``2 * workers`` fetches are in flight, so a long ``refs`` iterable is consumed
        lazily and memory stays bounded. ``transform`` (e.g. the model's resize and crop) runs in
        the worker thread too, so the thread that feeds the model only stacks and runs it.
        """
        from .prefetch import Prefetch  # prefetch builds on this module

        fetch = self.fetch if transform is None else partial(self.fetch_fitted, transform=transform)
        limit = 2 * max(1, workers)
        todo = enumerate(refs)
        with closing(Prefetch(fetch, workers, ahead=limit)) as ahead:
            in_flight = 0
            for entry in islice(todo, limit):
                ahead.submit([entry])
                in_flight += 1
            while in_flight:
                yield ahead.take()
                in_flight -= 1
                for entry in islice(todo, 1):  # one taken, one more read from ``refs``
                    ahead.submit([entry])
                    in_flight += 1

    def _read_iiif(self, ref: ImageRef) -> tuple[bytes, str]:
        """Ask for a sized image; a server that refuses it (a level-0 one, a 1.1 one asked for
        ``default``, one with size limits) gets its info.json read once and a request it serves."""
        sized = iiif_image.image_url(ref, self.min_side)
        try:
            return self._get(sized), sized
        except FetchError as exc:
            if not _is_client_error(exc) or ref.sizes:
                raise
            first_error = exc
        retry = self._described_request(ref, first_error)
        if isinstance(retry, str):
            return self._get(retry), retry
        return iiif_tiles.assemble(retry, self._get), service_base(ref.location)

    def _described_request(self, ref: ImageRef, first_error: FetchError) -> str | iiif_tiles.TiledPicture:
        try:
            info = self._require_http().get_json(iiif_image.info_url(ref))
            return iiif_image.request_after_info(info, ref.location, self.min_side)
        except IconodexError as exc:
            raise FetchError(f"{first_error}; info.json: {exc}", status=first_error.status) from None

    def _get(self, url: str) -> bytes:
        return self._require_http().get_bytes(url, cache=self.cache)

    def _require_http(self) -> HttpClient:
        if self.http is None:
            raise FetchError("this fetcher has no HTTP client; only local files can be read")
        return self.http

    @staticmethod
    def _read_path(location: str) -> bytes:
        try:
            return Path(location).read_bytes()
        except OSError as exc:
            raise FetchError(f"{location}: cannot read ({describe_os_error(exc)})") from None

    def _decode(self, data: bytes, where: str, final_resize: bool) -> FetchedImage:
        try:
            image = decode_image(data, self.min_side, max_pixels=self.max_pixels, final_resize=final_resize)
        except DecodeError as exc:
            shown = mask_url(where) if "://" in where else where
            raise DecodeError(f"{shown}: {exc}") from None
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        return FetchedImage(image=image, content_hash=digest, source_url=where)


def _is_client_error(exc: FetchError) -> bool:
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429


def settle(future: Future[FetchedImage]) -> FetchedImage | IconodexError:
    """A finished fetch's picture or its one-line error (a bug becomes a logged ``FetchError``)."""
    try:
        return future.result()
    except IconodexError as exc:
        return exc
    except Exception as exc:  # a bug must not end the batch, but it must be visible
        log.exception("unexpected error while fetching an image")
        return FetchError(f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
