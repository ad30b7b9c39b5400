"""Fixtures for the unit tier: a recording fake transport instead of the network; every
test runs once per protocol engine (see tests.engines)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ipyws
import ipyws._websocket
from ipyws._text import Redactor
from ipyws._transport import Options
from ipyws._url import WebSocketURL
from tests.engines import engine, pytest_generate_tests

__all__ = ["engine", "pytest_generate_tests"]

WAIT = 5.0
"""Seconds any unit-tier wait may take (the dispatch thread only has to run a few tasks)."""


class FakeConnection:
    """Stands in for :class:`ipyws._transport.Connection`: records calls, reports on demand.

    Tests drive the socket through the same ``Sink`` calls the I/O thread makes
    (:meth:`open`, :meth:`receive`, :meth:`written`, :meth:`closed`).
    """

    engine = "fake"

    def __init__(
        self,
        sink: Any,
        url: WebSocketURL,
        protocols: list[str],
        options: Options,
        redact: Redactor | None = None,
    ) -> None:
        self.sink = sink
        #: The socket the sink reports to.
        self.socket: ipyws.WebSocket = sink.socket
        self.redact = redact
        self.url = url
        self.protocols = protocols
        self.options = options
        self.sent: list[tuple[bytes, bool]] = []
        self.closes: list[tuple[int | None, str]] = []
        self.failures: list[str] = []
        self.started = False
        self.started_attached = False

    # -- what the socket calls ------------------------------------------------------------

    def start(self) -> None:
        # Events may fire as soon as the connection starts: the socket must already hold it.
        self.started_attached = getattr(self.socket, "_connection", None) is self
        self.started = True

    def send(self, payload: bytes, text: bool) -> None:
        self.sent.append((payload, text))

    def close(self, code: int | None, reason: str) -> None:
        self.closes.append((code, reason))

    def fail(self, reason: str) -> None:
        self.failures.append(reason)

    # -- what the I/O thread would report ---------------------------------------------------

    def open(self, protocol: str = "", extensions: str = "") -> None:
        """Report a completed handshake and wait until the socket is OPEN."""
        self.sink.opened(protocol, extensions, {"request": {}, "response": {}})
        self.socket.wait_open(timeout=WAIT)

    def receive(self, data: str | bytes) -> None:
        """Report one incoming message (dispatched later, on the dispatcher)."""
        self.sink.message(data)

    def written(self, total: int) -> None:
        """Report that ``total`` bytes have been written to the network so far."""
        self.sink.written(total)

    def closed(
        self,
        code: int = 1006,
        reason: str = "",
        was_clean: bool = False,
        error: BaseException | None = None,
    ) -> ipyws.CloseEvent:
        """Report the end of the connection and wait for the close event."""
        self.sink.closed(code, reason, was_clean, error)
        return self.socket.wait_closed(timeout=WAIT)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeConnection]]:
    """Replace the transport with :class:`FakeConnection`; yield the ones created, in order.

    Sockets still open at the end are reported closed, so none leaks into the registry.
    """
    made: list[FakeConnection] = []

    def factory(*args: Any) -> FakeConnection:
        connection = FakeConnection(*args)
        made.append(connection)
        return connection

    monkeypatch.setattr(ipyws._websocket, "new_connection", factory)
    yield made
    for connection in made:
        if connection.socket.readyState != ipyws.WebSocket.CLOSED:
            connection.closed()


@pytest.fixture
def make_socket(
    connections: list[FakeConnection],
) -> Callable[..., tuple[ipyws.WebSocket, FakeConnection]]:
    """Return ``make(url="ws://example.test/", *args, **kwargs) -> (socket, its fake)``."""

    def make(
        url: str = "ws://example.test/", *args: Any, **kwargs: Any
    ) -> tuple[ipyws.WebSocket, FakeConnection]:
        ws = ipyws.WebSocket(url, *args, **kwargs)
        return ws, connections[-1]

    return make


@pytest.fixture
def open_socket(
    make_socket: Callable[..., tuple[ipyws.WebSocket, FakeConnection]],
) -> tuple[ipyws.WebSocket, FakeConnection]:
    """An OPEN socket on a fake connection."""
    ws, fake = make_socket()
    fake.open()
    return ws, fake


def _run_on_dispatcher(ws: ipyws.WebSocket, fn: Callable[[], Any] = lambda: None) -> Any:
    """Run ``fn()`` as a task on the socket's dispatcher, after every task posted before it.

    Return what it returned; re-raise what it raised.
    """
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def task(_: object) -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc
        finally:
            done.set()

    ws._dispatcher.post(task, None)
    assert done.wait(WAIT), "the dispatcher did not run a task within the timeout"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def on_dispatcher() -> Callable[..., Any]:
    """Return ``run(ws, fn=no-op)``: run ``fn()`` as a dispatcher task once earlier ones ran."""
    return _run_on_dispatcher
