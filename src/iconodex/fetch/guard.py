"""Fetch a URL that an *untrusted* client gave us (search by image URL) without becoming a proxy
into the server's own network (SSRF).

Rules, checked on the first request and on every redirect hop:
- only ``http`` and ``https``;
- the host name is resolved here and every address it resolves to must be public: loopback,
  private, link-local, unique-local, multicast, reserved, unspecified and cloud-metadata
  addresses are refused, including IPv4 hidden in IPv6 (mapped, 6to4, Teredo, NAT64);
- the connection goes to the address that was checked (the URL is rewritten to the IP, with the
  original ``Host`` header and TLS server name), so a second DNS answer cannot swap in a private
  address between check and connect (DNS rebinding);
- the body is streamed and cut at ``max_bytes``; the whole exchange has one deadline.
Environment proxies are ignored, since a proxy would connect on our behalf, unchecked.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from ..errors import FetchError
from .body import ACCEPT_ENCODING, read_capped
from .http import USER_AGENT
from .messages import mask_url, transport_failure

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
MAX_REDIRECTS = 5


class GuardedFetcher:
    """``fetch(url) -> bytes`` for client-given URLs; every refusal is a one-line ``FetchError``.

    ``allow_hosts`` names hosts (exact host names or IP literals, e.g. ``"127.0.0.1"``) that skip
    the address check; it exists for tests and for deliberately trusted intranet servers.
    """

    def __init__(self, max_bytes: int = 20 * 1024 * 1024, timeout: float = 15.0, allow_hosts: tuple[str, ...] = ()) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.allow_hosts = normalise_hosts(allow_hosts)
        self._client = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": ACCEPT_ENCODING},
        )

    def fetch(self, url: str) -> bytes:
        """The body of ``url`` after every hop passed the checks; raises ``FetchError``."""
        deadline = time.monotonic() + self.timeout
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                location = self._request(current, deadline)
            except httpx.TimeoutException:
                raise FetchError(f"{mask_url(url)}: timed out after {self.timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{mask_url(url)}: {transport_failure(exc, current)}") from None
            if isinstance(location, bytes):
                return location
            current = location
        raise FetchError(f"{mask_url(url)}: more than {MAX_REDIRECTS} redirects")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GuardedFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, url: str, deadline: float) -> bytes | str:
        """One hop: the body (bytes) or the next URL to visit (str)."""
        pinned_url, extensions, host_header = self._pin(url)
        request = self._client.build_request(
            "GET",
            pinned_url,
            headers={"Host": host_header},
            extensions=extensions,
            timeout=httpx.Timeout(max(0.01, deadline - time.monotonic())),
        )
        response = self._client.send(request, stream=True)
        try:
            if response.is_redirect:
                target = response.headers.get("Location", "")
                if not target:
                    raise FetchError(f"{mask_url(url)}: redirect without a Location")
                return urljoin(url, target)
            if response.status_code >= 400:
                raise FetchError(f"{mask_url(url)}: HTTP {response.status_code}", status=response.status_code)
            return read_capped(response, self.max_bytes, url, deadline=deadline, allowed=self.timeout)
        finally:
            response.close()

    def _pin(self, url: str) -> tuple[str, dict, str]:
        return pin_checked(url, self.allow_hosts)


class URLRefused(FetchError):
    """A URL the guard will not contact (a non-public address, a scheme other than http(s))."""


def pin_checked(url: str, allow_hosts: frozenset[str] = frozenset()) -> tuple[str, dict, str]:
    """Check ``url`` and rewrite it to connect to the checked address: the URL to connect to,
    the httpx extensions (TLS server name) and the original ``Host`` header."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError(f"{mask_url(url)}: not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise URLRefused(f"{mask_url(url)}: only http and https URLs are allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchError(f"{mask_url(url)}: no host in URL")
    host_header = parts.netloc.rsplit("@", 1)[-1]
    if host in allow_hosts:
        return url, {}, host_header
    address = _public_address(host, port or (443 if parts.scheme == "https" else 80), url)
    pinned, extensions = pin_to_address(url, address)
    return pinned, extensions, host_header


def _public_address(host: str, port: int, url: str) -> IPAddress:
    if host in METADATA_HOSTS:
        raise URLRefused(f"{mask_url(url)}: refused: {host} is a cloud metadata service")
    addresses = _resolve(host, port, url)
    for address in addresses:
        reason = refusal_reason(address)
        if reason:
            raise URLRefused(f"{mask_url(url)}: refused: {host} resolves to {reason} address {address}")
    return addresses[0]


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that sends every request, each redirect hop included (httpx follows
    redirects by sending each hop through the transport), only to a checked public address,
    pinned as ``GuardedFetcher`` does. For an ``HttpClient`` that untrusted input steers (httpx
    mounts no environment proxy beside a given transport, so none can carry a request past it)."""

    def __init__(self, allow_hosts: tuple[str, ...] = (), inner: httpx.BaseTransport | None = None) -> None:
        self.allow_hosts = normalise_hosts(allow_hosts)
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pinned, extensions, host_header = pin_checked(str(request.url), self.allow_hosts)
        # A new request: the client's keeps the original URL, so relative redirects and cookies
        # are resolved against the host name, not the pinned address.
        headers = httpx.Headers(request.headers)
        headers["Host"] = host_header
        sent = httpx.Request(request.method, pinned, headers=headers, stream=request.stream,
                             extensions={**request.extensions, **extensions})
        return self._inner.handle_request(sent)

    def close(self) -> None:
        self._inner.close()


def normalise_hosts(hosts: tuple[str, ...]) -> frozenset[str]:
    return frozenset(host.lower().strip().strip("[]") for host in hosts if host.strip())


def pin_to_address(url: str, address: IPAddress) -> tuple[str, dict[str, str]]:
    """``url`` rewritten to connect to ``address``, plus the httpx extensions that keep TLS
    checking the certificate against the original host name (SNI)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return pinned, extensions


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be contacted ("private", "loopback"…), or None when it is public."""
    if address in METADATA_ADDRESSES:
        return "cloud-metadata"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal_reason(embedded)
    for attribute in ("is_loopback", "is_link_local", "is_multicast", "is_unspecified", "is_reserved", "is_private"):
        if getattr(address, attribute):
            return attribute[3:].replace("_", "-")
    if not address.is_global:
        return "non-public"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve(host: str, port: int, url: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        # A URLRefused: to a client, a name that does not resolve must read like one that resolves to
        # a private address, or the two answers would map which internal names exist.
        raise URLRefused(f"{mask_url(url)}: cannot resolve {host} ({exc.args[-1] if exc.args else exc})") from None
    addresses = []
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise URLRefused(f"{mask_url(url)}: cannot resolve {host}")
    return addresses
