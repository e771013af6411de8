"""Where Checkout and the portal may send a customer back to: exact origins only.

An open redirect on a payment page is a phishing tool, so anything that is not plainly
scheme://host[:port] of an allowed origin is refused (userinfo, backslashes, protocol-relative
URLs, other schemes, control characters, look-alike hosts).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from domain.errors import RedirectNotAllowed

_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def parse_origin(url: str) -> Origin:
    """The (scheme, host, port) of an absolute http(s) URL, or RedirectNotAllowed."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise RedirectNotAllowed("the redirect URL must be an absolute http(s) URL")
    if any(ch in url for ch in "\\\t\r\n ") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise RedirectNotAllowed("the redirect URL contains characters that are not allowed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RedirectNotAllowed("the redirect URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc or not parts.hostname:
        raise RedirectNotAllowed("the redirect URL must be an absolute http(s) URL")
    if "@" in parts.netloc:
        raise RedirectNotAllowed("the redirect URL may not carry user information")
    host = parts.hostname.lower().rstrip(".")
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


class RedirectPolicy:
    def __init__(self, allowed_origins: Iterable[str]) -> None:
        self.allowed = {parse_origin(origin) for origin in allowed_origins}

    def check(self, url: str) -> str:
        origin = parse_origin(url)
        if origin not in self.allowed:
            raise RedirectNotAllowed(
                f"redirects must go to an allowed origin; {origin[0]}://{origin[1]}:{origin[2]} "
                "is not one (set ALLOWED_REDIRECT_ORIGINS)"
            )
        return url

    def choose(self, given: str | None, default: str | None, what: str) -> str:
        url = given if given is not None else default
        if url is None:
            raise RedirectNotAllowed(f"no {what} given and none configured")
        return self.check(url)
