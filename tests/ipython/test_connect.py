"""``%ws connect``: binding, display, re-running, every option and every error."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from IPython.core.interactiveshell import InteractiveShell
from websockets.sync.server import ServerConnection, serve

from ipyws import ReadyState, WebSocket, sockets
from tests.ipython.shell import TIMEOUT, run, socket_named, usage_error
from tests.loopback.proxy import ConnectProxy


@pytest.fixture(scope="module")
def superchat_url() -> Iterator[str]:
    """An echo server on 127.0.0.1 that selects the subprotocol 'superchat'."""

    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with serve(echo, "127.0.0.1", 0, subprotocols=["superchat"]) as server:  # type: ignore[list-item]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        server.shutdown()
        thread.join(TIMEOUT)


def _request_headers(ws: WebSocket) -> dict[str, str]:
    return {k.lower(): v for k, v in ws.handshake["request"]["headers"]}


def test_connect_binds_name_returns_at_once_and_shows_the_socket(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws connect URL --as NAME binds a CONNECTING WebSocket, displays it, then it opens."""
    result = run(ip, f"%ws connect {echo_url} --as feed")
    feed = socket_named(ip, "feed")
    assert result.result is None  # nothing for Out[]: the socket was displayed instead
    assert feed.url == echo_url
    assert echo_url in capsys.readouterr().out
    assert feed.wait_open(TIMEOUT).readyState == ReadyState.OPEN


def test_connect_without_as_binds_the_default_name(ip: InteractiveShell, echo_url: str) -> None:
    """Without --as the socket is bound to `ws`."""
    run(ip, f"%ws connect {echo_url} --no-display")
    assert socket_named(ip, "ws").url == echo_url


def test_default_name_is_configurable(ip: InteractiveShell, echo_url: str) -> None:
    """%config WSMagics.default_name changes the variable %ws connect binds."""
    run(ip, "%config WSMagics.default_name = 'sock'")
    run(ip, f"%ws connect {echo_url} --no-display")
    assert socket_named(ip, "sock").url == echo_url
    assert "ws" not in ip.user_ns


def test_no_display_shows_nothing(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-display connects without any output."""
    run(ip, f"%ws connect {echo_url} --as quiet --no-display")
    assert capsys.readouterr().out == ""
    assert socket_named(ip, "quiet").url == echo_url


def test_display_on_connect_is_configurable(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%config WSMagics.display_on_connect = False turns the display off for every connect."""
    run(ip, "%config WSMagics.display_on_connect = False")
    run(ip, f"%ws connect {echo_url} --as quiet")
    assert capsys.readouterr().out == ""


def test_connecting_again_under_a_name_closes_the_old_socket(
    ip: InteractiveShell, echo_url: str
) -> None:
    """Re-running %ws connect closes the socket the name held (1000) and binds a new one."""
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    first = socket_named(ip, "feed").wait_open(TIMEOUT)
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    second = socket_named(ip, "feed")
    assert second is not first
    closed = first.wait_closed(TIMEOUT)
    assert (closed.code, closed.reason) == (1000, "replaced by a new %ws connect --as feed")
    second.wait_open(TIMEOUT)
    assert [ws for ws in sockets() if ws.url == echo_url] == [second]


def test_rerunning_connect_three_times_leaves_one_connection(
    ip: InteractiveShell, echo_url: str
) -> None:
    """Three runs of the same cell, even before the sockets open, leave one socket not CLOSED."""
    made = []
    for _ in range(3):
        run(ip, f"%ws connect {echo_url} --as feed --no-display")
        made.append(socket_named(ip, "feed"))
    for ws in made[:-1]:
        ws.wait_closed(TIMEOUT)
    made[-1].wait_open(TIMEOUT)
    assert [ws for ws in sockets() if ws.url == echo_url] == [made[-1]]


def test_connecting_again_closes_a_socket_made_in_python_under_that_name(
    ip: InteractiveShell, echo_url: str
) -> None:
    """A WebSocket bound to NAME by Python code is closed too when %ws connect rebinds NAME."""
    run(ip, f"from ipyws import WebSocket\nfeed = WebSocket({echo_url!r})\nfeed.wait_open(10)")
    mine = socket_named(ip, "feed")
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    assert mine.wait_closed(TIMEOUT).code == 1000
    assert socket_named(ip, "feed") is not mine


def test_connect_rebinds_a_name_that_held_something_else(
    ip: InteractiveShell, echo_url: str
) -> None:
    """A NAME bound to a non-socket value is simply rebound, as assignment would."""
    run(ip, "feed = 42")
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    assert isinstance(ip.user_ns["feed"], WebSocket)


def test_url_and_options_interpolate_expressions(ip: InteractiveShell, echo_url: str) -> None:
    """{expression} in the line is replaced from the user namespace (the URL, a header value)."""
    ip.user_ns.update(target=echo_url, token="s3cret")
    run(ip, "%ws connect {target} --as feed --no-display --header 'X-Token: {token}'")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    assert feed.url == echo_url
    assert _request_headers(feed)["x-token"] == "s3cret"


def test_protocol_header_origin_and_user_agent_reach_the_handshake(
    ip: InteractiveShell, superchat_url: str
) -> None:
    """--protocol (repeated), --header (repeated), --origin and --user-agent are sent."""
    run(
        ip,
        f"%ws connect {superchat_url} --as feed --no-display --protocol chat --protocol superchat "
        "--header 'X-One: 1' --header 'X-Two: two words' --origin http://notebook.test "
        "--user-agent 'ipyws-test/1'",
    )
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    headers = _request_headers(feed)
    assert feed.protocol == "superchat"
    assert headers["sec-websocket-protocol"] == "chat, superchat"
    assert (headers["x-one"], headers["x-two"]) == ("1", "two words")
    assert headers["origin"] == "http://notebook.test"
    assert headers["user-agent"] == "ipyws-test/1"


def test_user_agent_none_omits_the_header(ip: InteractiveShell, echo_url: str) -> None:
    """--user-agent none sends no User-Agent header."""
    run(ip, f"%ws connect {echo_url} --as feed --no-display --user-agent none")
    assert "user-agent" not in _request_headers(socket_named(ip, "feed").wait_open(TIMEOUT))


def test_binary_type_arraybuffer_sets_binary_type(ip: InteractiveShell, echo_url: str) -> None:
    """--binary-type arraybuffer makes binary messages arrive as bytes."""
    run(ip, f"%ws connect {echo_url} --as feed --no-display --binary-type arraybuffer")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    assert feed.binaryType == "arraybuffer"
    feed.send(b"\x00\x01")
    assert feed.wait_message(TIMEOUT).data == b"\x00\x01"


def test_max_size_fails_the_connection_on_a_bigger_message(
    ip: InteractiveShell, echo_url: str
) -> None:
    """--max-size 8 closes with 1009 when a longer message arrives."""
    run(ip, f"%ws connect {echo_url} --as feed --no-display --max-size 8")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    feed.send("more than eight bytes")
    assert feed.wait_closed(TIMEOUT).code == 1009


def test_no_compression_negotiates_no_extension(ip: InteractiveShell, echo_url: str) -> None:
    """--no-compression does not offer permessage-deflate (the default does)."""
    run(ip, f"%ws connect {echo_url} --as plain --no-display --no-compression")
    run(ip, f"%ws connect {echo_url} --as deflate --no-display")
    assert socket_named(ip, "plain").wait_open(TIMEOUT).extensions == ""
    assert "permessage-deflate" in socket_named(ip, "deflate").wait_open(TIMEOUT).extensions


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("--max-size none", {"max_size": None}),
        ("--max-size 1024", {"max_size": 1024}),
        ("--ping-interval none --ping-timeout 5", {"ping_interval": None, "ping_timeout": 5.0}),
        ("--open-timeout 2.5 --close-timeout 1", {"open_timeout": 2.5, "close_timeout": 1.0}),
        ("--insecure", {"ssl": False}),
        ("--ssl insecure --proxy-ssl insecure", {"ssl": False, "proxy_ssl": False}),
        ("--log-pings --no-compression", {"log_pings": True, "compression": False}),
        ("--origin none --user-agent none", {"origin": None, "user_agent": None}),
        ("--engine websockets", {"engine": "websockets"}),
        ("--proxy http://127.0.0.1:3128", {"proxy": "http://127.0.0.1:3128"}),
        ("--no-proxy", {"proxy": None}),
        ("--engine picows", {"engine": "picows"}),
        ("", {"engine": None}),
        ("--max-backlog 50 --drop-oldest", {"max_backlog": 50, "drop_oldest": True}),
        (
            "--max-backlog none --max-backlog-bytes 4096",
            {"max_backlog": None, "max_backlog_bytes": 4096},
        ),
        ("", {"max_size": 64 * 1024 * 1024, "ping_interval": 20.0, "proxy": True, "ssl": None}),
        ("", {"max_backlog": 10_000, "max_backlog_bytes": 16 * 1024 * 1024, "drop_oldest": False}),
    ],
)
def test_connection_options_reach_the_socket(
    ip: InteractiveShell, silent_url: str, flags: str, expected: dict[str, object]
) -> None:
    """Each connection option is passed to WebSocket; options not given keep its defaults."""
    run(ip, f"%ws connect {silent_url} --as feed --no-display {flags}")
    options = socket_named(ip, "feed").stats.options
    assert {key: options[key] for key in expected} == expected


@pytest.fixture(scope="module")
def private_ca() -> trustme.CA:
    """A certificate authority no system trusts."""
    return trustme.CA()


def test_proxy_ssl_cafile_trusts_a_private_ca(
    ip: InteractiveShell, echo_url: str, private_ca: trustme.CA, tmp_path: Path
) -> None:
    """--proxy-ssl CAFILE opens through an https:// proxy whose certificate that CA signed."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1").configure_cert(server_side)
    cafile = tmp_path / "ca.pem"
    private_ca.cert_pem.write_to_path(str(cafile))
    with ConnectProxy(tls=server_side).running() as proxy:
        flags = f"--proxy {proxy.url} --proxy-ssl {cafile}"
        run(ip, f"%ws connect {echo_url} --as feed --no-display {flags}")
        ws = socket_named(ip, "feed")
        assert ws.wait_open(TIMEOUT).readyState == ReadyState.OPEN
        assert isinstance(ws.stats.options["proxy_ssl"], ssl.SSLContext)
        ws.close()
        ws.wait_closed(TIMEOUT)
    assert proxy.requests == [f"CONNECT {echo_url.split('/')[2]} HTTP/1.1"]


def test_engine_flag_picks_the_engine_carrying_the_socket(
    ip: InteractiveShell, echo_url: str
) -> None:
    """--engine NAME makes that engine carry the socket (ws.stats.engine shows it)."""
    run(ip, f"%ws connect {echo_url} --as fast --no-display --engine picows")
    run(ip, f"%ws connect {echo_url} --as plain --no-display --engine websockets")
    assert socket_named(ip, "fast").wait_open(TIMEOUT).stats.engine == "picows"
    assert socket_named(ip, "plain").wait_open(TIMEOUT).stats.engine == "websockets"


def test_ssl_cafile_trusts_a_private_ca(
    ip: InteractiveShell, private_ca: trustme.CA, tmp_path: Path
) -> None:
    """--ssl CAFILE opens a wss:// server whose certificate that CA signed (without it: 1006)."""
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1").configure_cert(server_side)
    cafile = tmp_path / "ca.pem"
    private_ca.cert_pem.write_to_path(str(cafile))

    def echo(connection: ServerConnection) -> None:
        for message in connection:
            connection.send(message)

    with serve(echo, "127.0.0.1", 0, ssl=server_side) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"wss://127.0.0.1:{server.socket.getsockname()[1]}/"
        run(ip, f"%ws connect {url} --as untrusted --no-display")
        assert socket_named(ip, "untrusted").wait_closed(TIMEOUT).code == 1006
        run(ip, f"%ws connect {url} --as trusted --no-display --ssl {cafile}")
        ws = socket_named(ip, "trusted")
        assert ws.wait_open(TIMEOUT).readyState == ReadyState.OPEN
        ws.close()
        ws.wait_closed(TIMEOUT)
        server.shutdown()
        thread.join(TIMEOUT)


def test_log_size_option_and_config_bound_the_transcript(
    ip: InteractiveShell, silent_url: str
) -> None:
    """--log-size N, else WSMagics.log_size, sets how many records the transcript keeps."""
    run(ip, f"%ws connect {silent_url} --as small --no-display --log-size 3")
    run(ip, "%config WSMagics.log_size = 7")
    run(ip, f"%ws connect {silent_url} --as seven --no-display")
    assert socket_named(ip, "small").transcript.maxlen == 3
    assert socket_named(ip, "seven").transcript.maxlen == 7


def test_connect_help_prints_usage_and_examples(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws connect --help prints the subcommand's usage, options and examples."""
    run(ip, "%ws connect --help")
    out = capsys.readouterr().out
    assert out.startswith("usage: %ws connect")
    for option in ("--as NAME", "--protocol P", "--header", "--insecure", "--no-display"):
        assert option in out
    assert "examples:" in out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "%ws connect not-a-url --as feed",
            "%ws connect: SyntaxError: The URL 'not-a-url' is invalid: give an absolute URL "
            "such as 'ws://127.0.0.1:8765/'.",
        ),
        (
            "%ws connect ftp://127.0.0.1/ --as feed",
            "%ws connect: SyntaxError: The URL's scheme must be 'ws', 'wss', 'http' or "
            "'https'; 'ftp' is not allowed.",
        ),
        (
            "%ws connect ws://127.0.0.1:1/#top",
            "%ws connect: SyntaxError: The URL contains a fragment",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --protocol 'a b'",
            "%ws connect: SyntaxError: The subprotocol 'a b'",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --protocol chat --protocol chat",
            "%ws connect: SyntaxError: The subprotocol 'chat' is given more than once.",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --header NoColon",
            "%ws connect: --header needs 'Name: value', and it has no colon",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --as 1feed",
            "%ws connect: NAME must be a Python variable name such as feed or ws2, not '1feed'",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --as class",
            "%ws connect: NAME must be a Python variable name",
        ),
        (
            "%ws connect",
            "%ws connect: the following arguments are required: URL; see %ws connect --help",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --bogus",
            "%ws connect: unrecognized arguments: --bogus; see %ws connect --help",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --max-size lots",
            "%ws connect: argument --max-size: expected a number of bytes or 'none', not 'lots'",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --ping-interval -1",
            "%ws connect: argument --ping-interval: expected seconds",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --ping-interval 0",
            "%ws connect: ping_interval must be a finite number of seconds above 0",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --proxy-ssl /no/such/ca.pem",
            "%ws connect: argument --proxy-ssl: expected 'insecure' or a PEM file of CA "
            "certificates, and '/no/such/ca.pem' is not one (No such file or directory)",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --engine fastest",
            "%ws connect: argument --engine: invalid choice: 'fastest'",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --ssl insecure --insecure",
            "%ws connect: argument --insecure: not allowed with argument --ssl",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --binary-type text",
            "%ws connect: argument --binary-type: invalid choice: 'text'",
        ),
        (
            "%ws connect ws://127.0.0.1:1/ --proxy http://p --no-proxy",
            "%ws connect: argument --no-proxy: not allowed with argument --proxy",
        ),
        (
            "%ws connect 'ws://127.0.0.1:1/",
            "%ws connect: No closing quotation (check the quotes)",
        ),
    ],
)
def test_connect_errors_are_one_line_usage_errors(
    ip: InteractiveShell, line: str, expected: str
) -> None:
    """Each bad %ws connect gives a one-line UsageError that says what to fix."""
    assert usage_error(ip, line).startswith(expected)
    assert not [ws for ws in sockets() if ws.url.startswith("ws://127.0.0.1:1/")]


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("'Bearer tok-9f8e7d'", "it has no colon"),
        ("': Bearer tok-9f8e7d'", "its name is empty"),
        ("'Authorization Bearer: tok-9f8e7d'", "its name holds a space"),
    ],
)
def test_a_header_without_a_name_is_refused_without_echoing_it(
    ip: InteractiveShell, header: str, problem: str
) -> None:
    """--header text that is not 'Name: value' is refused without quoting it (it may be a token)."""
    message = usage_error(ip, f"%ws connect ws://127.0.0.1:1/ --as feed --header {header}")
    assert f"--header needs 'Name: value', and {problem}" in message
    assert "tok-9f8e7d" not in message


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("'Bad@Name: v'", "The header name 'Bad@Name' is invalid: a header name is an RFC 7230"),
        ('"X-Token: {value}"', "The value of the X-Token header contains a CR character"),
    ],
)
def test_malformed_header_is_a_one_line_usage_error(
    ip: InteractiveShell, header: str, said: str
) -> None:
    """--header with a name that is no token, or a value with CR/LF, is refused in one line."""
    ip.user_ns["value"] = "secret-value\r\nEvil: 1"
    message = usage_error(ip, f"%ws connect ws://127.0.0.1:1/ --as feed --header {header}")
    assert message.startswith(f"%ws connect: SyntaxError: {said}")
    assert "secret-value" not in message
    assert not [ws for ws in sockets() if ws.url.startswith("ws://127.0.0.1:1/")]


def test_a_bad_url_keeps_the_working_connection(ip: InteractiveShell, echo_url: str) -> None:
    """Re-running a connect cell with a broken URL leaves the socket NAME held open."""
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    feed = socket_named(ip, "feed").wait_open(TIMEOUT)
    usage_error(ip, "%ws connect ws://bad host/ --as feed")
    assert socket_named(ip, "feed") is feed
    assert feed.readyState == ReadyState.OPEN


def test_connect_takes_no_cell_body(ip: InteractiveShell, echo_url: str) -> None:
    """%%ws connect is refused: connect is a line magic."""
    message = usage_error(ip, f"%%ws connect {echo_url}\nbody")
    assert message == (
        "%%ws connect takes no cell body: use %ws connect (one %); "
        "only %%ws send and %%ws on are cell magics"
    )
