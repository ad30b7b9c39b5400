"""The README's first command: ``python -m ipyws`` runs the quickstart against the echo demo."""

from __future__ import annotations

import functools
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

import ipyws.__main__
from ipyws import WebSocket


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_python_m_ipyws_runs_the_quickstart_offline() -> None:
    """python -m ipyws opens, echoes text and binary, closes cleanly and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "ipyws"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "message  'Hello, WebSocket!'" in out
    assert "message  <Blob size=9>" in out
    assert "close    code=1000 reason='done' wasClean=True" in out
    # The transcript keeps binary data as base64 (as HAR does), and says so.
    assert "send        9 base64 'AAECYmluYXJ5'" in out


def test_python_m_ipyws_help_explains_and_runs_nothing() -> None:
    """python -m ipyws --help prints what the quickstart does and exits 0 without running it."""
    result = subprocess.run(
        [sys.executable, "-m", "ipyws", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ipyws")
    assert "echo demo server" in result.stdout and "demo echo server listening" not in result.stdout


def test_quickstart_ignores_a_system_proxy(refused_port: int) -> None:
    """With http_proxy and HTTPS_PROXY set to a dead proxy, the loopback quickstart still works."""
    proxy = f"http://127.0.0.1:{refused_port}"
    env = {**os.environ, "http_proxy": proxy, "HTTPS_PROXY": proxy, "ws_proxy": proxy}
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    result = subprocess.run(
        [sys.executable, "-m", "ipyws"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "close    code=1000 reason='done' wasClean=True" in result.stdout


def test_quickstart_reports_a_failed_connection(
    refused_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the connection fails the quickstart prints the error and its transcript, exit 1."""
    proxy = f"http://127.0.0.1:{refused_port}"
    monkeypatch.setattr(ipyws.__main__, "WebSocket", functools.partial(WebSocket, proxy=proxy))
    assert ipyws.__main__.main() == 1
    out = capsys.readouterr().out
    assert "error    " in out and f"through proxy {proxy}," in out
    assert "close    code=1006 reason='' wasClean=False" in out
    assert re.search(rf"  error\s+.*through proxy {re.escape(proxy)}", out), out
    assert re.search(r"  close\s+code=1006", out), out
