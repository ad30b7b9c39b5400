"""WebSocket URL parsing and serialization, the WHATWG way (ada-url, or the platform's URL)."""

from __future__ import annotations

import base64
import sys
import urllib.parse
from typing import NamedTuple

from ._text import MASK
from .exceptions import DOMSyntaxError

if sys.platform == "emscripten":  # Pyodide: the platform's own URL (see ipyws._platform)
    from ._pyodide import URL
else:
    from ada_url import URL

__all__ = ["WebSocketURL", "parse_websocket_url", "redact_url", "url_credentials"]

_SCHEMES = {"ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:"}


class WebSocketURL(NamedTuple):
    """A parsed WebSocket URL: its serialization and the parts the transport needs."""

    href: str
    origin: str
    secure: bool
    host: str
    port: int
    #: ``href`` with its password masked, for everything shown or exported (see redact_url).
    shown: str

    @property
    def host_key(self) -> tuple[str, int]:
        """Identify the host for the one-CONNECTING-connection-per-host rule."""
        return (self.host, self.port)


def parse_websocket_url(url: str) -> WebSocketURL:
    """Parse ``url`` as the WebSocket constructor does, or raise
    [`DOMSyntaxError`][ipyws.DOMSyntaxError].

    ``http`` becomes ``ws`` and ``https`` becomes ``wss``; any other scheme, any fragment
    (even an empty ``#``) and a relative URL (there is no document to resolve it against)
    are errors. The result is serialized by the URL standard: lowercase host, IDNA punycode,
    default port dropped, ``/`` path added, query percent-encoded as UTF-8.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    try:
        parsed = URL(url)
    except ValueError:
        raise DOMSyntaxError(
            # Masked: the message lands in tracebacks, which notebooks save.
            f"The URL {redact_url(url)!r} is invalid: give an absolute URL such as "
            "'ws://127.0.0.1:8765/'."
        ) from None
    scheme = _SCHEMES.get(parsed.protocol)
    if scheme is None:
        raise DOMSyntaxError(
            f"The URL's scheme must be 'ws', 'wss', 'http' or 'https'; "
            f"{parsed.protocol[:-1]!r} is not allowed."
        )
    if scheme != parsed.protocol:
        parsed.protocol = scheme
    href = parsed.href
    # A serialized URL holds '#' only as the fragment delimiter, so this also catches "#".
    if "#" in href:
        raise DOMSyntaxError(
            f"The URL contains a fragment identifier ({'#' + parsed.hash.lstrip('#')!r}); "
            "WebSocket URLs cannot have one: remove everything from '#'."
        )
    secure = scheme == "wss:"
    port = int(parsed.port) if parsed.port else (443 if secure else 80)
    return WebSocketURL(href, parsed.origin, secure, parsed.hostname, port, redact_url(href))


def redact_url(url: str) -> str:
    """Return ``url`` with the credentials in its userinfo masked, as Chrome's sanitized HAR.

    ``ws://user:secret@host/`` shows as ``ws://user:***@host/``; a lone user name is masked
    too (``ws://TOKEN@host/``: tokens are often passed that way). A URL that does not parse
    comes back without everything before its last ``@``, if it has one.
    """
    try:
        parsed = URL(url)
    except ValueError:
        scheme, sep, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        if sep and "@" in authority:
            return f"{scheme}://{MASK}@{authority.rpartition('@')[2]}{slash}{path}"
        return url
    if parsed.password:
        parsed.password = MASK
    elif parsed.username:
        parsed.username = MASK
    else:
        return url
    return parsed.href


def url_credentials(url: str) -> list[str]:
    """Return the secrets in ``url``'s userinfo, for masking wherever they might show.

    The password (or a lone user name) as written and percent-decoded, and the Basic
    ``Authorization`` credentials websockets sends for them.
    """
    try:
        parsed = URL(url)
    except ValueError:
        return []
    secret = parsed.password or parsed.username
    if not secret:
        return []
    user = urllib.parse.unquote(parsed.username)
    password = urllib.parse.unquote(parsed.password)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [secret, urllib.parse.unquote(secret), basic]
