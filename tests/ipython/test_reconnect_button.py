"""Reconnecting from the magics: the panel's Reconnect and %ws are one mechanism, --reconnect
and its options, the attempts in %ws list, unloading a socket between two connections."""

from __future__ import annotations

import socket
import threading

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyws import Reconnect, sockets
from ipyws._panel_feed import feed_for
from tests.ipython.shell import TIMEOUT, run, settle, socket_named, usage_error


def test_reconnect_then_off_really_stops_the_handler(ip: InteractiveShell, echo_url: str) -> None:
    """After Reconnect, `feed` is the live socket and `%ws off feed` stops its handler for good."""
    ip.user_ns["seen"] = []
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    run(ip, "%%ws on feed message\nseen.append(event.data)")
    reconnected = threading.Event()
    feed.addEventListener("reconnect", lambda event: reconnected.set())
    # What the panel's Reconnect button calls (WebSocketPanel -> Feed.reconnect).
    assert feed_for(feed).reconnect() is feed
    assert reconnected.wait(TIMEOUT)
    feed.wait_open(TIMEOUT)
    assert socket_named(ip, "feed") is feed
    assert feed.readyState == feed.OPEN
    feed.send("on the new connection")
    feed.wait_message(TIMEOUT)
    settle(feed)
    assert ip.user_ns["seen"] == ["on the new connection"]
    run(ip, "%ws off feed")
    feed.send("after off")
    feed.wait_message(TIMEOUT)
    settle(feed)
    assert ip.user_ns["seen"] == ["on the new connection"], "the handler must not fire any more"


def test_connect_reconnect_options_build_the_policy(ip: InteractiveShell, echo_url: str) -> None:
    """%ws connect --reconnect and its options give the socket that Reconnect policy."""
    run(ip, f"%ws connect {echo_url} --as plain --no-display")
    assert socket_named(ip, "plain")._policy is None
    run(ip, f"%ws connect {echo_url} --as feed --reconnect --no-display")
    assert socket_named(ip, "feed")._policy == Reconnect()
    run(
        ip,
        f"%ws connect {echo_url} --as tuned --no-display --reconnect-delay 0.5 "
        "--reconnect-max-delay 8 --reconnect-factor 1.5 --reconnect-jitter 0 "
        "--reconnect-attempts 4 --reconnect-reset 60 --log-pings",
    )
    tuned = socket_named(ip, "tuned")
    assert tuned._policy == Reconnect(
        initial_delay=0.5, max_delay=8.0, factor=1.5, jitter=0.0, max_attempts=4, reset_after=60.0
    )
    assert tuned._options.log_pings is True


def test_a_bad_reconnect_option_is_a_one_line_usage_error(
    ip: InteractiveShell, echo_url: str
) -> None:
    """An impossible policy is refused before anything connects, in one line."""
    message = usage_error(
        ip, f"%ws connect {echo_url} --as feed --reconnect-delay 5 --reconnect-max-delay 1"
    )
    assert message.startswith("%ws connect: Reconnect max_delay (1.0) is below initial_delay")
    assert "feed" not in ip.user_ns
    message = usage_error(ip, f"%ws connect {echo_url} --reconnect-jitter lots")
    assert "expected a number >= 0" in message


def test_list_shows_the_attempt_and_the_reconnects(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws list shows a reconnecting socket's attempt and how often it reconnected."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run(ip, f"%ws connect ws://127.0.0.1:{port}/ --as down --reconnect-delay 30 --no-display")
    down = socket_named(ip, "down")
    waiting = threading.Event()
    down.addEventListener("reconnect", lambda event: waiting.set())
    assert waiting.wait(TIMEOUT)
    settle(down)
    capsys.readouterr()
    run(ip, "%ws list")
    out = capsys.readouterr().out
    header, _, row = out.splitlines()[:3]
    assert "reconnects" in header.split()
    assert "CONNECTING attempt 1" in row
    assert row.split("CONNECTING attempt 1")[1].split()[0] == "1"
    run(ip, "%ws close down")
    down.wait_closed(TIMEOUT)
    assert down not in sockets()


def test_unload_stops_a_socket_between_two_connections(ip: InteractiveShell, echo_url: str) -> None:
    """%unload_ext ipyws stops a --reconnect socket that is CLOSED between connections."""
    run(ip, f"%ws connect {echo_url} --as feed --reconnect --no-display")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    closed = threading.Event()

    def stop_here(event: object) -> None:
        ip.run_line_magic("unload_ext", "ipyws")  # while CLOSED, before the reconnect event
        closed.set()

    feed.addEventListener("close", stop_here)
    feed.reconnect()
    assert closed.wait(TIMEOUT)
    assert feed.wait_closed(TIMEOUT).reason == "reconnect"
    assert feed not in sockets()


def test_log_shows_reconnect_and_ping_records(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws log shows a reconnect record's attempt and last close, and pings with --log-pings."""
    run(ip, f"%ws connect {echo_url} --as feed --log-pings --ping-interval none --no-display")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    feed.wait_ping(TIMEOUT)
    feed.reconnect()
    feed.wait_open(TIMEOUT)
    capsys.readouterr()
    run(ip, "%ws log feed --all")
    lines = capsys.readouterr().out.splitlines()[1:]  # after the heading line
    kinds = [line.split()[2] for line in lines]
    assert kinds == ["open", "ping", "pong", "close", "reconnect", "open"], lines
    assert lines[1].endswith("Ping sent · 4 B")
    assert "Pong received · 4 B · round trip " in lines[2]
    assert lines[4].endswith("Reconnecting · attempt 1 in 0.0 s · after close 1000")
