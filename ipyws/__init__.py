"""ipyws: the browser's WebSocket object in a Python kernel, with magics and a live panel."""

from __future__ import annotations

from ._blob import Blob
from ._events import CloseEvent, Event, EventTarget, MessageEvent
from ._transcript import Transcript, load_jsonl
from ._waiting import WebSocketClosedError
from ._websocket import ReadyState, WebSocket, sockets
from .exceptions import DOMException, DOMSyntaxError, InvalidAccessError, InvalidStateError

__version__ = "0.1.0"

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
    "Transcript",
    "WebSocket",
    "WebSocketClosedError",
    "__version__",
    "load_jsonl",
    "sockets",
]
