"""Which addresses user-supplied links may reach (the SSRF rule in docs/architecture.md)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Explicit, so the rule does not depend on the Python version's own tables (3.11's
# ``is_global`` still calls 192.0.0.192 and ::127.0.0.1 global).
_NON_PUBLIC_V4 = [ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)]
_NON_PUBLIC_V6 = [ipaddress.IPv6Network(n) for n in (
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)]
# IPv6 ranges whose last 32 bits are an IPv4 address: IPv4-compatible, IPv4-mapped,
# IPv4-translated (SIIT) and the well-known NAT64 prefix.
_EMBEDS_V4_LOW32 = [ipaddress.IPv6Network(n) for n in (
    "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96",
)]
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")


class UnsafeURLError(ValueError):
    """A link that must not be fetched: wrong scheme, or a non-public address."""


class MalformedURLError(UnsafeURLError):
    """A link that is not a well-formed http(s) URL (bad host, port or IPv6 literal)."""


def _embedded_v4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 spelling leads to (mapped, compatible, NAT64, 6to4, Teredo)."""
    if any(address in net for net in _EMBEDS_V4_LOW32):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _SIX_TO_FOUR:
        return [address.sixtofour] if address.sixtofour else []
    if address in _TEREDO and address.teredo:
        return list(address.teredo)
    return []


def address_problem(address: IPAddress) -> str | None:
    """None when ``address`` is public, else why it is refused."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_v4(address):
            problem = address_problem(inner)
            if problem:
                return f"{problem}, spelt as IPv6 {address}"
        if any(address in net for net in _NON_PUBLIC_V6):
            return f"a non-public address ({address})"
        if _embedded_v4(address):  # a public IPv4 in an IPv6 spelling
            return None
    elif any(address in net for net in _NON_PUBLIC_V4):
        return f"a non-public address ({address})"
    if not address.is_global or address.is_multicast:
        return f"a non-public address ({address})"
    return None


def _check_hostname(host: str, url: str) -> None:
    """Raise :class:`MalformedURLError` unless ``host`` is a valid DNS name or IP literal."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise MalformedURLError(f"malformed host name {host!r} in link {url!r}: "
                                "an empty label, a label over 63 characters or a character "
                                "no host name may have") from exc
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(labels):
        raise MalformedURLError(f"malformed host name {host!r} in link {url!r}")


def _host_port(url: str) -> tuple[str, int | None, str]:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "http://[::1/": an unclosed IPv6 literal
        raise MalformedURLError(f"malformed link {url!r}: {exc}") from exc
    if parts.scheme not in {"http", "https"}:
        raise UnsafeURLError(f"only http(s) links can be fetched, not {parts.scheme or 'no'} "
                             f"scheme: {url}")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeURLError(f"link has no host: {url}")
    try:
        port = parts.port
    except ValueError as exc:
        raise MalformedURLError(f"link has an invalid port: {url}") from exc
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise MalformedURLError(f"malformed IPv6 address in link {url!r}: {exc}") from exc
    else:
        _check_hostname(host, url)
    return host, port, parts.scheme


def validate_link(url: str) -> None:
    """Raise :class:`UnsafeURLError` (or its :class:`MalformedURLError`) unless ``url`` is a
    well-formed http(s) link; nothing is resolved."""
    _host_port(url)


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """True when an entry of ``allowed_hosts`` names ``host`` (on any port)."""
    host = host.lower().strip("[]")
    for entry in allowed_hosts:
        entry = entry.lower()
        if entry.startswith("["):
            name = entry[1:].partition("]")[0]
        elif entry.count(":") == 1:
            name = entry.partition(":")[0]
        else:
            name = entry
        if name == host:
            return True
    return False


def is_allowed_host(url: str, allowed_hosts: Iterable[str]) -> bool:
    """True when settings explicitly allow this link's host (``host`` or ``host:port``)."""
    host, port, scheme = _host_port(url)
    effective = port or (443 if scheme == "https" else 80)
    allowed = {h.lower() for h in allowed_hosts}
    bracketed = f"[{host}]" if ":" in host else host
    return host in allowed or bracketed in allowed or f"{bracketed}:{effective}" in allowed


def check_url(url: str, allowed_hosts: Iterable[str] = ()) -> list[IPAddress]:
    """Raise :class:`UnsafeURLError` unless ``url`` is http(s) to a public address.

    Loopback, private, link-local (cloud metadata), multicast, reserved and unspecified
    addresses are refused unless the host is in ``allowed_hosts``, in every spelling (IPv6
    forms that embed an IPv4 address included). A host name is resolved and every address it
    resolves to must be public. A malformed link raises :class:`MalformedURLError` naming it.

    Returns the addresses checked (none for an allowed host), so a caller can connect to
    exactly those.
    """
    host, port, scheme = _host_port(url)
    if is_allowed_host(url, allowed_hosts):
        return []
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeURLError(f"refusing to fetch a loopback address: {url}") from None
        addresses = resolve(host, port or (443 if scheme == "https" else 80), url)
    for address in addresses:
        problem = address_problem(address)
        if problem:
            raise UnsafeURLError(
                f"refusing to fetch {problem} for {url}; allow the host in settings "
                "(collect.allowed_hosts) if this is intended"
            )
    return addresses


def resolve(host: str, port: int, url: str) -> list[IPAddress]:
    """Every address ``host`` resolves to, or :class:`UnsafeURLError` saying why none."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeURLError(f"cannot resolve host {host}: {exc.strerror}") from exc
    except UnicodeError as exc:
        raise MalformedURLError(f"malformed host name {host!r} in link {url!r}") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
