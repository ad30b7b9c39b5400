"""Record a socket's events, ``reconnect`` included, and wait for a condition on them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ipyws import CloseEvent, Event, ReconnectEvent, WebSocket
from tests.loopback.recording import EVENT_TYPES, Recorder

__all__ = ["EventLog"]


@dataclass
class EventLog(Recorder):
    """A :class:`Recorder` of the browser's events and ``reconnect``, with blocking waits."""

    _changed: threading.Condition = field(default_factory=threading.Condition)

    def handlers(self) -> dict[str, Any]:
        """The ``on<type>`` keyword arguments for :class:`~ipyws.WebSocket`."""
        return {f"on{kind}": self._record for kind in (*EVENT_TYPES, "reconnect")}

    def _note(self, event: Event) -> WebSocket:
        # Waiters are woken before the action runs: an action may block (hold the dispatcher).
        with self._changed:
            ws = super()._note(event)
            self._changed.notify_all()
        return ws

    def of(self, kind: str) -> list[Event]:
        """The events of ``kind`` seen, in order."""
        return [s.event for s in self.seen if s.type == kind]

    def closes(self) -> list[CloseEvent]:
        """The ``close`` events seen, in order."""
        return [e for e in self.of("close") if isinstance(e, CloseEvent)]

    def reconnects(self) -> list[ReconnectEvent]:
        """The ``reconnect`` events seen, in order."""
        return [e for e in self.of("reconnect") if isinstance(e, ReconnectEvent)]

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Block until ``condition()`` holds after some event; fail after ``timeout`` seconds."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"not within {timeout} s: {what}; saw {self.types}")

    def wait_count(self, kind: str, count: int, timeout: float) -> None:
        """Block until ``count`` events of ``kind`` have been seen."""
        self.wait_for(lambda: len(self.of(kind)) >= count, timeout, f"{count} {kind} events")
