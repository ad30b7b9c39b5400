"""A socket's traffic at a glance: [`SocketStats`][ipyws.SocketStats], what ``ws.stats`` returns.

The panel, ``%ws list`` and users read the same numbers from here, never the socket's
private counters. Each read of ``ws.stats`` is a new snapshot, taken on any thread: the
counters come from the transcript (updated by the I/O thread as messages pass), so unlike
``bufferedAmount`` they move while a cell runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["SocketStats"]


@dataclasses.dataclass(frozen=True)
class SocketStats:
    """A read-only snapshot of a socket's traffic counters and the options it was made with.

    Returned by [`WebSocket.stats`][ipyws.WebSocket.stats]; counters cover every
    connection of the socket (reconnects included).
    """

    #: Messages received.
    messages_in: int
    #: Messages handed to ``send()``.
    messages_out: int
    #: Payload bytes received.
    bytes_in: int
    #: Payload bytes handed to ``send()``.
    bytes_out: int
    #: Messages received per second, over the last second.
    rate_in: float
    #: Messages sent per second, over the last second.
    rate_out: float
    #: Payload bytes received per second, over the last second.
    byte_rate_in: float
    #: Payload bytes sent per second, over the last second.
    byte_rate_out: float
    #: Bytes handed to ``send()`` and not yet written to the network, as the I/O thread
    #: reports them now (``bufferedAmount`` is the same count as of the current task).
    buffered_amount: int
    #: How many times the socket connected again (``reconnect`` events so far).
    reconnects: int
    #: Received messages whose handlers have not run yet (see ``WebSocket.backlog``).
    backlog: int
    #: Their payload bytes (text counted in characters).
    backlog_bytes: int
    #: Whether the socket stopped reading because its backlog passed ``max_backlog`` or
    #: ``max_backlog_bytes`` (it reads again once the handlers caught up to half).
    paused: bool
    #: Messages ``drop_oldest`` dropped before their handlers ran.
    dropped: int
    #: While a socket made with ``reconnect=`` waits between two connections: when its next
    #: attempt starts (seconds since the epoch); None otherwise, also once
    #: [`reconnect`][ipyws.WebSocket.reconnect] cut the wait short.
    next_attempt: float | None
    #: When the socket was made (seconds since the epoch).
    created: float
    #: The protocol engine carrying the connection: ``"websockets"`` or ``"picows"`` (the
    #: ``engine`` option, after any fallback), ``"browser"`` under Pyodide.
    engine: str
    #: The keyword options the socket was made with, defaults filled in (read-only). Left
    #: out of the repr: headers and a proxy URL may carry credentials.
    options: Mapping[str, Any] = dataclasses.field(repr=False)
