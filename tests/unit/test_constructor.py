"""The constructor: URL parsing and serialization (catalogue §1.A, §1.C), protocols (§1.B)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import ipyws
import ipyws._websocket
from ipyws import DOMException, DOMSyntaxError, WebSocket

Make = Callable[..., Any]


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Record every connection the constructor starts (none is expected)."""
    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ipyws._websocket, "Connection", lambda *args: started.append(args))
    return started


# -- URLs that work ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        pytest.param("ws://example.test:8765/echo", "ws://example.test:8765/echo", id="ws"),
        pytest.param("wss://example.test/x?y=1", "wss://example.test/x?y=1", id="wss"),
        pytest.param("http://example.test/echo", "ws://example.test/echo", id="http-to-ws"),
        pytest.param("https://example.test/echo", "wss://example.test/echo", id="https-to-wss"),
        pytest.param("HTTP://example.test/", "ws://example.test/", id="uppercase-http"),
        pytest.param("WS://EXAMPLE.Test/Echo", "ws://example.test/Echo", id="uppercase"),
        pytest.param("ws://example.test:8765", "ws://example.test:8765/", id="slash-added"),
        pytest.param("ws:example.test:8765/echo", "ws://example.test:8765/echo", id="no-slashes"),
        pytest.param("ws:/example.test:8765/echo", "ws://example.test:8765/echo", id="one-slash"),
        pytest.param("wss:example.test/echo", "wss://example.test/echo", id="wss-no-slashes"),
        pytest.param("ws://example.test:80/echo", "ws://example.test/echo", id="ws-port-80"),
        pytest.param("wss://example.test:443/echo", "wss://example.test/echo", id="wss-port-443"),
        pytest.param("http://example.test:80/", "ws://example.test/", id="http-port-80"),
        pytest.param("https://example.test:443/", "wss://example.test/", id="https-port-443"),
        pytest.param("ws://example.test:443/", "ws://example.test:443/", id="ws-port-443-kept"),
        pytest.param("wss://example.test:80/", "wss://example.test:80/", id="wss-port-80-kept"),
        pytest.param(
            "ws://天気の良い日.example.test/",
            "ws://xn--n8j6ds53lwwkrqhv28a.example.test/",
            id="idna-punycode",
        ),
        pytest.param(
            "ws://example.test/?åäö", "ws://example.test/?%C3%A5%C3%A4%C3%B6", id="query-utf8"
        ),
        pytest.param("ws://example.test/?€", "ws://example.test/?%E2%82%AC", id="query-euro"),
        pytest.param(
            "ws://example.test/echo?foo%20bar baz",
            "ws://example.test/echo?foo%20bar%20baz",
            id="query-space",
        ),
        pytest.param(
            "ws://example.test/echo-query?x\x00y\x00",
            "ws://example.test/echo-query?x%00y",
            id="query-nul",
        ),
        pytest.param("  ws://example.test/\n", "ws://example.test/", id="outer-space-stripped"),
        pytest.param("ws://example.test/?", "ws://example.test/?", id="empty-query-kept"),
        pytest.param("ws://127.0.0.1:9/", "ws://127.0.0.1:9/", id="blocked-port-no-throw"),
    ],
)
def test_url_is_serialized(make_socket: Make, given: str, url: str) -> None:
    """The constructor accepts the URL and ``url`` is its WHATWG serialization (ws/wss scheme)."""
    ws, fake = make_socket(given)
    assert ws.url == url
    assert fake.url.href == url


def test_connection_starts_once_attached(make_socket: Make) -> None:
    """The connection starts only once the socket holds it, so an early onopen can send."""
    ws, fake = make_socket()
    assert fake.started
    assert fake.started_attached
    assert ws._connection is fake


def test_connection_gets_parsed_url(make_socket: Make) -> None:
    """The transport receives the secure flag, host and default port of the parsed URL."""
    _, fake = make_socket("https://Example.Test/chat")
    assert (fake.url.secure, fake.url.host, fake.url.port) == (True, "example.test", 443)
    assert fake.url.origin == "wss://example.test"


# -- URLs that fail ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ws://foo bar.com/", id="space-in-host"),
        pytest.param("wss://foo bar.com/", id="space-in-host-wss"),
        pytest.param("ws://web platform.test:8765/echo", id="space-in-host-port"),
        pytest.param("ftp://example.test/", id="ftp"),
        pytest.param("mailto:example@example.org", id="mailto"),
        pytest.param("about:blank", id="about"),
        pytest.param("file:///tmp/x", id="file"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("http://example.test/#", id="empty-fragment-http"),
        pytest.param("ws://example.test/#", id="empty-fragment"),
        pytest.param("http://example.test/#test", id="fragment-http"),
        pytest.param("wss://example.test/echo?q#test", id="fragment-after-query"),
        pytest.param("#test", id="relative-fragment"),
        pytest.param("test", id="relative-path"),
        pytest.param("?", id="relative-query"),
        pytest.param("/echo", id="absolute-path"),
        pytest.param("", id="empty"),
        pytest.param("ws://", id="no-host"),
        pytest.param("ws://example.test:99999/", id="port-out-of-range"),
    ],
)
def test_invalid_url_raises_syntax_error(no_connection: list[tuple[Any, ...]], url: str) -> None:
    """An unparsable, relative, non-ws(s)/http(s) or fragment URL raises SyntaxError, no connect."""
    with pytest.raises(DOMSyntaxError) as info:
        WebSocket(url)
    assert info.value.name == "SyntaxError"
    assert info.value.code == 12
    assert isinstance(info.value, ValueError)
    assert no_connection == []


def test_fragment_error_names_the_fragment(no_connection: list[tuple[Any, ...]]) -> None:
    """The SyntaxError for a fragment shows the fragment, so the user knows what to remove."""
    with pytest.raises(DOMSyntaxError, match="'#test'"):
        WebSocket("ws://example.test/#test")


def test_scheme_error_names_the_scheme(no_connection: list[tuple[Any, ...]]) -> None:
    """The SyntaxError for a wrong scheme names the scheme and the allowed ones."""
    with pytest.raises(
        DOMSyntaxError, match="'ws', 'wss', 'http' or 'https'; 'ftp' is not allowed"
    ):
        WebSocket("ftp://example.test/")


@pytest.mark.parametrize("url", [None, 123, b"ws://example.test/"])
def test_non_str_url_raises_type_error(no_connection: list[tuple[Any, ...]], url: Any) -> None:
    """A URL that is not a str raises TypeError (Python has no implicit stringification)."""
    with pytest.raises(TypeError, match="url must be a str"):
        WebSocket(url)
    assert no_connection == []


def test_missing_url_raises_type_error(no_connection: list[tuple[Any, ...]]) -> None:
    """Calling the constructor with no URL raises TypeError."""
    with pytest.raises(TypeError):
        WebSocket()  # type: ignore[call-arg]
    assert no_connection == []


def test_url_is_read_only(make_socket: Make) -> None:
    """Assigning ``url`` raises AttributeError and leaves it unchanged; there is no ``URL``."""
    ws, _ = make_socket("ws://example.test/a")
    with pytest.raises(AttributeError):
        ws.url = "ws://other.test/"  # type: ignore[misc]
    assert ws.url == "ws://example.test/a"
    assert not hasattr(ws, "URL")
    assert not hasattr(WebSocket, "URL")


# -- protocols ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocols", "offered"),
    [
        pytest.param(None, [], id="none"),
        pytest.param([], [], id="empty-list"),
        pytest.param("echo", ["echo"], id="str"),
        pytest.param(["echo"], ["echo"], id="list-of-one"),
        pytest.param(["echo", "chat"], ["echo", "chat"], id="list"),
        pytest.param(("chat", "echo"), ["chat", "echo"], id="tuple-keeps-order"),
        # Not a generator: the test runs once per engine, and a generator only once.
        pytest.param(dict.fromkeys(["a", "b"]).keys(), ["a", "b"], id="iterable"),
        pytest.param("null", ["null"], id="null-token"),
        pytest.param(
            ["v1.json.api", "x-Y_z~!#$%&'*+-.^`|"],
            ["v1.json.api", "x-Y_z~!#$%&'*+-.^`|"],
            id="token-chars",
        ),
    ],
)
def test_valid_protocols_are_offered(make_socket: Make, protocols: Any, offered: list[str]) -> None:
    """A str is one protocol, a list (or any iterable) is several, offered in order."""
    ws, fake = make_socket("ws://example.test/", protocols)
    assert fake.protocols == offered
    assert ws.protocol == ""


_INVALID_PROTOCOLS = [
    pytest.param("", id="empty"),
    pytest.param([""], id="empty-in-list"),
    pytest.param("/echo", id="slash"),
    pytest.param("ec ho", id="space"),
    pytest.param("foobar, foobar", id="comma-space"),
    pytest.param("a\tb", id="tab"),
    pytest.param("\u0080echo", id="u0080"),
    pytest.param("écho", id="non-ascii"),
    pytest.param("a\u0000b", id="nul"),
    pytest.param(["echo", "echo"], id="duplicate"),
    pytest.param(["echo", "eCho"], id="duplicate-case-insensitive"),
    pytest.param(["chat", "echo", "CHAT"], id="duplicate-not-adjacent"),
    *(pytest.param(f"a{sep}b", id=f"separator-{ord(sep):02x}") for sep in '()<>@,;:\\"/[]?={}'),
    *(pytest.param(f"a{chr(code)}b", id=f"control-{code:02x}") for code in range(0x01, 0x20)),
    *(pytest.param(f"a{chr(code)}b", id=f"high-{code:02x}") for code in range(0x7F, 0x100)),
]


@pytest.mark.parametrize("protocols", _INVALID_PROTOCOLS)
def test_invalid_protocols_raise_syntax_error(
    no_connection: list[tuple[Any, ...]], protocols: Any
) -> None:
    """An empty, non-token, non-ASCII or repeated subprotocol raises SyntaxError, no connect."""
    with pytest.raises(DOMSyntaxError) as info:
        WebSocket("ws://example.test/", protocols)
    assert info.value.name == "SyntaxError"
    assert no_connection == []


def test_duplicate_protocol_message(no_connection: list[tuple[Any, ...]]) -> None:
    """The duplicate-protocol SyntaxError names the repeated protocol."""
    with pytest.raises(DOMSyntaxError, match="'eCho' is given more than once"):
        WebSocket("ws://example.test/", ["echo", "eCho"])


@pytest.mark.parametrize(
    "protocols",
    [
        pytest.param(["echo", 1], id="int-item"),
        pytest.param([b"echo"], id="bytes-item"),
        pytest.param([None], id="none-item"),
        pytest.param(b"echo", id="bytes"),
        pytest.param(5, id="int"),
    ],
)
def test_non_str_protocols_raise_type_error(
    no_connection: list[tuple[Any, ...]], protocols: Any
) -> None:
    """protocols that are not a str or an iterable of str raise TypeError, no connect."""
    with pytest.raises(TypeError):
        WebSocket("ws://example.test/", protocols)
    assert no_connection == []


def test_url_error_comes_before_protocol_error(no_connection: list[tuple[Any, ...]]) -> None:
    """With both a bad URL and a bad protocol, the URL's SyntaxError is the one raised."""
    with pytest.raises(DOMSyntaxError, match="URL"):
        WebSocket("ftp://example.test/", "")


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"headers": {"X-A": 1}}, id="header-value-not-str"),
        pytest.param({"headers": [("X-A",)]}, id="header-pair-too-short"),
        pytest.param({"log_size": 0}, id="log-size-zero"),
    ],
)
def test_invalid_option_starts_no_connection(
    no_connection: list[tuple[Any, ...]], options: dict[str, Any]
) -> None:
    """An invalid keyword option raises before any connection is started."""
    with pytest.raises((TypeError, ValueError)):
        WebSocket("ws://example.test/", **options)
    assert no_connection == []


def test_invalid_input_leaves_no_socket_registered(no_connection: list[tuple[Any, ...]]) -> None:
    """A constructor that raises leaves nothing in ``ipyws.sockets()``."""
    before = ipyws.sockets()
    for url, protocols in [("ftp://x/", None), ("ws://x/", ""), ("ws://x/#", None)]:
        with pytest.raises(DOMException):
            WebSocket(url, protocols)
    assert ipyws.sockets() == before


def test_options_reach_the_transport(make_socket: Make) -> None:
    """Keyword options are handed to the transport as given (headers as pairs)."""
    _, fake = make_socket(
        "ws://example.test/",
        headers={"X-Token": "t"},
        origin="http://notebook.test",
        compression=False,
        max_size=1024,
        ping_interval=None,
        user_agent="agent/1",
    )
    options = fake.options
    assert list(options.headers) == [("X-Token", "t")]
    assert options.origin == "http://notebook.test"
    assert options.compression is False
    assert options.max_size == 1024
    assert options.ping_interval is None
    assert options.user_agent == "agent/1"


def test_browser_form_takes_two_positional_arguments(no_connection: list[tuple[Any, ...]]) -> None:
    """Options are keyword-only: a third positional argument is a TypeError, not an option."""
    with pytest.raises(TypeError):
        WebSocket("ws://example.test/", None, {"X": "y"})  # type: ignore[misc]
    assert no_connection == []
