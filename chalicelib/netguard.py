"""Server-side request forgery guard for every URL the platform calls on a customer's behalf.

Two checks, both refusing loopback, private, shared (CGNAT), link-local (cloud metadata at
169.254.169.254 included), multicast, reserved and unspecified addresses:

* at input, :func:`check_url` on the URL as written: the scheme, IP literals in every spelling a
  resolver accepts (``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``, ``[::ffff:127.0.0.1]``)
  and names that are internal by definition (``localhost``, ``*.internal``, ``metadata`` ...);
* at send time, :func:`public_session`: a ``requests`` session whose connections check the address
  the socket actually connected to (``getpeername``), so a public name that resolves to 10.x, or
  a DNS answer that changes between check and connect (rebinding), is refused before a byte is sent.

``ALLOW_PRIVATE_URLS`` (default false) switches both off for local development (the dev stack's
webhook receiver, tests with local receivers). Internal traffic (media control) uses
``chalicelib.httpclient.session``, which is not guarded.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that only ever mean "this machine" or "this cloud's internal network".
_INTERNAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "metadata",
                   "instance-data", "metadata.google.internal"}
_INTERNAL_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa", ".in-addr.arpa",
                      ".ip6.arpa")
# One to four dot-separated decimal, octal or hex parts: the legacy IPv4 spellings inet_aton accepts.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


class UnsafeUrl(ValueError):
    """A URL the platform must not call (the message says why, without echoing the URL)."""


def allow_private() -> bool:
    """``ALLOW_PRIVATE_URLS``: local development lets webhooks and tools reach private addresses."""
    from chalicelib.settings import get_settings

    return get_settings().allow_private_urls


def forbidden_ip(ip: IPAddress) -> bool:
    """True for any address that is not a public unicast address (IPv4 embedded in IPv6 unwrapped)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return forbidden_ip(embedded)
        if ip in _NAT64:  # 64:ff9b::/96 carries an IPv4 address in its low 32 bits
            return forbidden_ip(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return (not ip.is_global or ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_reserved or ip.is_unspecified)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling a resolver would accept; None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        pass
    if _LEGACY_IPV4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def check_url(url: str, *, allow_private_targets: bool | None = None) -> str:
    """``url`` unchanged when the platform may call it; :class:`UnsafeUrl` otherwise."""
    private_ok = allow_private() if allow_private_targets is None else allow_private_targets
    if _UNSAFE_CHARS.search(url):
        raise UnsafeUrl("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise UnsafeUrl("must be an http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an http(s) URL with a host")
    if private_ok:
        return url
    host = parts.hostname.lower().rstrip(".")
    ip = literal_ip(host)
    if ip is not None:
        if forbidden_ip(ip):
            raise UnsafeUrl("must not point at a private, loopback, link-local or otherwise non-public address")
        return url
    if host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
        raise UnsafeUrl("must use a public host name (not localhost or an internal name)")
    return url


# ---------------------------------------------------------------- send time
class BlockedAddress(OSError):
    """A connection reached an address the platform must not call."""


def _check_peer(sock: socket.socket) -> socket.socket:
    peer = sock.getpeername()[0]
    ip = ipaddress.ip_address(str(peer).split("%", 1)[0])
    if forbidden_ip(ip):
        sock.close()
        raise BlockedAddress(f"refused to connect to a non-public address ({ip})")
    return sock


@lru_cache(maxsize=1)
def _guarded_adapter_class() -> type[Any]:
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _check_peer(super()._new_conn())

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _check_peer(super()._new_conn())

    # urllib3 types ConnectionCls as its connection protocols, which a subclass of the real classes
    # satisfies at runtime but not structurally (Final class constants): the reason for the ignores.
    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection  # pyright: ignore[reportAssignmentType]

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection  # pyright: ignore[reportAssignmentType]

    class GuardedAdapter(HTTPAdapter):
        """Checks the connected address of every new connection (no proxies: the peer is the target)."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool,
                                                       "https": GuardedHTTPSConnectionPool}

    return GuardedAdapter


def guarded_adapter(**kwargs: Any) -> Any:
    """A ``requests`` adapter that refuses connections to non-public addresses."""
    return _guarded_adapter_class()(**kwargs)


@lru_cache(maxsize=2)
def _public_session(private_ok: bool) -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    http = requests.Session()
    http.trust_env = False  # no proxy from the environment: the guard checks the peer it connects to
    # Many calls at once call tool webhooks (threads): keep more sockets.
    adapter = (HTTPAdapter if private_ok else guarded_adapter)(pool_connections=16, pool_maxsize=64)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def public_session() -> requests.Session:
    """The pooled session for customer URLs (webhooks, tools, assistant-request): guarded unless
    ``ALLOW_PRIVATE_URLS`` is set."""
    return _public_session(allow_private())
