"""Helpers for loopback tests: record every event a socket fires, race-free."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ipyws import CloseEvent, Event, MessageEvent, WebSocket

WAIT = 5.0
"""Seconds a loopback wait may take: generous for 2 shared cores, short enough to fail fast."""

EVENT_TYPES = ("open", "message", "error", "close")


@dataclass(frozen=True)
class Seen:
    """One event as a listener saw it, with what was true at that moment."""

    type: str
    ready_state: int
    event: Event
    thread: str
    time: float
    target_ok: bool
    phase: int


Action = Callable[[WebSocket, Any], Any]
"""Something a test does when an event fires: ``action(ws, event)``."""


@dataclass
class Recorder:
    """Record each event of a socket; pass :meth:`handlers` to the constructor (race-free).

    Handlers given as constructor keywords are in place before anything can fire, so even an
    early ``open`` is recorded. ``on`` maps an event type to an action run after recording; it
    must be complete before the socket is created (use :func:`connect`).
    """

    on: dict[str, Action] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def handlers(self) -> dict[str, Any]:
        """The four ``on<type>`` keyword arguments for :class:`~ipyws.WebSocket`."""
        return {f"on{kind}": self._record for kind in EVENT_TYPES}

    def _record(self, event: Event) -> None:
        ws = self._note(event)
        action = self.on.get(event.type)
        if action is not None:
            action(ws, event)

    def _note(self, event: Event) -> WebSocket:
        """Append what is true as ``event`` fires to :attr:`seen`; return its socket."""
        ws = target_socket(event)
        self.seen.append(
            Seen(
                event.type,
                int(ws.readyState),
                event,
                threading.current_thread().name,
                time.monotonic(),
                event.currentTarget is ws,
                event.eventPhase,
            )
        )
        return ws

    @property
    def types(self) -> list[str]:
        """The event types seen, in order."""
        return [s.type for s in self.seen]

    @property
    def states(self) -> list[tuple[str, int]]:
        """``(type, readyState)`` for each event seen, in order."""
        return [(s.type, s.ready_state) for s in self.seen]

    def messages(self) -> list[Any]:
        """The ``data`` of each message event, in order."""
        return [s.event.data for s in self.seen if isinstance(s.event, MessageEvent)]

    def first(self, kind: str) -> Event:
        """The first event of ``kind`` (fails the test if there is none)."""
        for s in self.seen:
            if s.type == kind:
                return s.event
        raise AssertionError(f"no {kind} event; saw {self.types}")


class ProbeSocket(WebSocket):
    """A WebSocket that also tells the test when the I/O thread reports traffic.

    Lets a handler block until data has really arrived or been written, while its own task
    (and so what it observes) is still running.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.arrived = threading.Semaphore(0)
        """Released once per message received by the I/O thread (before it is dispatched)."""
        self.written = threading.Semaphore(0)
        """Released each time the I/O thread reports bytes written."""
        self.ended = threading.Event()
        """Set when the I/O thread reports the connection closed (before close is dispatched)."""
        super().__init__(*args, **kwargs)

    def _io_message(self, data: str | bytes) -> None:
        super()._io_message(data)
        self.arrived.release()

    def _io_written(self, total: int) -> None:
        super()._io_written(total)
        self.written.release()

    def _io_closed(
        self, code: int, reason: str, was_clean: bool, error: BaseException | None
    ) -> None:
        super()._io_closed(code, reason, was_clean, error)
        self.ended.set()


def target_socket(event: Event) -> WebSocket:
    """Return the WebSocket that fired ``event`` (its ``target``, checked to be one)."""
    ws = event.target
    assert isinstance(ws, WebSocket)
    return ws


def connect(
    url: str,
    *args: Any,
    on: dict[str, Action] | None = None,
    probe: bool = False,
    **kwargs: Any,
) -> tuple[WebSocket, Recorder]:
    """Create a socket (a :class:`ProbeSocket` if ``probe``) recording events from the start.

    ``on`` maps event types to ``action(ws, event)``, run after the event is recorded.
    """
    recorder = Recorder(dict(on or {}))
    cls = ProbeSocket if probe else WebSocket
    kwargs.update(recorder.handlers())
    ws = cls(url, *args, **kwargs)
    return ws, recorder


def acquire(semaphore: threading.Semaphore, count: int = 1, timeout: float = WAIT) -> None:
    """Take ``count`` releases of a :class:`ProbeSocket` semaphore, failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    for i in range(count):
        if not semaphore.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"only {i} of {count} reports within {timeout} s")


def closed(ws: WebSocket, timeout: float = WAIT) -> CloseEvent:
    """Wait for the close event (every listener has run by then) and return it."""
    return ws.wait_closed(timeout=timeout)


def assert_failed(ws: WebSocket, recorder: Recorder, code: int = 1006) -> Event:
    """Assert the connection failed: no open, error then close (``code``, not clean).

    Return the error event.
    """
    event = closed(ws)
    assert recorder.types == ["error", "close"], recorder.types
    assert recorder.states == [("error", 3), ("close", 3)]
    assert (event.code, event.wasClean, event.reason) == (code, False, "")
    error = recorder.first("error")
    assert isinstance(error.cause, BaseException)
    return error
