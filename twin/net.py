"""Which addresses user-supplied links may reach (the SSRF rule in DESIGN.md)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit


class UnsafeURLError(ValueError):
    """A link that must not be fetched: wrong scheme, or a non-public address."""


def _host_port(url: str) -> tuple[str, int | None, str]:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise UnsafeURLError(f"only http(s) links can be fetched, not {parts.scheme or 'no'} "
                             f"scheme: {url}")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeURLError(f"link has no host: {url}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"link has an invalid port: {url}") from exc
    return host, port, parts.scheme


def is_allowed_host(url: str, allowed_hosts: Iterable[str]) -> bool:
    """True when settings explicitly allow this link's host (``host`` or ``host:port``)."""
    host, port, scheme = _host_port(url)
    effective = port or (443 if scheme == "https" else 80)
    allowed = {h.lower() for h in allowed_hosts}
    return host in allowed or f"{host}:{effective}" in allowed


def check_url(url: str, allowed_hosts: Iterable[str] = ()) -> None:
    """Raise :class:`UnsafeURLError` unless ``url`` is http(s) to a public address.

    Loopback, private, link-local (cloud metadata), multicast, reserved and unspecified
    addresses are refused unless the host is in ``allowed_hosts``. A host name is resolved
    and every address it resolves to must be public.
    """
    host, port, scheme = _host_port(url)
    if is_allowed_host(url, allowed_hosts):
        return
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeURLError(f"refusing to fetch a loopback address: {url}") from None
        try:
            infos = socket.getaddrinfo(host, port or (443 if scheme == "https" else 80),
                                       proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise UnsafeURLError(f"cannot resolve host {host}: {exc.strerror}") from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise UnsafeURLError(
                f"refusing to fetch a non-public address ({address}) for {url}; "
                "allow the host in settings (collect.allowed_hosts) if this is intended"
            )
