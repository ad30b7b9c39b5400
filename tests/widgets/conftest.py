"""Fixtures for the panel's widget-state tests: recording comms and demo servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import comm
import pytest

from ipyws import demo
from tests.widgets.helpers import RecordingComm, close_sockets


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RecordingComm]]:
    """Make every widget created in the test talk to a RecordingComm; close them afterwards."""
    made: list[RecordingComm] = []

    def create_comm(*args: Any, **kwargs: Any) -> RecordingComm:
        """Make a recording comm."""
        recording = RecordingComm(*args, **kwargs)
        made.append(recording)
        return recording

    monkeypatch.setattr(comm, "create_comm", create_comm)
    yield made
    from ipywidgets.widgets.widget import _instances

    for widget in list(_instances.values()):
        if isinstance(widget.comm, RecordingComm):
            widget.close()


@pytest.fixture
def echo_server() -> Iterator[demo.DemoServer]:
    """A demo echo server on 127.0.0.1."""
    with demo.start("echo") as server:
        yield server
        close_sockets(server.url)


@pytest.fixture
def start_ticker() -> Iterator[Callable[..., demo.DemoServer]]:
    """Start demo tickers with options; all are stopped after the test."""
    started: list[demo.DemoServer] = []

    def start(**options: Any) -> demo.DemoServer:
        """Start one ticker."""
        server = demo.start("ticker", **options)
        started.append(server)
        return server

    yield start
    for server in started:
        close_sockets(server.url)
        server.stop()
