"""Helpers for the panel's tests: a recording comm and a polling wait."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from comm.base_comm import BaseComm

import ipyws

HERE = Path(__file__).resolve().parent


class RecordingComm(BaseComm):  # type: ignore[misc]
    """A comm that keeps what a widget sends (the newest ``keep`` messages) with their times."""

    keep = 10_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = threading.Lock()
        self.sent: deque[tuple[float, str, dict[str, Any]]] = deque(maxlen=self.keep)
        self.count = 0
        super().__init__(*args, **kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[bytes] | None = None,
        **keys: Any,
    ) -> None:
        """Record one outgoing message (comm_open, comm_msg or comm_close)."""
        with self.lock:
            self.count += 1
            self.sent.append((time.monotonic(), msg_type, dict(data or {})))

    def messages(self, method: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        """Return the recorded comm_msg data (time, data), optionally of one ``method``."""
        with self.lock:
            return [
                (t, d)
                for t, kind, d in self.sent
                if kind == "comm_msg" and (method is None or d.get("method") == method)
            ]

    def updates(self) -> list[tuple[float, dict[str, Any]]]:
        """Return the recorded state updates as (time, state)."""
        return [(t, d.get("state", {})) for t, d in self.messages("update")]

    def customs(self) -> list[dict[str, Any]]:
        """Return the recorded custom messages' content."""
        return [d.get("content", {}) for _, d in self.messages("custom")]


def close_sockets(url: str) -> None:
    """Open, then close, every socket still connected to ``url`` (before its server stops).

    A server that stops in the middle of a handshake can leave the client's transport for the
    garbage collector, whose ResourceWarning then fails an unrelated test.
    """
    for ws in ipyws.sockets():
        if ws.url.startswith(url):
            with contextlib.suppress(Exception):
                ws.wait_open(10)
            ws.close()
            ws.wait_closed(10)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
