"""Connection options beyond the browser's two arguments, shared by every transport."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from ._version import __version__

if TYPE_CHECKING:
    import ssl as ssl_module  # not importable under Pyodide until loaded

__all__ = ["DEFAULT_MAX_SIZE", "DEFAULT_USER_AGENT", "ENGINES", "Engine", "Options"]

#: The protocol engines ``engine=`` accepts (see ``ipyws._engines``); ``%ws connect
#: --engine`` offers the same choices, read from this annotation.
Engine = Literal["websockets", "picows"]
ENGINES: tuple[str, ...] = get_args(Engine)

#: Largest incoming message accepted by default, in bytes (the browser sets no limit; a
#: notebook needs one so a runaway server cannot exhaust the kernel's memory).
DEFAULT_MAX_SIZE = 64 * 1024 * 1024


def _user_agent() -> str:
    python = f"Python/{sys.version_info.major}.{sys.version_info.minor}"
    try:
        from websockets.version import version
    except ImportError:  # Pyodide: the browser's WebSocket sends the browser's User-Agent
        return f"{python} ipyws/{__version__}"
    return f"{python} websockets/{version} ipyws/{__version__}"


DEFAULT_USER_AGENT = _user_agent()


@dataclass(frozen=True)
class Options:
    """Connection options beyond the browser's two arguments (all keyword-only on WebSocket).

    No defaults here: `WebSocket`'s signature is the one place they are written, and the
    socket passes every option.
    """

    headers: Sequence[tuple[str, str]]
    origin: str | None
    ssl: ssl_module.SSLContext | bool | None
    proxy: str | bool | None
    #: TLS with an ``https://`` proxy: an `ssl.SSLContext`, or False not to verify.
    proxy_ssl: ssl_module.SSLContext | bool | None
    compression: bool
    max_size: int | None
    open_timeout: float | None
    close_timeout: float | None
    ping_interval: float | None
    ping_timeout: float | None
    user_agent: str | None
    #: Report each Ping and Pong frame to the socket (``Sink.control``).
    log_pings: bool
    #: The protocol engine asked for: "websockets", "picows", or None for the default.
    engine: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)
