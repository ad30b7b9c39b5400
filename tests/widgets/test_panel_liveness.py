"""The panel's liveness: the round trip beside the badge, pings and pongs in the log."""

from __future__ import annotations

from ipyws import WebSocket, demo, widgets
from tests.widgets.helpers import RecordingComm, wait_for


def test_rtt_shows_beside_the_badge(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """After a ping the panel's rtt trait holds the round trip in milliseconds."""
    ws = WebSocket(echo_server.url, ping_interval=None)
    view = widgets.panel(ws)
    ws.wait_open(10)
    assert view.rtt is None
    rtt = ws.wait_ping(10)
    wait_for(lambda: view.rtt is not None, what="the rtt trait")
    assert view.rtt == round(rtt * 1000.0, 2)


def test_log_pings_puts_pings_and_pongs_in_the_log(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """With log_pings=True the log shows a ping sent and its pong with the round trip."""
    ws = WebSocket(echo_server.url, ping_interval=None, log_pings=True)
    view = widgets.panel(ws)
    ws.wait_open(10)
    ws.wait_ping(10)
    wait_for(
        lambda: any(r["type"] == "pong" for r in view._feed.snapshot_rows()), what="a pong row"
    )
    rows = [r for r in view._feed.snapshot_rows() if r["type"] in ("ping", "pong")]
    assert [(r["type"], r["dir"]) for r in rows] == [("ping", "event"), ("pong", "event")]
    assert rows[0]["preview"] == "Ping sent · 4 B"
    assert rows[1]["preview"].startswith("Pong received · 4 B · round trip ")
