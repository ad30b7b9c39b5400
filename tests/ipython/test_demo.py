"""``%ws demo``: a demo server in the process and a socket connected to it."""

from __future__ import annotations

import json
import struct

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyws import sockets
from ipyws._magics import WSMagics
from ipyws.demo import RECORD_FORMAT, DemoServer
from tests.ipython.shell import TIMEOUT, run, socket_named, usage_error


def _servers(ip: InteractiveShell) -> dict[str, DemoServer]:
    magics = ip.magics_manager.registry["WSMagics"]
    assert isinstance(magics, WSMagics)
    return {name: server for name, (_, server) in magics.demo_servers.items()}


def test_demo_echo_starts_a_server_and_binds_a_socket_named_after_it(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws demo echo prints the server's URL, binds `echo` and shows it; the echo works."""
    run(ip, "%ws demo echo")
    echo = socket_named(ip, "echo")
    out = capsys.readouterr().out
    assert out.startswith(f"echo demo server at {echo.url}: echoes each message")
    assert echo.url.startswith("ws://127.0.0.1:")
    assert out.count(echo.url) >= 2  # the line above, then the socket's display
    echo.wait_open(TIMEOUT)
    run(ip, "%ws send echo hi")
    assert echo.wait_message(TIMEOUT).data == "hi"


def test_demo_ticker_with_rate_and_name_sends_json_ticks(ip: InteractiveShell) -> None:
    """%ws demo ticker --rate 50 --as feed delivers JSON tick messages to `feed`."""
    run(ip, "%ws demo ticker --rate 50 --as feed --no-display")
    tick = json.loads(socket_named(ip, "feed").wait_message(TIMEOUT).data)
    assert tick["type"] == "tick" and tick["symbol"] in ("ACME", "GLOBEX", "INITECH")


def test_demo_binary_with_arraybuffer_delivers_records_as_bytes(ip: InteractiveShell) -> None:
    """%ws demo binary --binary-type arraybuffer delivers 16-byte records as bytes."""
    run(ip, "%ws demo binary --rate 50 --binary-type arraybuffer --no-display")
    data = socket_named(ip, "binary").wait_message(TIMEOUT).data
    assert isinstance(data, bytes)
    seq, _value = struct.unpack(RECORD_FORMAT, data)
    assert seq >= 1


def test_demo_chat_connects(ip: InteractiveShell) -> None:
    """%ws demo chat connects to a chat room and hears its own join."""
    run(ip, "%ws demo chat --no-display")
    message = json.loads(socket_named(ip, "chat").wait_message(TIMEOUT).data)
    assert message["type"] == "join"


def test_rerunning_demo_reuses_the_server_and_replaces_the_socket(ip: InteractiveShell) -> None:
    """Running %ws demo echo again keeps the server, closes the old socket, leaves one open."""
    run(ip, "%ws demo echo --no-display")
    first = socket_named(ip, "echo").wait_open(TIMEOUT)
    server = _servers(ip)["echo"]
    run(ip, "%ws demo echo --no-display")
    second = socket_named(ip, "echo")
    assert _servers(ip)["echo"] is server
    assert second.url == first.url
    assert first.wait_closed(TIMEOUT).code == 1000
    second.wait_open(TIMEOUT)
    assert [ws for ws in sockets() if ws.url == first.url] == [second]


def test_changing_the_rate_restarts_the_server(ip: InteractiveShell) -> None:
    """A demo cell run with a different --rate stops the old server and starts a new one."""
    run(ip, "%ws demo ticker --rate 5 --no-display")
    old_server = _servers(ip)["ticker"]
    old = socket_named(ip, "ticker").wait_open(TIMEOUT)
    run(ip, "%ws demo ticker --rate 50 --no-display")
    assert _servers(ip)["ticker"] is not old_server
    assert not old_server.running
    # Closed (1000) as the server was stopping (1001): whichever Close frame won.
    assert old.wait_closed(TIMEOUT).code in (1000, 1001)
    socket_named(ip, "ticker").wait_message(TIMEOUT)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "%ws demo nope",
            "%ws demo: argument SERVER: invalid choice: 'nope' (choose from 'binary', 'chat', "
            "'echo', 'ticker'); see %ws demo --help",
        ),
        (
            "%ws demo echo --rate 5",
            "%ws demo echo: demo server 'echo' got unexpected option(s) rate; it accepts: none",
        ),
        (
            "%ws demo ticker --rate 0",
            "%ws demo: argument --rate: expected messages per second (a number > 0), not '0'; "
            "see %ws demo --help",
        ),
        (
            "%ws demo ticker --rate 1e308",
            "%ws demo ticker: rate must be above 0 and at most 1,000,000 messages per second, "
            "not 1e+308",
        ),
        (
            "%ws demo echo --port 70000",
            "%ws demo: argument --port: expected a TCP port (0-65535), not '70000'; "
            "see %ws demo --help",
        ),
        (
            "%ws demo echo --as 2x",
            "%ws demo: NAME must be a Python variable name such as feed or ws2, not '2x'",
        ),
        ("%ws demo", "%ws demo: the following arguments are required: SERVER; see %ws demo --help"),
    ],
)
def test_demo_errors_are_one_line_usage_errors(
    ip: InteractiveShell, line: str, expected: str
) -> None:
    """A bad demo name or option is a one-line UsageError and starts nothing."""
    assert usage_error(ip, line) == expected
    assert _servers(ip) == {}
