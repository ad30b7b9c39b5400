"""The panel's Reconnect and the magics are one mechanism: the same socket object reconnects."""

from __future__ import annotations

import threading

from IPython.core.interactiveshell import InteractiveShell

from ipyws._panel_feed import feed_for
from tests.ipython.shell import TIMEOUT, run, settle, socket_named


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
