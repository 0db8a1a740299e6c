"""The one outbound HTTP seam of the channels (SMS, push and webhook providers).

Built on the standard library's http.client (no requests/urllib3 in the send path): a
request is a fresh connection with a hard timeout, a capped response body, and — for URLs
that come from users (webhook targets, Web Push endpoints) — an SSRF guard. The guard
resolves the host once, refuses it if any resolved address is private, loopback,
link-local, multicast, reserved or unspecified, and then connects to that checked address
(the URL's host still goes in the Host header and TLS SNI/certificate check): a second DNS
answer can never swap in an internal address (DNS rebinding). Redirects are followed only
when asked (`max_redirects`), each target checked the same way.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import urljoin, urlsplit

MAX_RESPONSE_BYTES = 1_048_576
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "Itinera/0.1 (+channels)"


class NetError(Exception):
    """The request did not get an answer (refused, reset, DNS failure, timeout)."""


class NetTimeout(NetError):
    """No answer in time: the provider may or may not have acted on the request."""


class BlockedAddress(NetError):
    """The URL points where Itinera must not connect (SSRF guard) or is not http(s)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes
    url: str

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


@dataclass(frozen=True)
class AddressGuard:
    """Refuse non-public destinations, except hosts listed in `allowed_hosts`."""

    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def allowing(cls, hosts: Iterable[str]) -> AddressGuard:
        return cls(frozenset(h.strip().lower().strip("[]") for h in hosts if h.strip()))

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to (in order), after checking every one the name has."""
        addresses = _resolve(host, port)
        if host.lower() in self.allowed_hosts:
            return addresses
        for address in addresses:
            if not is_public_address(address):
                raise BlockedAddress(f"{host} resolves to {address}, a non-public address.")
        return addresses


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
    )


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise NetError(f"Cannot resolve {host}: {exc}") from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    if not addresses:
        raise NetError(f"{host} has no address.")
    return addresses


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    guard: AddressGuard | None = None,
    max_redirects: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    redirect_statuses: Collection[int] = REDIRECT_STATUSES,
) -> Response:
    """Send one HTTP request; return the final response (any status) or raise NetError.

    Redirects with a status in `redirect_statuses` are followed up to `max_redirects`; any
    other answer (a 3xx included) is returned as it is.
    """
    for _hop in range(max_redirects + 1):
        response = _request_once(method, url, headers or {}, body, timeout, guard, ssl_context)
        location = response.header("Location")
        if response.status not in redirect_statuses or not location or max_redirects == 0:
            return response
        target = urljoin(url, location)
        if urlsplit(target).netloc != urlsplit(url).netloc:
            # Credentials meant for one host are not handed to another.
            headers = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        url = target
        if response.status == 303 or (response.status in (301, 302) and method != "HEAD"):
            # What browsers and HTTP clients do: the redirected request is a GET, bodiless.
            method, body = "GET", None
            headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
    raise NetError(f"More than {max_redirects} redirects.")


def _request_once(method, url, headers, body, timeout, guard, ssl_context) -> Response:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedAddress(f"Only http and https URLs are allowed, not {url[:100]!r}.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise BlockedAddress(f"Bad port in {url[:100]!r}.") from None
    host = parts.hostname
    addresses = guard.resolve(host, port) if guard else None
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(
            host, port, addresses=addresses, timeout=timeout, context=ssl_context
        )
    else:
        connection = _PinnedHTTPConnection(host, port, addresses=addresses, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
    try:
        connection.request(method, path, body=body, headers=all_headers)
        answer = connection.getresponse()
        content = answer.read(MAX_RESPONSE_BYTES)
        return Response(status=answer.status, headers=answer.msg, body=content, url=url)
    except TimeoutError as exc:
        raise NetTimeout(f"No answer from {host} within {timeout:g}s.") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise NetError(f"{host}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        connection.close()


def _connect(addresses: list[str] | None, host: str, port: int, timeout) -> socket.socket:
    """A socket to the first of the checked addresses that answers (never a new lookup)."""
    if addresses is None:
        return socket.create_connection((host, port), timeout)
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error or OSError(f"No address for {host}.")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses the guard checked when given, else to the host."""

    def __init__(self, host, port, *, addresses=None, timeout=None):
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self):
        self.sock = _connect(self._addresses, self.host, self.port, self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, addresses=None, timeout=None, context=None):
        super().__init__(host, port, timeout=timeout,
                         context=context or ssl.create_default_context())
        self._addresses = addresses

    def connect(self):
        sock = _connect(self._addresses, self.host, self.port, self.timeout)
        # The certificate is checked against the URL's host name, not the pinned address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
