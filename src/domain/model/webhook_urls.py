"""Where the service may send an organization's messages: never into its own network."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from domain.errors import WebhookUrlRejected

MAX_URL_CHARS = 2000

Resolve = Callable[[str], Sequence[str]]  # a host name to its addresses


def forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )


def check_webhook_url(url: str, *, allow_private: bool, resolve: Resolve) -> str:
    """The URL if the service may post to it. `allow_private` (development only) also allows
    http and local addresses; otherwise the host, and every address it resolves to now, must
    be public (checked again before each delivery, against a host re-pointed since)."""
    if len(url) > MAX_URL_CHARS:
        raise WebhookUrlRejected(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise WebhookUrlRejected(f"not a URL: {exc}") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise WebhookUrlRejected(
            "the URL must be https" + ("" if allow_private else " (http only in development)")
        )
    if not host:
        raise WebhookUrlRejected("the URL has no host")
    if parts.username or parts.password:
        raise WebhookUrlRejected("the URL must not carry credentials")
    if allow_private:
        return url
    try:
        addresses: Sequence[str] = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve(host)
        except OSError:
            raise WebhookUrlRejected(f"the host {host!r} does not resolve") from None
    if not addresses:
        raise WebhookUrlRejected(f"the host {host!r} does not resolve")
    bad = sorted({a for a in addresses if forbidden_address(a)})
    if bad:
        raise WebhookUrlRejected(
            "the URL must not reach a private, loopback, link-local or unspecified address",
            addresses=bad,
        )
    return url
