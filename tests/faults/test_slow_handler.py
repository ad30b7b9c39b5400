"""A flood into a 1 ms handler, with real server and client processes (benchmarks.slow_handler).

The server sends numbered messages as fast as the client reads them; the client's handler
works 1 ms per message. With the default flow control the client's memory stays bounded,
every message arrives in order, and the server is held back by TCP; with ``drop_oldest``
the client keeps up by dropping, in order, and counts what it dropped.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.slow_handler import measure

SECONDS = 30.0
"""Length of the default run, as the issue asks."""

SIZE = 1000
"""Characters per message: big enough that TCP's buffers fill within the run."""

MiB = 1024 * 1024

RSS_BOUND = 32 * MiB
"""The documented bound (docs/howto/long-running-feeds.md): the backlog's 16 MiB of payload
bytes at most (10,000 messages of 1 KB here: 10 MB), plus the objects holding them."""


def _tcp_buffers() -> int:
    """Bytes TCP may buffer on one loopback connection: both ends' largest buffers."""
    total = 0
    for name in ("tcp_rmem", "tcp_wmem"):
        try:
            total += int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            total += 32 * MiB
    return total


def test_a_flood_into_a_1_ms_handler_stays_bounded_in_order_and_slows_the_server() -> None:
    """30 s: RSS within its bound, every message in order, the server held back by TCP."""
    result = measure(SECONDS, 1.0, size=SIZE)
    assert result["in_order"], result
    assert result["paused_seen"], result
    assert result["dropped"] == 0, result
    assert result["rss_growth"] < RSS_BOUND, result
    # The server could only send what the client handled, what waits in its backlog and
    # what TCP's buffers hold; unthrottled it sends more than that every few seconds.
    unread = result["sent"] - result["handled"] - result["backlog_at_end"]
    assert unread <= _tcp_buffers() // SIZE + 1000, result
    assert result["blocked"] > SECONDS / 2, result


def test_drop_oldest_keeps_up_in_order_and_counts_the_drops() -> None:
    """drop_oldest: reading never pauses, messages come in order, the drops are counted."""
    result = measure(10.0, 1.0, size=SIZE, drop_oldest=True)
    assert result["in_order"], result
    assert not result["paused_seen"], result
    assert result["dropped"] > result["handled"], result
    assert result["rss_growth"] < RSS_BOUND, result
