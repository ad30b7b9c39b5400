"""The panel shows a handler that falls behind: the backlog, paused reading, dropped messages."""

from __future__ import annotations

import threading

from ipyws import WebSocket, widgets
from tests.servers import TestServer
from tests.widgets.helpers import RecordingComm, wait_for


def blocked_socket(url: str, gate: threading.Event, **options: object) -> WebSocket:
    """A socket whose first message handler waits for ``gate``: every later message waits."""
    return WebSocket(url, onmessage=lambda event: gate.wait(10), **options)  # type: ignore[arg-type]


def test_the_header_says_the_handler_is_behind_and_paused(
    comms: list[RecordingComm], wpt: TestServer
) -> None:
    """A full backlog shows as "handler behind by N" and "paused", live, until it drains."""
    gate = threading.Event()
    ws = blocked_socket(wpt.url("/flood?size=100"), gate, max_backlog=100, compression=False)
    view = widgets.panel(ws)
    try:
        # Reading stops at the limit (picows holds the rest of its read back) or within one
        # parsed slice past it (websockets).
        wait_for(lambda: view.backlog_paused and view.backlog >= 100, what="a paused backlog")
        text = widgets.snapshot_text(ws)  # what a notebook saved without the widget shows
        assert "handler behind by " in text
        assert "· paused" in text
        assert view.dropped == 0
    finally:
        gate.set()
    ws.close()
    ws.wait_closed(10)


def test_the_header_counts_dropped_messages(comms: list[RecordingComm], wpt: TestServer) -> None:
    """With drop_oldest the panel counts the dropped messages and never shows a pause."""
    gate = threading.Event()
    ws = blocked_socket(
        wpt.url("/flood?size=100&n=5000"),
        gate,
        max_backlog=100,
        drop_oldest=True,
        compression=False,
    )
    view = widgets.panel(ws)
    try:
        wait_for(lambda: view.dropped > 1000, what="dropped messages")
        assert not view.backlog_paused
        assert view.backlog <= 100 + 200  # the limit, plus the messages of one read slice
    finally:
        gate.set()
    ws.close()
    ws.wait_closed(10)
