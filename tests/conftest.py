"""Fixtures shared by the test tiers: the WPT-like loopback server, leak and error guards."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import TracebackType

import pytest

import ipyws
from ipyws._repeats import forget
from tests.servers import HeldServer, TestServer

CLOSE_WAIT = 5.0
"""Seconds a leftover socket may take to close after a test."""


@pytest.fixture(scope="session")
def wpt() -> Iterator[TestServer]:
    """A started :class:`tests.servers.TestServer` on 127.0.0.1, shared by the session."""
    with TestServer() as server:
        yield server


@pytest.fixture
def held_server() -> Iterator[HeldServer]:
    """An echo server that holds each opening handshake until ``release()`` (see HeldServer)."""
    with HeldServer().running() as server:
        yield server


@pytest.fixture(autouse=True)
def close_leftover_sockets() -> Iterator[None]:
    """Close the sockets a test left open, so none outlives it or leaks into the registry."""
    before = set(ipyws.sockets())
    yield
    leftovers = [ws for ws in ipyws.sockets() if ws not in before]
    for ws in leftovers:
        ws.close()
    for ws in leftovers:
        ws.wait_closed(timeout=CLOSE_WAIT)


@pytest.fixture(autouse=True)
def forget_repeated_errors() -> Iterator[None]:
    """Start each test with no error counted as a repeat (see ipyws._repeats)."""
    forget()
    yield
    forget()


@pytest.fixture
def reported_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Collect the exceptions listeners raise, which ipyws reports through ``sys.excepthook``."""
    errors: list[BaseException] = []

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        errors.append(exc)

    monkeypatch.setattr(sys, "excepthook", hook)
    if "IPython" in sys.modules:
        # An InteractiveShell left by another tier would show the traceback itself instead.
        from IPython.core.interactiveshell import InteractiveShell

        monkeypatch.setattr(InteractiveShell, "initialized", lambda: False)
    return errors
