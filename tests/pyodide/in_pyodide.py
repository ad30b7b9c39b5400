"""Helpers the pyodide tier runs inside Pyodide (copied into its file system, then imported).

Each returns JSON text, which the runner hands back to the test as a string.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import ipyws


def describe(event: ipyws.Event, ws: ipyws.WebSocket) -> dict[str, Any]:
    """Describe an event as JSON-able facts, with the socket's readyState when it fired."""
    facts: dict[str, Any] = {"type": event.type, "readyState": int(ws.readyState)}
    if isinstance(event, ipyws.MessageEvent):
        data = event.data
        facts["kind"] = type(data).__name__
        facts["data"] = data if isinstance(data, str) else bytes(data).hex()
        if isinstance(data, ipyws.Blob):
            facts["size"] = data.size
    elif isinstance(event, ipyws.CloseEvent):
        facts.update(code=event.code, reason=event.reason, wasClean=event.wasClean)
    elif event.type == "error":
        cause = getattr(event, "cause", None)
        facts["cause"] = type(cause).__name__ if cause is not None else None
    elif event.type == "open":
        facts["protocol"] = ws.protocol
    return facts


async def record(
    url: str,
    protocols: str | Sequence[str] | None = None,
    *,
    binary_type: str = "blob",
    send: Sequence[str | bytes] = (),
    close: Sequence[Any] | None = None,
    messages: int = 0,
    timeout: float = 20.0,
) -> str:
    """Connect, send ``send`` on open, close with ``close`` after ``messages`` messages.

    Returns the events in the order they fired, until the close event.
    """
    events: list[dict[str, Any]] = []
    ws = ipyws.WebSocket(url, protocols)
    ws.binaryType = binary_type
    received = 0

    def on_open(event: ipyws.Event) -> None:
        events.append(describe(event, ws))
        for item in send:
            ws.send(item)
        if close is not None and messages == 0:
            ws.close(*close)

    def on_message(event: ipyws.MessageEvent) -> None:
        nonlocal received
        events.append(describe(event, ws))
        received += 1
        if close is not None and received == messages:
            ws.close(*close)

    ws.addEventListener("open", on_open)
    ws.addEventListener("message", on_message)
    ws.addEventListener("error", lambda event: events.append(describe(event, ws)))
    ws.addEventListener("close", lambda event: events.append(describe(event, ws)))
    await asyncio.wait_for(ws.closed, timeout)
    return json.dumps(events)
