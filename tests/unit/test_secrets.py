"""Nothing secret in what is shown: URL credentials masked, control characters escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import InvalidHeaderValue

from ipyws import DOMSyntaxError, WebSocket
from ipyws._text import Redactor, escape_controls
from ipyws._url import redact_url, url_credentials

Make = Callable[..., Any]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://user:secret@example.test/x", "ws://user:***@example.test/x"),
        ("wss://TOKEN@example.test:8443/", "wss://***@example.test:8443/"),
        ("ws://user:p%40ss@example.test/", "ws://user:***@example.test/"),
        ("ws://example.test/", "ws://example.test/"),
        ("http://a:b@proxy.test:3128", "http://a:***@proxy.test:3128/"),
    ],
)
def test_redact_url_masks_the_password(url: str, shown: str) -> None:
    """A password (or a lone user name, often a token) is masked; the rest stays."""
    assert redact_url(url) == shown


def test_url_credentials_include_the_basic_authorization() -> None:
    """The secrets of a URL are its password, decoded too, and the Basic credentials sent."""
    assert url_credentials("ws://user:p%40ss@example.test/") == [
        "p%40ss",
        "p@ss",
        "dXNlcjpwQHNz",  # base64 of user:p@ss
    ]


def test_redactor_masks_each_secret_longest_first() -> None:
    """Every occurrence is masked; a secret holding another is masked whole; short ones never."""
    redact = Redactor(["Bearer abcdef", "abcdef", "ab"])
    assert redact("x Bearer abcdef y abcdef ab") == "x *** y *** ab"
    assert not Redactor(["ab"])


def test_escape_controls_covers_c0_c1_and_bidi() -> None:
    """ESC, BEL, NUL, C1, bidi overrides and line separators are written as escapes."""
    text = "\x1b]0;title\x07\x00\x9b2J\u202eevil\u2066\u2028ok\ttab"
    shown = escape_controls(text)
    assert shown == "\\x1b]0;title\\x07\\x00\\x9b2J\\u202eevil\\u2066\\u2028ok\\ttab"
    assert shown.isprintable()


def test_url_keeps_credentials_and_repr_masks_them(make_socket: Make) -> None:
    """``ws.url`` stays browser-exact; ``repr(ws)`` shows the password masked."""
    ws, _ = make_socket("ws://user:secret@example.test/feed")
    assert ws.url == "ws://user:secret@example.test/feed"
    assert repr(ws) == "<WebSocket ws://user:***@example.test/feed CONNECTING>"


def test_error_records_and_closed_errors_mask_secrets(make_socket: Make) -> None:
    """An error whose text holds a credential is recorded and re-raised with it masked."""
    ws, fake = make_socket(
        "ws://user:pa55word@example.test/",
        headers={"Authorization": "Bearer tok-123456"},
        proxy="http://puser:proxypass@proxy.test:3128",
    )
    failure = OSError("sent Bearer tok-123456 and pa55word via proxypass")
    fake.closed(error=failure)
    message = ws.transcript.lifecycle["error"]["message"]
    assert message == "sent *** and *** via ***"
    with pytest.raises(ConnectionError) as caught:
        ws.wait_open(timeout=1)
    for secret in ("tok-123456", "pa55word", "proxypass"):
        assert secret not in str(caught.value)


def test_engine_header_error_is_recorded_without_the_value(make_socket: Make) -> None:
    """websockets' own "invalid Authorization header: VALUE" is recorded with the value masked."""
    ws, fake = make_socket("ws://example.test/", headers={"Authorization": "Bearer tok-123456"})
    fake.closed(error=InvalidHeaderValue("Authorization", "Bearer tok-123456"))
    assert ws.transcript.lifecycle["error"]["message"] == "invalid Authorization header: ***"


def test_invalid_url_error_masks_the_password() -> None:
    """The SyntaxError for a URL that does not parse shows its password masked."""
    with pytest.raises(DOMSyntaxError) as caught:
        WebSocket("ws://user:hunter22@bad host/")
    assert "hunter22" not in str(caught.value)
    assert "ws://***@bad host/" in str(caught.value)
