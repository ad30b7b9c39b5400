"""Which protocol engine carries a connection: picows where it can, else websockets.

Both run on the ipyws I/O thread behind the same ``Connection`` interface and give the
socket the same reports; they differ in speed only. ``engine=`` on the socket picks one;
options only the websockets engine honours make a socket use it whatever was asked.
"""

from __future__ import annotations

import importlib.util
import threading

from ._options import ENGINES, Options
from ._text import Redactor
from ._transport import Connection, Sink, resolve_proxy
from ._url import WebSocketURL

__all__ = ["ENGINES", "default_engine", "engine_for", "fallback_reason", "new_connection"]

#: Whether picows (and so its engine) is installed.
PICOWS = importlib.util.find_spec("picows") is not None

_lock = threading.Lock()
_default = "picows" if PICOWS else "websockets"


def default_engine(name: str | None = None) -> str:
    """Return the engine used when ``engine=None``; with ``name``, set it first."""
    global _default
    with _lock:
        if name is not None:
            if name not in ENGINES:
                raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {name!r}")
            _default = name
        return _default


def fallback_reason(url: WebSocketURL, options: Options) -> str | None:
    """Say why only the websockets engine can carry this connection, or None if any can."""
    if not PICOWS:
        return "picows is not installed"
    if options.extra:
        return "options passed through to websockets"
    if resolve_proxy(url, options.proxy) is not None:
        return "a proxy (ipyws reports proxy failures through websockets' steps)"
    return None


def engine_for(url: WebSocketURL, options: Options) -> str:
    """Return the engine that carries a connection to ``url`` with ``options``."""
    wanted = options.engine or default_engine()
    if wanted == "websockets" or fallback_reason(url, options) is not None:
        return "websockets"
    return wanted


def new_connection(
    sink: Sink,
    url: WebSocketURL,
    protocols: list[str],
    options: Options,
    redact: Redactor | None = None,
) -> Connection:
    """Make the connection for a socket, carried by the engine ``engine_for`` picks."""
    if engine_for(url, options) == "picows":
        from ._engine_picows import PicowsConnection

        return PicowsConnection(sink, url, protocols, options, redact)
    from ._engine_websockets import WebsocketsConnection

    return WebsocketsConnection(sink, url, protocols, options, redact)
