"""Tests for the demo servers in :mod:`ipyws.demo`, driven by the websockets client."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from ipyws import demo

TIMEOUT = 5.0
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo() -> Iterator[demo.DemoServer]:
    """An echo demo server, stopped after the test."""
    with demo.start("echo") as server:
        yield server


def receive_json(ws: ClientConnection) -> Any:
    """Receive one text message and decode it as JSON."""
    message = ws.recv(timeout=TIMEOUT)
    assert isinstance(message, str)
    return json.loads(message)


def receive_until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """Receive JSON messages until one of type ``kind`` arrives, skipping ticks."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = receive_json(ws)
        if message["type"] == kind:
            return message  # type: ignore[no-any-return]
    raise AssertionError(f"no {kind!r} message within {TIMEOUT} s")


def close_info(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Wait for the connection to close and return the code and reason received."""
    with pytest.raises(ConnectionClosed):
        while True:
            ws.recv(timeout=TIMEOUT)
    rcvd = ws.protocol.close_rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)


def test_servers_maps_each_name_to_a_description() -> None:
    """SERVERS names the four demo servers, each with a one-line description."""
    assert set(demo.SERVERS) == {"binary", "chat", "echo", "ticker"}
    for description in demo.SERVERS.values():
        assert description
        assert "\n" not in description


def test_start_listens_on_loopback_and_reports_the_url(echo: demo.DemoServer) -> None:
    """A started server listens on 127.0.0.1 on the port that its url names."""
    assert echo.port > 0
    assert echo.url == f"ws://127.0.0.1:{echo.port}/"
    assert echo.running


def test_servers_negotiate_permessage_deflate(echo: demo.DemoServer) -> None:
    """Demo servers accept permessage-deflate by default."""
    with connect(echo.url, open_timeout=TIMEOUT) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]


def test_echo_returns_text_as_text_and_binary_as_binary(echo: demo.DemoServer) -> None:
    """The echo server sends each message back with its type."""
    with connect(echo.url, open_timeout=TIMEOUT) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=TIMEOUT) == "héllo"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=TIMEOUT) == b"\x00\xff"


def test_echo_answers_a_close_with_the_same_code_and_reason(echo: demo.DemoServer) -> None:
    """The echo server answers a client's Close with its code and reason."""
    with connect(echo.url, open_timeout=TIMEOUT) as ws:
        ws.close(4321, "see you")
        assert ws.protocol.close_rcvd is not None
        assert (ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason) == (4321, "see you")


def test_echo_answers_an_empty_close_with_an_empty_close(echo: demo.DemoServer) -> None:
    """An empty Close gets an empty Close back, which the client reads as 1005."""
    with connect(echo.url, open_timeout=TIMEOUT) as ws:
        # close() always sends a code; a Close without a body needs the protocol layer.
        with ws.protocol_mutex:
            ws.protocol.send_close()
            ws.send_data()
        assert close_info(ws) == (1005, "")


def test_subprotocols_select_the_servers_first_choice_and_refuse_others() -> None:
    """With subprotocols, a server picks the first of its own a client offers, refuses others."""
    with demo.start("echo", subprotocols=["chat.v2", "chat.v1"]) as server:
        with connect(server.url, subprotocols=["chat.v1", "chat.v2"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "chat.v2"
        for offered in (["chat.v3"], None):
            with pytest.raises(InvalidStatus, match="400"):
                connect(server.url, subprotocols=offered)  # type: ignore[arg-type]


def test_stop_closes_clients_with_1001_and_is_idempotent() -> None:
    """stop() closes connected clients with 1001, ends the thread, and can be repeated."""
    server = demo.start("echo")
    with connect(server.url, open_timeout=TIMEOUT) as ws:
        server.stop()
        assert close_info(ws) == (1001, "")
    assert not server.running
    server.stop()


def test_context_manager_stops_the_server() -> None:
    """Leaving the with block stops the server, so new connections are refused."""
    with demo.start("echo") as server:
        url = server.url
    assert not server.running
    with pytest.raises(OSError), connect(url, open_timeout=TIMEOUT):
        pass


def test_ticker_sends_consecutive_json_ticks_for_every_symbol() -> None:
    """By default a ticker client gets ticks of every symbol, numbered without gaps."""
    with (
        demo.start("ticker", rate=500, seed=1) as server,
        connect(server.url, open_timeout=TIMEOUT) as ws,
    ):
        ticks = [receive_json(ws) for _ in range(60)]
        raw = ws.recv(timeout=TIMEOUT)
    # Stamped to the microsecond: a latency measured on loopback (notebook 03) is finer than
    # the millisecond a rounded clock would give.
    assert re.search(r'"time": \d+\.\d{6}\}$', str(raw)), raw
    assert {t["symbol"] for t in ticks} == {"ACME", "GLOBEX", "INITECH"}
    for tick in ticks:
        assert set(tick) == {"type", "symbol", "price", "seq", "time"}
        assert tick["type"] == "tick"
        assert isinstance(tick["price"], float)
        assert tick["price"] > 0
        assert abs(tick["time"] - time.time()) < 60
    seqs = [t["seq"] for t in ticks]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_ticker_subscribe_filters_symbols_and_is_acknowledged() -> None:
    """After subscribing, a ticker client gets only the symbols it subscribed to."""
    with (
        demo.start("ticker", rate=500, seed=2) as server,
        connect(server.url, open_timeout=TIMEOUT) as ws,
    ):
        ws.send(json.dumps({"op": "subscribe", "symbol": "ACME"}))
        assert receive_until(ws, "subscribed")["symbols"] == ["ACME"]
        ws.send(json.dumps({"op": "subscribe", "symbol": "INITECH"}))
        assert receive_until(ws, "subscribed")["symbols"] == ["ACME", "INITECH"]
        ticks = [receive_json(ws) for _ in range(40)]
    assert {t["symbol"] for t in ticks} == {"ACME", "INITECH"}


def test_ticker_unsubscribe_removes_a_symbol() -> None:
    """Unsubscribing from one symbol keeps the others coming."""
    with (
        demo.start("ticker", rate=500, seed=3) as server,
        connect(server.url, open_timeout=TIMEOUT) as ws,
    ):
        ws.send(json.dumps({"op": "unsubscribe", "symbol": "GLOBEX"}))
        assert receive_until(ws, "subscribed")["symbols"] == ["ACME", "INITECH"]
        ticks = [receive_json(ws) for _ in range(40)]
    assert "GLOBEX" not in {t["symbol"] for t in ticks}


@pytest.mark.parametrize(
    "command",
    [
        "not json",
        "[1, 2]",
        '{"op": "buy", "symbol": "ACME"}',
        '{"op": "subscribe", "symbol": "NOPE"}',
        '{"op": "subscribe", "symbol": ["ACME"]}',
        b"\x00binary",
    ],
)
def test_ticker_answers_a_bad_command_with_an_error_and_keeps_going(command: str | bytes) -> None:
    """A bad command gets an error message back and the feed continues."""
    with demo.start("ticker", rate=200) as server, connect(server.url, open_timeout=TIMEOUT) as ws:
        ws.send(command)
        error = receive_until(ws, "error")
        assert isinstance(error["message"], str)
        assert error["message"]
        assert receive_until(ws, "tick")["symbol"]


def test_ticker_at_twenty_thousand_messages_per_second_has_no_gaps() -> None:
    """Asked for 20 000 msg/s, the ticker sends a second of its time with no gaps in seq."""
    with (
        demo.start("ticker", rate=20_000) as server,
        connect(server.url, open_timeout=TIMEOUT, max_queue=None) as ws,
    ):
        # The pace is read from the ticks' own seq and server time, so a test client that
        # reads slowly on a busy machine delays the test but does not change the result.
        ticks = [receive_json(ws)]
        deadline = time.monotonic() + 4 * TIMEOUT
        while ticks[-1]["time"] - ticks[0]["time"] < 1.0:
            assert time.monotonic() < deadline, "the ticker did not run for 1 s of its time"
            ticks.append(receive_json(ws))
    seqs = [t["seq"] for t in ticks]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    # The rate itself is measured by benchmarks/, never asserted in a test (noisy machines).


def test_ticker_rejects_a_rate_that_is_not_positive() -> None:
    """A zero, negative or infinite rate is refused before the server starts."""
    for rate in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="rate"):
            demo.start("ticker", rate=rate)


def test_chat_broadcasts_messages_joins_and_leaves() -> None:
    """Chat relays each text message to every client and announces joins and leaves."""
    with demo.start("chat") as server, connect(server.url, open_timeout=TIMEOUT) as alice:
        joined = receive_json(alice)
        assert joined == {"type": "join", "from": "user-1", "users": 1}
        with connect(server.url, open_timeout=TIMEOUT) as bob:
            assert receive_json(alice) == {"type": "join", "from": "user-2", "users": 2}
            assert receive_json(bob) == {"type": "join", "from": "user-2", "users": 2}
            bob.send("hi all")
            for ws in (alice, bob):
                message = receive_json(ws)
                assert message["type"] == "message"
                assert message["from"] == "user-2"
                assert message["text"] == "hi all"
                assert abs(message["time"] - time.time()) < 60
        assert receive_json(alice) == {"type": "leave", "from": "user-2", "users": 1}


def test_chat_names_clients_from_the_url_and_from_json_messages() -> None:
    """A ?name= in the URL names a chat client; a JSON message relays its text and name."""
    with (
        demo.start("chat") as server,
        connect(server.url + "?name=Ada", open_timeout=TIMEOUT) as ada,
    ):
        assert receive_json(ada) == {"type": "join", "from": "Ada", "users": 1}
        with connect(server.url, open_timeout=TIMEOUT) as grace:
            assert receive_json(ada)["from"] == "user-2"
            grace.send(json.dumps({"type": "message", "text": "Hello, Ada!", "name": "Grace"}))
            message = receive_json(ada)
            assert (message["from"], message["text"]) == ("Grace", "Hello, Ada!")
            grace.send('{"not": "a chat message"}')
            assert receive_json(ada)["text"] == '{"not": "a chat message"}'
        assert receive_json(ada) == {"type": "leave", "from": "Grace", "users": 1}


def test_binary_sends_consecutive_sixteen_byte_records() -> None:
    """The binary feed sends 16-byte records: sequence number then a float64 value."""
    with demo.start("binary", rate=200) as server, connect(server.url, open_timeout=TIMEOUT) as ws:
        frames = [ws.recv(timeout=TIMEOUT) for _ in range(10)]
    records = []
    for frame in frames:
        assert isinstance(frame, bytes)
        assert len(frame) == 16
        records.append(struct.unpack(demo.RECORD_FORMAT, frame))
    seqs = [seq for seq, _ in records]
    assert seqs == list(range(seqs[0], seqs[0] + 10))
    assert all(-1.0 <= value <= 1.0 for _, value in records)


@pytest.mark.parametrize(
    ("name", "options", "error", "said"),
    [
        pytest.param("ticker", {"rate": 1e308}, ValueError, "at most 1,000,000", id="rate-huge"),
        pytest.param("binary", {"rate": float("nan")}, ValueError, "rate", id="rate-nan"),
        pytest.param("binary", {"rate": "10"}, TypeError, "rate must be a number", id="rate-str"),
        pytest.param("ticker", {"rate": True}, TypeError, "rate must be a number", id="rate-bool"),
        pytest.param("ticker", {"seed": 1.5}, TypeError, "seed must be an int", id="seed-float"),
        pytest.param("echo", {"port": 70000}, ValueError, "port must be 0", id="port-big"),
        pytest.param("echo", {"port": "80"}, TypeError, "port must be an int", id="port-str"),
        pytest.param("echo", {"host": 127}, TypeError, "host must be", id="host-int"),
        pytest.param("echo", {"compression": "gzip"}, ValueError, "compression", id="gzip"),
        pytest.param("echo", {"ping_interval": 0}, ValueError, "ping_interval", id="ping-0"),
        pytest.param("echo", {"ping_timeout": "1"}, TypeError, "ping_timeout", id="pt-str"),
        pytest.param("echo", {"subprotocols": "chat"}, TypeError, "subprotocols", id="sub-str"),
    ],
)
def test_start_checks_its_arguments(
    name: str, options: dict[str, object], error: type[Exception], said: str
) -> None:
    """Each argument of start() is checked, with an error naming it, before anything starts."""
    with pytest.raises(error, match=said):
        demo.start(name, **options)  # type: ignore[arg-type]


def test_unknown_name_raises_value_error_listing_valid_names() -> None:
    """start() with an unknown name raises ValueError naming the valid servers."""
    with pytest.raises(ValueError, match="binary, chat, echo, ticker"):
        demo.start("nope")


def test_unknown_option_raises_type_error() -> None:
    """start() refuses an option that the server does not take."""
    with pytest.raises(TypeError, match="rate"):
        demo.start("echo", rate=5)


def test_start_raises_oserror_when_the_port_is_taken() -> None:
    """start() raises OSError in the caller when the port is already in use."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            demo.start("echo", port=taken.getsockname()[1])


def test_cli_rejects_rate_for_echo(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line refuses --rate for a server without a rate."""
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["echo", "--rate", "5"])
    assert exit_info.value.code == 2
    assert "--rate" in capsys.readouterr().err


def test_cli_prints_the_url_and_serves_until_interrupted() -> None:
    """`python -m ipyws.demo echo --port 0 --subprotocol v1` prints its URL, echoes, exits on ^C."""
    # The child must import this checkout's ipyws, installed or not.
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    with subprocess.Popen(
        [sys.executable, "-m", "ipyws.demo", "echo", "--port", "0", "--subprotocol", "v1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=30), "no URL printed within 30 s"
            url = process.stdout.readline().strip()
            assert url.startswith("ws://127.0.0.1:")
            assert url.endswith("/")
            with connect(url, open_timeout=TIMEOUT, subprotocols=["v1"]) as ws:  # type: ignore[list-item]
                assert ws.subprotocol == "v1"
                ws.send("ping")
                assert ws.recv(timeout=TIMEOUT) == "ping"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=TIMEOUT)
