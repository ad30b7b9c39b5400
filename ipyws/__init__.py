"""ipyws: the browser's WebSocket object in a Python kernel, with magics and a live panel."""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._blob import Blob
from ._events import CloseEvent, Event, EventTarget, MessageEvent, ReconnectEvent
from ._reconnect import Reconnect
from ._transcript import Transcript, load_jsonl
from ._waiting import WebSocketClosedError
from ._websocket import ReadyState, WebSocket, sockets
from .exceptions import DOMException, DOMSyntaxError, InvalidAccessError, InvalidStateError

if _TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__version__ = "0.1.0"


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the ``%ws`` and ``%%ws`` magics: ``%load_ext ipyws``."""
    from ._magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Close the sockets the magics opened, stop their demo servers, remove the magics."""
    from ._magic import unload_ipython_extension as unload

    unload(ipython)


__all__ = [
    "Blob",
    "CloseEvent",
    "DOMException",
    "DOMSyntaxError",
    "Event",
    "EventTarget",
    "InvalidAccessError",
    "InvalidStateError",
    "MessageEvent",
    "ReadyState",
    "Reconnect",
    "ReconnectEvent",
    "Transcript",
    "WebSocket",
    "WebSocketClosedError",
    "__version__",
    "load_ipython_extension",
    "load_jsonl",
    "sockets",
    "unload_ipython_extension",
]
