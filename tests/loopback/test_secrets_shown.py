"""Credentials given to a socket stay out of its transcript exports and log lines."""

from __future__ import annotations

import io

import pytest

from ipyws import WebSocket
from tests.loopback.recording import WAIT
from tests.servers import TestServer

SECRETS = ("hunter22", "tok-9f8e7d", "sid=c00kie", "dXNlcjpodW50ZXIyMg==")  # last: user:hunter22


def _credentialed(wpt: TestServer) -> WebSocket:
    """Open a socket with a password in its URL, an Authorization header and a cookie."""
    url = wpt.url("/echo").replace("ws://", "ws://user:hunter22@")
    headers = {"Authorization": "Bearer tok-9f8e7d", "Cookie": "sid=c00kie"}
    ws = WebSocket(url, headers=headers)
    ws.wait_open(timeout=WAIT)
    return ws


def test_transcript_exports_hold_no_credentials(wpt: TestServer) -> None:
    """records(), to_jsonl() and to_dataframe() mask URL credentials and secret headers."""
    ws = _credentialed(wpt)
    ws.send("hello")
    ws.wait_message(timeout=WAIT)
    ws.close()
    ws.wait_closed(timeout=WAIT)
    assert "hunter22" in ws.url  # the socket keeps the exact values
    sent = {name.lower(): value for name, value in ws.handshake["request"]["headers"]}
    assert sent["authorization"] == "Bearer tok-9f8e7d"
    lines = io.StringIO()
    ws.transcript.to_jsonl(lines)
    frame = ws.transcript.to_dataframe().to_csv()
    for export in (repr(ws.transcript.records()), lines.getvalue(), frame):
        assert "(redacted)" in export
        for secret in SECRETS:
            assert secret not in export


def test_log_lines_hold_no_credentials(
    wpt: TestServer, caplog: pytest.LogCaptureFixture, engine: str
) -> None:
    """The engine's debug lines (the handshake's headers) and ipyws' own lines mask credentials."""
    # picows logs the handshake request below DEBUG, at its own level 9.
    with caplog.at_level(1):
        ws = _credentialed(wpt)
        ws.close()
        ws.wait_closed(timeout=WAIT)
    # The test server's own lines (websockets.server) are not the client's to mask.
    text = "\n".join(r.getMessage() for r in caplog.records if r.name != "websockets.server")
    if engine == "websockets":
        assert "> Authorization: ***" in text  # the header lines are there, masked
        assert "> Cookie: ***" in text
    else:
        assert "Send upgrade request" in text  # the request is there, masked
        assert "Cookie: " in text
    for secret in SECRETS:
        assert secret not in text
