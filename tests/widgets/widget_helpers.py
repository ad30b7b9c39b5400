"""Helpers for the panel's tests: a recording comm, a polling wait, the kernel harness."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from comm.base_comm import BaseComm

import ipyws

HERE = Path(__file__).resolve().parent
KERNEL_HARNESS = "ipyws_kernel_harness"


def load_kernel_harness() -> ModuleType:
    """Import tests/kernel/harness.py under the name the kernel tier uses (one module object)."""
    if KERNEL_HARNESS in sys.modules:
        return sys.modules[KERNEL_HARNESS]
    path = HERE.parent / "kernel" / "harness.py"
    spec = importlib.util.spec_from_file_location(KERNEL_HARNESS, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[KERNEL_HARNESS] = module
    spec.loader.exec_module(module)
    return module


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
