"""The panel's widget state, without a browser: traits, rows, coalescing, bounds, escaping."""

from __future__ import annotations

import base64
import gc
import itertools
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ipyws
from ipyws import Reconnect, WebSocket, _panel_feed, demo, widgets
from ipyws._dispatch import current_dispatcher
from ipyws._panel_feed import (
    FETCH_LIMIT,
    INTERVAL,
    MAX_ROWS_PER_UPDATE,
    ROW_DATA_LIMIT,
    close_meaning,
    updater,
)
from tests.servers import HeldServer
from tests.widgets.helpers import RecordingComm, wait_for

HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert('pwned')</script>"]
STATIC = Path(ipyws.__file__).parent / "static"


def open_panel(url: str, **kwargs: Any) -> tuple[WebSocket, widgets.WebSocketPanel]:
    """Connect to ``url``, show the socket's panel and wait until the panel says OPEN."""
    ws = WebSocket(url, **kwargs)
    view = widgets.panel(ws)
    wait_for(lambda: view.state == "OPEN", what="the panel to say OPEN")
    return ws, view


def comm_of(view: widgets.WebSocketPanel) -> RecordingComm:
    """Return the recording comm of a widget."""
    assert isinstance(view.comm, RecordingComm)
    return view.comm


def all_new_rows(view: widgets.WebSocketPanel) -> list[dict[str, Any]]:
    """Return every row the widget's updates carried, in order."""
    return [row for _, state in comm_of(view).updates() for row in state.get("new_rows", [])]


def test_traits_follow_the_socket(comms: list[RecordingComm], held_server: HeldServer) -> None:
    """State, counters and close details reach the traits from the I/O side."""
    ws = WebSocket(held_server.url)
    view = widgets.panel(ws)
    held_server.wait_held()  # the handshake waits: CONNECTING however busy the machine is
    assert view.state == "CONNECTING"
    assert view.url == ws.url
    held_server.release()
    wait_for(lambda: view.state == "OPEN", what="OPEN")
    assert "permessage-deflate" in view.extensions
    assert view.protocol == ""
    assert view.opened_at is not None
    ws.wait_open(10)
    ws.send("hello")
    ws.send(b"\x00\x01\x02")
    wait_for(lambda: view.messages_in == 2, what="two echoes")
    assert (view.messages_out, view.bytes_out, view.bytes_in) == (2, 8, 8)
    ws.close(1000, "bye")
    wait_for(lambda: view.state == "CLOSED", what="CLOSED")
    assert view.close_code == 1000
    assert view.close_meaning == "Normal Closure"
    assert view.close_reason == "bye"
    assert view.was_clean is True
    assert view.ready_state == 3
    kinds = [(r["dir"], r["type"]) for r in view._feed.snapshot_rows()]
    assert kinds == [
        ("event", "open"),
        ("sent", "text"),
        ("sent", "binary"),
        ("received", "text"),
        ("received", "binary"),
        ("event", "close"),
    ]


def test_state_is_live_while_handlers_are_blocked(
    comms: list[RecordingComm], start_ticker: Callable[..., demo.DemoServer]
) -> None:
    """The panel turns OPEN and counts messages while the socket's own thread is stuck."""
    ticker = start_ticker(rate=200)
    gate = threading.Event()

    def occupy(_: object) -> None:
        gate.wait(10)

    # Occupy the thread that runs the socket's tasks, as a long cell occupies a kernel.
    current_dispatcher().post(occupy, None)
    try:
        ws = WebSocket(ticker.url)
        view = widgets.panel(ws)
        wait_for(
            lambda: view.state == "OPEN" and view.messages_in > 10 and view.rate > 0,
            what="live counters",
        )
        assert ws.readyState == WebSocket.CONNECTING
    finally:
        gate.set()
    ws.wait_open(10)


def test_displaying_twice_shows_one_panel(
    comms: list[RecordingComm], echo_server: demo.DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """panel() and the socket's display data give the same widget every time."""
    monkeypatch.setattr(widgets, "_widget_frontend", lambda: True)
    ws = WebSocket(echo_server.url)
    first = ws._repr_mimebundle_()
    second = ws._repr_mimebundle_()
    mime = "application/vnd.jupyter.widget-view+json"
    assert first[mime]["model_id"] == second[mime]["model_id"] == widgets.panel(ws).model_id
    assert first["text/plain"].startswith("<WebSocket ")
    assert widgets.panel(ws) is widgets.panel(ws)
    panels = [c for c in comms if c.sent[0][2]["state"]["_model_name"] == "AnyModel"]
    assert len(panels) == 1


def test_updates_carry_only_new_rows(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """Each update sends the rows added since the last one, never the whole log."""
    ws, view = open_panel(echo_server.url)
    ws.wait_open(10)
    for i in range(30):
        ws.send(f"message {i}")
    wait_for(lambda: view.messages_in == 30, what="30 echoes")
    wait_for(lambda: len(view._feed.snapshot_rows()) == 61, what="61 rows")
    updates = comm_of(view).updates()
    assert all("rows" not in state for _, state in updates)
    ids = [row["id"] for row in all_new_rows(view)]
    assert ids == sorted(set(ids)), "a row travelled twice"
    assert ids[-1] == view._feed.snapshot_rows()[-1]["id"]


def test_full_state_carries_the_kept_rows(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """A full state sync (new view, reloaded page, saved notebook) includes the kept rows."""
    ws, view = open_panel(echo_server.url)
    ws.wait_open(10)
    ws.send("keep me")
    wait_for(lambda: view.messages_in == 1, what="the echo")
    wait_for(lambda: len(view._feed.snapshot_rows()) == 3, what="three rows")
    state = view.get_state()
    assert [r["preview"] for r in state["rows"]] == [
        state["rows"][0]["preview"],
        "keep me",
        "keep me",
    ]
    assert state["state"] == "OPEN"
    opened = comm_of(view).sent[0]
    assert opened[1] == "comm_open"


def test_firehose_is_coalesced_to_20_updates_per_second(
    comms: list[RecordingComm], start_ticker: Callable[..., demo.DemoServer]
) -> None:
    """A 20 000 msg/s feed makes at most about 20 updates a second, each with a few rows."""
    ticker = start_ticker(rate=20_000)
    _ws, view = open_panel(ticker.url)
    recording = comm_of(view)
    start_count = view.messages_in

    # The window is measured in messages, not seconds, so a slow machine only stretches it.
    t0 = time.monotonic()
    received0 = view.messages_in
    wait_for(lambda: view.messages_in - received0 >= 20_000, timeout=120, what="20 000 messages")
    t1 = time.monotonic()
    in_window = [state for t, state in recording.updates() if t0 <= t < t1]
    assert len(in_window) <= (t1 - t0) / INTERVAL + 2, f"{len(in_window)} updates in {t1 - t0} s"
    assert len(in_window) >= 2, "the panel stopped updating"
    for state in in_window:
        assert len(state.get("new_rows", [])) <= MAX_ROWS_PER_UPDATE
        assert all("data" not in row for row in state.get("new_rows", []))
    wait_for(lambda: view.rate > 0, what="a rate")
    assert view.messages_in > start_count
    times = [t for t, _ in recording.updates() if t0 <= t < t1]
    spacing = [b - a for a, b in itertools.pairwise(times)]
    assert min(spacing) >= INTERVAL * 0.5, "two updates came too close together"


def test_updates_count_the_rows_they_skip(
    comms: list[RecordingComm], start_ticker: Callable[..., demo.DemoServer]
) -> None:
    """Each update's rows are the newest; skipped counts every newer record it left out."""
    ticker = start_ticker(rate=5000)
    _ws, view = open_panel(ticker.url)
    wait_for(lambda: view.messages_in > 3000, timeout=60, what="3000 messages")
    total = None
    skipped = 0
    checked = 0
    for _, state in comm_of(view).updates():
        skipped = state.get("skipped", skipped)  # a trait goes out when it changes
        rows = state.get("new_rows", [])
        if total is not None and rows:
            ids = [row["id"] for row in rows]
            assert ids == list(range(ids[0], ids[0] + len(ids))), "rows are not consecutive"
            assert ids[-1] == state["log_total"] - 1, "the rows are not the newest"
            assert skipped == state["log_total"] - total - len(rows)
            checked += skipped > 0
        total = state.get("log_total", total)
    assert checked >= 5, "the firehose never made an update skip rows"


def ask(view: widgets.WebSocketPanel, **content: Any) -> dict[str, Any]:
    """Send a view's request to the widget and return the widget's answer to it."""
    recording = comm_of(view)
    req = len(recording.customs()) + 1000
    view._handle_custom_msg({**content, "view": "v1", "req": req}, [])
    answers = [m for m in recording.customs() if m.get("req") == req]
    assert len(answers) == 1, answers
    answer: dict[str, Any] = answers[0]
    assert answer["view"] == "v1" and answer["kind"] == content["action"]
    return answer


def send_and_wait(ws: WebSocket, view: widgets.WebSocketPanel, texts: list[str]) -> None:
    """Send ``texts`` to the echo server and wait for all echoes."""
    ws.wait_open(10)
    before = view.messages_in
    for text in texts:
        ws.send(text)
    wait_for(lambda: view.messages_in == before + len(texts), what="the echoes")


def test_fetch_by_range(comms: list[RecordingComm], echo_server: demo.DemoServer) -> None:
    """A view fetches any range of the log by id; rows that left the ring are reported gone."""
    ws, view = open_panel(echo_server.url, log_size=300)
    send_and_wait(ws, view, [f"message {i}" for i in range(200)])
    wait_for(lambda: view.log_total == ws.transcript.total, what="the last update")
    assert (view.log_first, view.log_total) == (101, 401)  # 401 records, the newest 300 kept
    answer = ask(view, action="fetch", start=150, stop=160)
    assert [row["id"] for row in answer["rows"]] == list(range(150, 160))
    assert (answer["first"], answer["total"]) == (101, 401)
    records = {r["seq"]: r for r in ws.transcript.records()}
    for row in answer["rows"]:
        assert row["preview"] == records[row["id"]]["data"]
        assert row["dir"] == ("sent" if records[row["id"]]["type"] == "send" else "received")
        assert "data" not in row
    assert [row["id"] for row in ask(view, action="fetch", start=0, stop=105)["rows"]] == [
        101,
        102,
        103,
        104,
    ]
    big = ask(view, action="fetch", start=101, stop=401)["rows"]
    assert len(big) == FETCH_LIMIT and big[0]["id"] == 101
    detail = ask(view, action="full", id=155, limit=4)
    assert (detail["id"], detail["data"], detail["partial"]) == (
        155,
        records[155]["data"][:4],
        True,
    )
    assert "left ws.transcript" in ask(view, action="full", id=3)["error"]


def test_filter_pages_through_the_whole_ring(
    comms: list[RecordingComm], echo_server: demo.DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel filters all of the transcript, newest first, in pages that name what is left."""
    monkeypatch.setattr(_panel_feed, "SCAN_BUDGET", 200)
    ws, view = open_panel(echo_server.url, log_size=5000)
    send_and_wait(ws, view, ["needle <b>far back</b>"])
    send_and_wait(ws, view, [f'{{"n": {i}, "odd": {str(i % 2 == 1).lower()}}}' for i in range(600)])
    total = ws.transcript.total
    # A text filter: any case, in any message of the ring, found over several pages.
    pages, stop = [], None
    while True:
        answer = ask(view, action="filter", text="NEEDLE", stop=stop)
        pages.append(answer["rows"])
        if answer["rest"] is None:
            break
        stop = answer["rest"]
    found = [row for page in pages for row in page]
    assert [(r["dir"], r["preview"]) for r in found] == [
        ("sent", "needle <b>far back</b>"),
        ("received", "needle <b>far back</b>"),
    ]
    assert len(pages) >= total // 200, "the scan budget did not split the search"
    # A regex with a direction, in pages of matches.
    first = ask(view, action="filter", text=r'"odd": true\}', regex=True, dir="received", limit=50)
    assert len(first["rows"]) == 50
    assert all(r["dir"] == "received" and '"odd": true' in r["preview"] for r in first["rows"])
    odd = [
        r["seq"]
        for r in ws.transcript.records()
        if r["type"] == "receive" and '"odd": true}' in r["data"]
    ]
    assert [r["id"] for r in first["rows"]] == odd[-50:]
    assert first["rest"] == first["rows"][0]["id"]
    second = ask(
        view,
        action="filter",
        text=r'"odd": true\}',
        regex=True,
        dir="received",
        stop=first["rest"],
        limit=50,
    )
    assert [r["id"] for r in second["rows"]] == odd[-100:-50]
    events = ask(view, action="filter", text="connection opened", dir="event")
    while events["rest"] is not None and not events["rows"]:
        events = ask(
            view, action="filter", text="connection opened", dir="event", stop=events["rest"]
        )
    assert [r["type"] for r in events["rows"]] == ["open"]
    assert ask(view, action="filter", text="(unclosed", regex=True)["error"].startswith(
        "invalid regular expression"
    )


def test_paused_view_keeps_its_rows(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """A pin keeps the log as it was for a paused view while the ring turns over."""
    ws, view = open_panel(echo_server.url, log_size=50)
    send_and_wait(ws, view, [f"old {i}" for i in range(20)])
    pinned = ask(view, action="pin")
    assert (pinned["first"], pinned["total"]) == (0, 41)
    send_and_wait(ws, view, [f"new {i}" for i in range(100)])
    assert ws.transcript.window().first > 41
    old = ask(view, action="fetch", start=0, stop=41, pin=pinned["pin"])
    assert [r["id"] for r in old["rows"]] == list(range(41))
    assert (
        ask(view, action="filter", text="old 7", pin=pinned["pin"])["rows"][0]["preview"] == "old 7"
    )
    assert ask(view, action="full", id=5, pin=pinned["pin"])["data"].startswith("old")
    live = ask(view, action="fetch", start=0, stop=41)
    assert live["rows"] == [] and live["first"] > 41
    view._handle_custom_msg({"action": "unpin", "pin": pinned["pin"]}, [])
    assert view._feed._pins == {}


def test_log_is_a_bounded_ring(
    comms: list[RecordingComm], start_ticker: Callable[..., demo.DemoServer]
) -> None:
    """The panel keeps at most log_size rows and its bookkeeping stays bounded."""
    ticker = start_ticker(rate=5000)
    ws = WebSocket(ticker.url, log_size=200)
    view = widgets.panel(ws, log_size=50)
    wait_for(lambda: view.messages_in > 3000, timeout=60, what="3000 messages")
    feed = view._feed
    assert view.log_size == 50
    assert len(feed.snapshot_rows()) == 50
    assert len(view.get_state()["rows"]) == 50
    assert len(feed._history) <= 60
    assert len(ws.transcript) == 200


def test_memory_stays_flat_on_an_endless_feed(
    comms: list[RecordingComm], start_ticker: Callable[..., demo.DemoServer]
) -> None:
    """Memory held by the panel's code does not grow once its rings are full."""
    RecordingComm.keep = 10
    try:
        ticker = start_ticker(rate=3000)
        _ws, view = open_panel(ticker.url)
        wait_for(lambda: view.messages_in > 3000, timeout=60, what="rings to fill")
        tracemalloc.start(5)
        try:
            # Windows measured in messages, so a slow machine only stretches them.
            warmed_from = view.messages_in
            wait_for(lambda: view.messages_in - warmed_from > 3000, timeout=60, what="warm-up")
            gc.collect()
            first = tracemalloc.take_snapshot()
            before = view.messages_in
            wait_for(lambda: view.messages_in - before > 6000, timeout=60, what="6000 messages")
            gc.collect()
            second = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        ours = [
            tracemalloc.Filter(True, "*ipyws/_panel_feed.py"),
            tracemalloc.Filter(True, "*ipyws/widgets.py"),
        ]
        grown = sum(
            stat.size_diff
            for stat in second.filter_traces(ours).compare_to(first.filter_traces(ours), "filename")
        )
        assert grown < 512 * 1024, f"the panel's memory grew by {grown} bytes over 6000 messages"
    finally:
        RecordingComm.keep = 10_000


def test_hostile_messages_stay_text(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """Markup a server sends is kept as literal text in rows and escaped in the HTML snapshot."""
    ws, view = open_panel(echo_server.url)
    ws.wait_open(10)
    for text in HOSTILE:
        ws.send(text)
    wait_for(lambda: view.messages_in == 2, what="the echoes")
    wait_for(lambda: len(view._feed.snapshot_rows()) == 5, what="five rows")
    received = [r for r in view._feed.snapshot_rows() if r["dir"] == "received"]
    assert [r["preview"] for r in received] == HOSTILE
    assert [r["data"] for r in received] == HOSTILE
    page = widgets.snapshot_html(ws)
    assert "<img" not in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
    assert HOSTILE[0] in widgets.snapshot_text(ws)


def test_credentials_never_reach_the_panel_or_the_snapshots(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """The widget state, its rows and the text/HTML snapshots show URL credentials masked."""
    url = echo_server.url.replace("ws://", "ws://user:hunter22@")
    ws, view = open_panel(url, headers={"Authorization": "Bearer tok-9f8e7d"})
    ws.wait_open(10)  # the panel reads the I/O side: readyState may still be CONNECTING
    ws.send("hi")
    wait_for(lambda: view.messages_in == 1, what="the echo")
    assert ws.url == url
    assert view.url == url.replace("hunter22", "***")
    rows = view._feed.snapshot_rows()
    bundle = ws._repr_mimebundle_()
    assert "user:***@" in bundle["text/plain"] and "user:***@" in bundle["text/html"]
    shown = [repr(comm_of(view).sent), repr(view.get_state()), repr(rows), repr(bundle)]
    for surface in shown:
        for secret in ("hunter22", "tok-9f8e7d", "dXNlcjpodW50ZXIyMg=="):
            assert secret not in surface


def test_control_characters_are_escaped_in_the_panel_and_snapshots(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """ESC, BEL, NUL, C1 and bidi overrides a server sends show escaped, in rows and snapshots."""
    hostile = "\x1b]0;owned\x07\x1b[2J\x00\x9b\u202eevil\u2066"
    ws, view = open_panel(echo_server.url)
    ws.wait_open(10)  # the panel reads the I/O side: readyState may still be CONNECTING
    ws.send(hostile)
    wait_for(lambda: view.messages_in == 1, what="the echo")
    ws.close(4000, "bye\u202e\x1b[2J")
    wait_for(lambda: view.state == "CLOSED", what="CLOSED")
    assert view.close_reason == "bye\\u202e\\x1b[2J"
    received = [r for r in view._feed.snapshot_rows() if r["dir"] == "received"]
    assert received[0]["preview"] == "\\x1b]0;owned\\x07\\x1b[2J\\x00\\x9b\\u202eevil\\u2066"
    assert received[0]["data"] == hostile  # the detail view keeps the message as it came
    bundle = ws._repr_mimebundle_()
    for text in (bundle["text/plain"], bundle["text/html"]):
        assert all(c.isprintable() or c == "\n" for c in text), text
        assert "\\u202eevil" in text


def test_frontend_module_never_writes_html() -> None:
    """The ES module builds its DOM with text only: no HTML sinks, no eval."""
    source = (STATIC / "panel.js").read_text(encoding="utf-8")
    code = re.sub(r"^\s*//.*$", "", source, flags=re.MULTILINE)
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "createContextualFragment",
        "DOMParser",
        "eval(",
        "new Function",
        "srcdoc",
    ):
        assert sink not in code, sink
    assert "export default { initialize, render }" in source


def test_frontend_actions(comms: list[RecordingComm], echo_server: demo.DemoServer) -> None:
    """Send, a refused close, clear and close arrive as custom messages and act on the socket."""
    ws, view = open_panel(echo_server.url)
    ws.wait_open(10)
    view._handle_custom_msg({"action": "send", "text": '{"op": "hi"}'}, [])
    wait_for(lambda: view.messages_in == 1, what="the echo")
    view._handle_custom_msg({"action": "close", "code": 999, "reason": ""}, [])
    notices = [m for m in comm_of(view).customs() if m.get("kind") == "notice"]
    assert notices and notices[0]["text"].startswith("InvalidAccessError")
    wait_for(lambda: len(view._feed.snapshot_rows()) == 3, what="three rows")
    last = view._feed.snapshot_rows()[-1]["id"]
    view._handle_custom_msg({"action": "clear", "through": last}, [])
    assert view._feed.snapshot_rows() == []
    wait_for(lambda: view.cleared_through == last, what="cleared_through")
    assert ws.transcript.total == 3, "clearing the panel must not clear the transcript"
    view._handle_custom_msg({"action": "close", "code": 4001, "reason": "done here"}, [])
    wait_for(lambda: view.state == "CLOSED", what="CLOSED")
    assert (view.close_code, view.close_reason, view.close_meaning) == (
        4001,
        "done here",
        "Application-defined",
    )


def test_reconnect_button_reconnects_the_same_socket(
    comms: list[RecordingComm], echo_server: demo.DemoServer
) -> None:
    """Reconnect closes the connection and opens a new one on the same object, listeners kept."""
    seen: list[str] = []
    ws = WebSocket(echo_server.url, log_size=77, compression=False)
    ws.addEventListener("message", lambda e: seen.append(e.data))
    view = widgets.panel(ws)
    wait_for(lambda: view.state == "OPEN", what="OPEN")
    ws.wait_open(10)
    view._handle_custom_msg({"action": "reconnect"}, [])
    assert view.socket is ws
    wait_for(lambda: view.connection == 2 and view.state == "OPEN", what="connection #2 OPEN")
    ws.wait_open(10)
    ws.send("again")
    wait_for(lambda: seen == ["again"], what="the listener on the new connection")
    closes = [r for r in ws.transcript.records() if r["type"] == "close"]
    assert [(r["code"], r["reason"]) for r in closes] == [(1000, "reconnect")]
    rows = view._feed.snapshot_rows()
    assert "reconnect" in [r["type"] for r in rows]
    assert rows[-1]["conn"] == 2
    assert all(count >= 0 for count in view.rate_history)


def test_reconnecting_state_shows_attempt_and_next_try(comms: list[RecordingComm]) -> None:
    """While a reconnecting socket waits, the panel shows RECONNECTING, the attempt and when."""
    server = demo.start("echo")
    url = server.url
    ws = WebSocket(url, reconnect=Reconnect(initial_delay=30.0, max_delay=30.0, jitter=0.0))
    view = widgets.panel(ws)
    ws.wait_open(10)
    server.stop()
    wait_for(lambda: view.state == "RECONNECTING", what="RECONNECTING")
    assert view.reconnect_attempt == 1
    assert view.ready_state == 0
    assert view.close_code == 1001
    assert view.retry_at is not None and view.retry_at > time.time() * 1000.0 + 20_000
    rows = view._feed.snapshot_rows()
    assert [r["type"] for r in rows if r["dir"] == "event"][-2:] == ["close", "reconnect"]
    ws.close()
    wait_for(lambda: view.state == "CLOSED", what="CLOSED after close()")


def test_reconnect_during_a_backoff_wait_ends_the_countdown(comms: list[RecordingComm]) -> None:
    """Reconnect pressed during a backoff wait: the panel says CONNECTING, no stale countdown."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        # Nothing listens yet: the first attempt is refused and a 30 s wait starts.
        policy = Reconnect(initial_delay=30.0, max_delay=30.0, jitter=0.0)
        ws = WebSocket(f"ws://127.0.0.1:{port}/", reconnect=policy)
        view = widgets.panel(ws)
        wait_for(lambda: view.state == "RECONNECTING", what="RECONNECTING")
        assert ws.stats.next_attempt is not None
        # Now the port accepts TCP and never answers the handshake: the next attempt hangs.
        listener.listen(1)
        view._handle_custom_msg({"action": "reconnect"}, [])
        wait_for(lambda: view.state == "CONNECTING", what="CONNECTING after Reconnect")
        assert view.retry_at is None
        assert view.reconnect_attempt == 1
        assert ws.stats.next_attempt is None
        ws.close()
        wait_for(lambda: view.state == "CLOSED", what="CLOSED after close()")


def test_big_and_binary_messages(comms: list[RecordingComm], echo_server: demo.DemoServer) -> None:
    """Big messages are cut in rows and loaded whole on demand; binary rows carry base64."""
    ws, view = open_panel(echo_server.url)
    ws.wait_open(10)
    big = "x" * (ROW_DATA_LIMIT * 2)
    ws.send(big)
    ws.send(bytes(range(40)))
    wait_for(lambda: view.messages_in == 2, what="the echoes")
    wait_for(lambda: len(view._feed.snapshot_rows()) == 5, what="five rows")
    rows = {(r["dir"], r["type"]): r for r in view._feed.snapshot_rows()}
    text = rows[("received", "text")]
    assert text["partial"] and len(text["data"]) == ROW_DATA_LIMIT
    binary = rows[("received", "binary")]
    assert base64.b64decode(binary["data"]) == bytes(range(40))
    assert binary["preview"].startswith("00 01 02 03")
    view._handle_custom_msg({"action": "full", "id": text["id"]}, [])
    full = [m for m in comm_of(view).customs() if m.get("kind") == "full"][-1]
    assert full["id"] == text["id"] and full["data"] == big and not full["partial"]


def test_parts_share_one_feed(comms: list[RecordingComm], echo_server: demo.DemoServer) -> None:
    """Header, MessageLog and Controls show one socket's feed; only the log carries rows."""
    ws, view = open_panel(echo_server.url)
    header = widgets.Header(ws)
    log = widgets.MessageLog(ws)
    controls = widgets.Controls(ws)
    assert header.parts == ["header"] and log.parts == ["log"] and controls.parts == ["controls"]
    assert header._feed is view._feed is log._feed
    assert header.get_state()["rows"] == []
    ws.wait_open(10)
    ws.send("to all")
    wait_for(lambda: header.messages_in == 1 and log.messages_in == 1, what="both parts")
    wait_for(lambda: all_new_rows(log), what="rows in the log part")
    assert not all_new_rows(header)
    with pytest.raises(ValueError, match="unknown panel parts"):
        widgets.WebSocketPanel(ws, parts=["chart"])
    with pytest.raises(TypeError):
        widgets.WebSocketPanel("ws://127.0.0.1:1/")  # type: ignore[arg-type]


def test_snapshot_without_a_widget_frontend(echo_server: demo.DemoServer) -> None:
    """Outside a kernel the socket displays as text and HTML snapshots, with no widget."""
    ws = WebSocket(echo_server.url)
    ws.wait_open(10)
    ws.send("snap")
    ws.wait_message(10)
    bundle = ws._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    text = bundle["text/plain"]
    assert text.splitlines()[0] == repr(ws)
    assert "in: 1 message" in text and "snap" in text
    assert re.search(r"\d\d:\d\d:\d\d\.\d{3} ↓ text", text)
    assert 'class="ipyws-snapshot"' in bundle["text/html"]
    assert set(ws._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    assert set(ws._repr_mimebundle_(exclude=["text/html"])) == {"text/plain"}
    ws.close()
    ws.wait_closed(10)
    assert "CLOSED · 1005 No Status Received" in ws._repr_mimebundle_()["text/plain"]


def test_rate_and_history(
    comms: list[RecordingComm], start_ticker: Callable[..., demo.DemoServer]
) -> None:
    """The rate is messages per second and the chart gets one value per second."""
    ticker = start_ticker(rate=50)
    ws, view = open_panel(ticker.url)
    wait_for(
        lambda: view.rate_history[-2:].count(0) == 0 and len(view.rate_history) == 60,
        timeout=10,
        what="two full seconds of history",
    )
    assert 20 <= view.rate <= 100
    assert 20 <= view.rate_history[-1] <= 100
    ws.close()
    wait_for(lambda: view.state == "CLOSED", what="CLOSED")
    wait_for(lambda: view._feed not in updater().feeds(), what="the updater to let go")
    assert view.rate == 0


def test_close_meanings() -> None:
    """Close codes are named from the registry, or by their range."""
    assert close_meaning(1006) == "Abnormal Closure"
    assert close_meaning(3001) == "Registered by a library or framework"
    assert close_meaning(4999) == "Application-defined"
    assert close_meaning(2000) == "Reserved"
    assert close_meaning(None) == ""


def test_text_snapshot_names_one_state(echo_server: demo.DemoServer) -> None:
    """The text/plain snapshot names one state, in its first line, however far the I/O side got."""
    ws = WebSocket(echo_server.url)
    states = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
    first = widgets.snapshot_text(ws)
    assert sum(first.count(state) for state in states) == 1, first
    ws.wait_open(timeout=10)
    opened = widgets.snapshot_text(ws)
    assert opened.splitlines()[0] == f"<WebSocket {ws.url} OPEN>"
    assert sum(opened.count(state) for state in states) == 1, opened
    ws.close()
    ws.wait_closed(timeout=10)
    assert widgets.snapshot_text(ws).splitlines()[0] == f"<WebSocket {ws.url} CLOSED>"
    secret = WebSocket(echo_server.url.replace("ws://", "ws://ada:s3cret@"))
    assert "s3cret" not in widgets.snapshot_text(secret).splitlines()[0]
    secret.close()
