"""The opening handshake: failures (§6.4-6.8), subprotocols, extensions, options (§6)."""

from __future__ import annotations

import gc
import json
import socket
import time
import urllib.parse
import warnings
from collections.abc import Iterator

import pytest

from ipyws import Event, WebSocket
from tests.loopback.recording import WAIT, assert_failed, closed, connect, target_socket
from tests.servers import HeldServer, TestServer


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A ws:// URL on 127.0.0.1 whose port is bound but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}/"


def _reply(url: str, *args: object, **kwargs: object) -> str:
    """Open ``url`` and return the one text message its server sends."""
    ws = WebSocket(url, *args, **kwargs)  # type: ignore[arg-type]
    data = ws.wait_message(timeout=WAIT).data
    assert isinstance(data, str)
    return data


# -- failures: error then close 1006, never open ---------------------------------------------------


def test_refused_connection_fails(refused_url: str) -> None:
    """A refused TCP connection gives error (cause: the OSError) then close 1006, no open."""
    ws, rec = connect(refused_url)
    error = assert_failed(ws, rec)
    assert isinstance(error.cause, OSError)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/404", id="404"),
        pytest.param("/", id="root-404"),
        pytest.param("/does-not-exist", id="unknown-404"),
        pytest.param("/invalid", id="garbage-response"),
        pytest.param("/wrong_accept_key", id="wrong-accept-key"),
        pytest.param("/basic_auth", id="401-without-credentials"),
    ],
)
def test_bad_handshake_fails(wpt: TestServer, path: str) -> None:
    """A non-101, garbage or wrongly keyed handshake: error, close 1006, no open or message."""
    ws, rec = connect(wpt.url(path))
    assert_failed(ws, rec)
    assert ws.protocol == ""


def test_redirect_is_not_followed(wpt: TestServer) -> None:
    """A 301 answer fails the connection and no request follows the redirect."""
    before = len(wpt.requests)
    ws, rec = connect(wpt.url("/redirect"))
    assert_failed(ws, rec)
    paths = [r.path for r in wpt.requests[before:]]
    assert paths == ["/redirect"]


def test_unrequested_subprotocol_fails(wpt: TestServer) -> None:
    """A server that selects a subprotocol the client did not offer fails the connection."""
    ws, rec = connect(wpt.url("/handshake_protocol"))
    assert_failed(ws, rec)


def test_subprotocol_match_is_case_sensitive(wpt: TestServer) -> None:
    """Offering "FOOBAR" to a server that answers "foobar" fails the connection."""
    ws, rec = connect(wpt.url("/handshake_protocol"), "FOOBAR")
    assert_failed(ws, rec)


def test_missing_subprotocol_fails(wpt: TestServer) -> None:
    """A server that ignores the offered subprotocol (no header) fails the connection."""
    ws, rec = connect(wpt.url("/handshake_no_protocol"), "foobar")
    error = assert_failed(ws, rec)
    assert "foobar" in str(error.cause)


def test_failures_are_serialized_per_host(wpt: TestServer) -> None:
    """Failing attempts to one host each finish, and a later good one still opens."""
    failing = [connect(wpt.url(p)) for p in ("/404", "/invalid", "/wrong_accept_key")]
    good = WebSocket(wpt.url("/echo"))
    for ws, rec in failing:
        assert_failed(ws, rec)
    assert good.wait_open(timeout=WAIT) is good


def test_invalid_utf8_fails(wpt: TestServer) -> None:
    """A text frame with invalid UTF-8 gives error (cause UnicodeDecodeError), close 1006."""
    ws, rec = connect(wpt.url("/invalid-utf8"))
    event = closed(ws)
    assert rec.states == [("open", 1), ("error", 3), ("close", 3)]
    assert (event.code, event.wasClean) == (1006, False)
    assert isinstance(rec.first("error").cause, UnicodeDecodeError)


def test_message_over_max_size_fails_with_1009(wpt: TestServer) -> None:
    """A message over max_size gives error then close 1009, not clean, and no message event."""
    ws, rec = connect(wpt.url("/big?size=2000"), max_size=1000)
    event = closed(ws)
    assert rec.states == [("open", 1), ("error", 3), ("close", 3)]
    assert (event.code, event.wasClean) == (1009, False)
    assert rec.first("error").cause is not None


def test_message_at_max_size_is_received(wpt: TestServer) -> None:
    """A message exactly max_size bytes long arrives."""
    assert len(_reply(wpt.url("/big?size=1000"), max_size=1000)) == 1000


# -- subprotocols and extensions -------------------------------------------------------------------


def test_protocol_is_the_selected_one(wpt: TestServer) -> None:
    """Offering "foobar" to /protocol: protocol is "foobar" and the server saw "foobar"."""
    ws = WebSocket(wpt.url("/protocol"), "foobar")
    assert ws.wait_message(timeout=WAIT).data == "foobar"
    assert ws.protocol == "foobar"


def test_protocol_array_selects_first(wpt: TestServer) -> None:
    """Offering ["foobar", "foobar2"] to /protocol_array selects "foobar"."""
    ws = WebSocket(wpt.url("/protocol_array"), ["foobar", "foobar2"])
    assert ws.wait_message(timeout=WAIT).data == "foobar"
    assert ws.protocol == "foobar"


def test_protocol_is_set_in_onopen(wpt: TestServer) -> None:
    """protocol is already the server's choice when onopen runs (list and str forms)."""
    seen: list[str] = []
    for protocols in ("echo", ["echo", "chat"], ["chat", "echo"]):
        ws = WebSocket(
            wpt.url("/echo"), protocols, onopen=lambda e: seen.append(target_socket(e).protocol)
        )
        ws.wait_open(timeout=WAIT)
        ws.close()
        assert closed(ws).wasClean
    assert seen == ["echo", "echo", "echo"]


def test_no_protocol_offered_gives_empty_protocol(wpt: TestServer) -> None:
    """With no subprotocol offered, protocol stays ""."""
    ws = WebSocket(wpt.url("/echo"))
    ws.wait_open(timeout=WAIT)
    assert ws.protocol == ""


def test_permessage_deflate_is_offered_and_reported(wpt: TestServer) -> None:
    """By default permessage-deflate is offered and the server's answer is in extensions."""
    seen: list[str] = []
    ws = WebSocket(wpt.url("/echo"), onopen=lambda e: seen.append(target_socket(e).extensions))
    ws.wait_open(timeout=WAIT)
    assert seen[0].startswith("permessage-deflate")
    assert ws.extensions == seen[0]
    request = ws.handshake["request"]["headers"]
    assert any(k == "Sec-WebSocket-Extensions" and "permessage-deflate" in v for k, v in request)


def test_compression_false_offers_no_extension(wpt: TestServer) -> None:
    """compression=False offers no extension, so extensions is ""."""
    before = len(wpt.requests)
    ws = WebSocket(wpt.url("/echo"), compression=False)
    ws.wait_open(timeout=WAIT)
    assert ws.extensions == ""
    assert "Sec-WebSocket-Extensions" not in wpt.requests[before].headers


def test_no_extensions_from_server(wpt: TestServer) -> None:
    """A server that accepts no extension gives extensions "" in onopen."""
    seen: list[str] = []
    ws = WebSocket(
        wpt.url("/handshake_no_extensions"),
        onopen=lambda e: seen.append(target_socket(e).extensions),
    )
    closed(ws)
    assert seen == [""]


# -- what the request carries ----------------------------------------------------------------------


def test_no_origin_by_default(wpt: TestServer) -> None:
    """Without the origin option no Origin header is sent."""
    assert _reply(wpt.url("/origin")) == ""


def test_origin_option(wpt: TestServer) -> None:
    """The origin option is sent as the Origin header."""
    assert _reply(wpt.url("/origin"), origin="http://notebook.test") == "http://notebook.test"


def test_headers_option(wpt: TestServer) -> None:
    """Extra headers (a mapping or pairs) are sent with the handshake."""
    headers = json.loads(_reply(wpt.url("/headers"), headers={"X-Token": "secret"}))
    assert headers["X-Token"] == "secret"
    pairs = json.loads(_reply(wpt.url("/headers"), headers=[("X-A", "1"), ("X-B", "2")]))
    assert (pairs["X-A"], pairs["X-B"]) == ("1", "2")


def test_user_agent(wpt: TestServer) -> None:
    """A default User-Agent names ipyws; user_agent sets it; None omits it; no Referer."""
    default = json.loads(_reply(wpt.url("/headers")))
    assert "ipyws/" in default["User-Agent"]
    assert "Referer" not in default
    assert json.loads(_reply(wpt.url("/headers"), user_agent="agent/1"))["User-Agent"] == "agent/1"
    assert "User-Agent" not in json.loads(_reply(wpt.url("/headers"), user_agent=None))


def test_query_is_sent_percent_encoded(wpt: TestServer) -> None:
    """The query arrives UTF-8 percent-encoded; an inner NUL as %00, a trailing one dropped."""
    assert _reply(wpt.url("/echo-query?åäö")) == "%C3%A5%C3%A4%C3%B6"
    assert _reply(wpt.url("/echo-query?x\x00y\x00")) == "x%00y"
    assert _reply(wpt.url("/echo-query?foo%20bar baz")) == "foo%20bar%20baz"


def test_uppercase_scheme_and_host_connect(wpt: TestServer) -> None:
    """An uppercase scheme is lowercased and the socket opens."""
    url = wpt.url("/echo").replace("ws://", "WS://")
    ws = WebSocket(url)
    assert ws.url == wpt.url("/echo")
    assert ws.wait_open(timeout=WAIT) is ws


def test_http_url_connects(wpt: TestServer) -> None:
    """An http:// URL is shown as ws:// and opens."""
    ws = WebSocket(wpt.http_url("/echo"))
    assert ws.url == wpt.url("/echo")
    ws.wait_open(timeout=WAIT)


def test_basic_auth_from_userinfo(wpt: TestServer) -> None:
    """Credentials in the URL answer a Basic challenge and the socket opens."""
    url = wpt.url("/basic_auth").replace("ws://", "ws://foo:bar@")
    ws, rec = connect(url)
    event = closed(ws)
    assert rec.types == ["open", "close"]
    assert event.wasClean


def test_message_origin_is_url_origin(wpt: TestServer) -> None:
    """MessageEvent.origin is the serialized origin of the socket's URL."""
    origin = urllib.parse.urlsplit(wpt.url("/origin"))
    ws = WebSocket(wpt.url("/origin"))
    assert ws.wait_message(timeout=WAIT).origin == f"ws://{origin.netloc}"


def test_handshake_record(wpt: TestServer) -> None:
    """handshake holds the request path and headers and the 101 response once open."""
    ws = WebSocket(wpt.url("/echo?x=1"))
    ws.wait_open(timeout=WAIT)
    assert ws.handshake["request"]["path"] == "/echo?x=1"
    assert ws.handshake["response"]["status"] == 101
    assert any(k == "Sec-WebSocket-Accept" for k, _ in ws.handshake["response"]["headers"])


# -- one CONNECTING connection per host ------------------------------------------------------------


def test_one_connecting_connection_per_host(wpt: TestServer) -> None:
    """Two sockets to a 1 s handshake open about 1 s apart: the second waits for the first."""
    opened: list[float] = []

    def on_open(event: Event) -> None:
        opened.append(event.timeStamp)

    first = WebSocket(wpt.url("/handshake_sleep_2?delay=1"), onopen=on_open)
    second = WebSocket(wpt.url("/handshake_sleep_2?delay=1"), onopen=on_open)
    first.wait_open(timeout=WAIT)
    second.wait_open(timeout=WAIT)
    assert len(opened) == 2
    assert opened[1] - opened[0] >= 900  # ms


def test_other_hosts_connect_meanwhile(wpt: TestServer, held_server: HeldServer) -> None:
    """A slow handshake to one host does not hold up a socket to another host."""
    slow = WebSocket(held_server.url)  # 127.0.0.1, held until released
    held_server.wait_held()
    other = WebSocket(wpt.url("/echo").replace("127.0.0.1", "localhost"))
    other.wait_open(timeout=WAIT)
    assert slow.readyState == WebSocket.CONNECTING
    held_server.release()


def test_closed_while_waiting_for_its_host_leaves_nothing_unawaited(
    held_server: HeldServer,
) -> None:
    """A socket closed while another holds its host's CONNECTING slot fails without a leak."""
    first = WebSocket(held_server.url)
    held_server.wait_held()
    second = WebSocket(held_server.url)
    time.sleep(0.3)  # time for the second to start waiting for the host (nothing signals it)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second.close()
        assert closed(second).code == 1006
        held_server.release()
        first.close()
        closed(first)
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers a handshake."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        yield listener


def _hung_up(connection: socket.socket) -> bool:
    """Read the handshake request, then whether the client hung up within WAIT seconds."""
    connection.settimeout(WAIT)
    with connection:
        try:
            while connection.recv(4096):
                pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            pass
        return True


@pytest.mark.parametrize("how", ["close", "open_timeout"])
def test_a_handshake_given_up_drops_the_tcp_connection(
    silent_server: socket.socket, how: str
) -> None:
    """close() during CONNECTING, or the open timeout, hangs up the TCP connection at once."""
    port = silent_server.getsockname()[1]
    ws = WebSocket(f"ws://127.0.0.1:{port}/", open_timeout=0.5 if how == "open_timeout" else None)
    connection, _ = silent_server.accept()
    if how == "close":
        ws.close()
    assert _hung_up(connection)
    assert closed(ws).code == 1006
