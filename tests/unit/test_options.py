"""Constructor options are checked before anything connects: header syntax, types, ranges."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest

import ipyws
import ipyws._websocket
from ipyws import DOMSyntaxError, WebSocket

Make = Callable[..., Any]
SECRET = "s3cr3t-T0KEN"


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Record every connection the constructor starts (none is expected)."""
    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ipyws._websocket, "Connection", lambda *args: started.append(args))
    return started


def _syntax_error(no_connection: list[tuple[Any, ...]], **options: Any) -> DOMSyntaxError:
    """Construct with ``options``; return the SyntaxError raised, after checking nothing started."""
    with pytest.raises(DOMSyntaxError) as caught:
        WebSocket("ws://example.test/", **options)
    assert no_connection == []
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, ipyws.DOMException)
    assert error.name == "SyntaxError"
    return error


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("X-A: 1\r\nEvil", "b")], id="crlf-in-pair-name"),
        pytest.param({"X\r\nEvil": "b"}, id="crlf-in-mapping-name"),
        pytest.param({"Bad Name:": "v"}, id="space-and-colon"),
        pytest.param({"X-A:": "v"}, id="colon"),
        pytest.param({"": "v"}, id="empty"),
        pytest.param({"Ünicode": "v"}, id="non-ascii"),
        pytest.param({"X\0": "v"}, id="nul"),
        pytest.param({"(comment)": "v"}, id="separator"),
    ],
)
def test_malformed_header_name_is_a_syntax_error(
    no_connection: list[tuple[Any, ...]], headers: Any
) -> None:
    """A header name that is not an RFC 7230 token raises SyntaxError naming the rule."""
    error = _syntax_error(no_connection, headers=headers)
    assert "header name" in str(error)
    assert "RFC 7230 token" in str(error)
    assert "\r" not in str(error) and "\n" not in str(error)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        pytest.param(f"Bearer {SECRET}\r\nEvil: 1", "CR", id="crlf"),
        pytest.param(f"Bearer {SECRET}\n", "LF", id="lf"),
        pytest.param(f"Bearer {SECRET}\0", "NUL", id="nul"),
        pytest.param(f"Bearer {SECRET}\x1b[2J", "U+001B", id="escape"),
        pytest.param(f"Bearer {SECRET}\u202e", "U+202E", id="outside-latin-1"),
    ],
)
def test_malformed_header_value_is_a_syntax_error_without_the_value(
    no_connection: list[tuple[Any, ...]], value: str, rule: str
) -> None:
    """A bad header value raises naming the header and the rule, never quoting the value."""
    error = _syntax_error(no_connection, headers={"Authorization": value})
    assert "Authorization" in str(error)
    assert rule in str(error)
    assert "RFC 7230" in str(error)
    assert SECRET not in str(error)


@pytest.mark.parametrize(("option", "header"), [("origin", "Origin"), ("user_agent", "User-Agent")])
@pytest.mark.parametrize("bad", ["a\r\nEvil: 1", "a\nb", "a\0b"])
def test_origin_and_user_agent_follow_the_value_rule(
    no_connection: list[tuple[Any, ...]], option: str, header: str, bad: str
) -> None:
    """``origin`` and ``user_agent`` with CR, LF or NUL raise SyntaxError naming the header."""
    error = _syntax_error(no_connection, **{option: bad})
    assert header in str(error) and f"{option}=" in str(error)


def test_valid_headers_pass_as_given(make_socket: Make) -> None:
    """Tokens with every allowed punctuation, tabs and Latin-1 in values are accepted."""
    headers = [("X-A_b.c!#$%&'*+^`|~9", "v\twith tab and café"), ("Cookie", "a=1; b=2")]
    _, fake = make_socket("ws://example.test/", headers=headers, origin="", user_agent="ua/1")
    assert list(fake.options.headers) == headers


@pytest.mark.parametrize(
    ("options", "error", "said"),
    [
        pytest.param(
            {"max_size": "10"}, TypeError, "max_size must be an int or None", id="size-str"
        ),
        pytest.param({"max_size": -1}, ValueError, "max_size must be at least 1", id="size-neg"),
        pytest.param({"max_size": 0}, ValueError, "max_size must be at least 1", id="size-0"),
        pytest.param({"max_size": True}, TypeError, "max_size", id="size-bool"),
        pytest.param({"ping_interval": 0}, ValueError, "ping_interval must be", id="ping-0"),
        pytest.param({"ping_interval": -5}, ValueError, "ping_interval must be", id="ping-neg"),
        pytest.param({"ping_interval": "20"}, TypeError, "ping_interval", id="ping-str"),
        pytest.param({"ping_timeout": float("nan")}, ValueError, "ping_timeout", id="pt-nan"),
        pytest.param({"ping_timeout": float("inf")}, ValueError, "ping_timeout", id="pt-inf"),
        pytest.param({"close_timeout": -1}, ValueError, "close_timeout", id="close-neg"),
        pytest.param({"open_timeout": 0}, ValueError, "open_timeout", id="open-0"),
        pytest.param({"open_timeout": [1]}, TypeError, "open_timeout", id="open-list"),
        pytest.param({"origin": 5}, TypeError, "origin must be a str or None", id="origin-int"),
        pytest.param({"user_agent": b"x"}, TypeError, "user_agent must be a str", id="ua-bytes"),
        pytest.param({"ssl": "yes"}, TypeError, "ssl must be an ssl.SSLContext", id="ssl-str"),
        pytest.param({"proxy_ssl": True}, TypeError, "proxy_ssl must be", id="proxy-ssl-true"),
        pytest.param({"proxy": 8080}, TypeError, "proxy must be", id="proxy-int"),
        pytest.param({"log_size": 0}, ValueError, "log_size must be at least 1", id="log-0"),
        pytest.param({"log_size": 2.5}, TypeError, "log_size must be an int", id="log-float"),
        pytest.param({"headers": "X-A: 1"}, TypeError, "headers must be", id="headers-str"),
        pytest.param({"compression": "no"}, TypeError, "compression must be True", id="comp"),
        pytest.param({"log_pings": 1}, TypeError, "log_pings must be True or False", id="pings"),
        pytest.param({"headers": [("X-A",)]}, TypeError, "pairs", id="headers-short"),
        pytest.param({"headers": {"X": 1}}, TypeError, "str values", id="header-int"),
    ],
)
def test_option_types_and_ranges_are_checked(
    no_connection: list[tuple[Any, ...]],
    options: dict[str, Any],
    error: type[Exception],
    said: str,
) -> None:
    """A wrong type is a TypeError and a value out of range a ValueError, both naming the option."""
    with pytest.raises(error) as caught:
        WebSocket("ws://example.test/", **options)
    assert said in str(caught.value)
    assert no_connection == []


def test_limits_that_make_sense_are_accepted(make_socket: Make) -> None:
    """None disables a limit, 0 means no closing wait, and TLS contexts pass through."""
    context = ssl.create_default_context()
    _, fake = make_socket(
        "wss://example.test/",
        max_size=None,
        close_timeout=0,
        ping_interval=None,
        ping_timeout=None,
        open_timeout=None,
        ssl=context,
        proxy_ssl=context,
        log_size=1,
    )
    options = fake.options
    assert options.max_size is None and options.close_timeout == 0.0
    assert options.ssl is context and options.proxy_ssl is context


@pytest.mark.parametrize("value", [ssl.create_default_context(), True])
def test_ssl_on_a_ws_url_warns_that_the_connection_is_not_encrypted(
    make_socket: Make, value: Any
) -> None:
    """ssl= with a ws:// URL warns (a user who meant wss:// notices); the socket still opens."""
    with pytest.warns(UserWarning, match=r"ignored for the ws:// URL .*use a wss:// URL"):
        ws, _ = make_socket("ws://example.test/", ssl=value)
    assert ws.url == "ws://example.test/"


def test_ssl_on_a_wss_url_or_no_ssl_does_not_warn(make_socket: Make) -> None:
    """ssl= with wss://, ws:// without ssl= or with ssl=False raise no warning (they are errors)."""
    make_socket("wss://example.test/", ssl=ssl.create_default_context())
    make_socket("ws://example.test/")
    make_socket("ws://example.test/", ssl=False)  # relaxes checks that do not apply: harmless
