"""Proxies: system settings never capture loopback, errors name the proxy, proxy TLS."""

from __future__ import annotations

import gc
import logging
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme
from websockets.sync.server import serve

from ipyws import ProxyError, WebSocket
from ipyws._transport import io_thread, is_loopback, resolve_proxy
from ipyws._url import parse_websocket_url
from tests.loopback.proxy import ConnectProxy
from tests.loopback.recording import WAIT, assert_failed, connect
from tests.servers import TestServer

_PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "ws_proxy",
    "wss_proxy",
    "all_proxy",
    "socks_proxy",
    "no_proxy",
)


@pytest.fixture
def system_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    """A proxy set in every proxy environment variable, as on many corporate machines."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with ConnectProxy().running() as proxy:
        for name in ("http_proxy", "HTTPS_PROXY", "ws_proxy"):
            monkeypatch.setenv(name, proxy.url)
        yield proxy


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("10.0.0.1", False),
        ("example.test", False),
        ("localhost.example.test", False),
    ],
)
def test_loopback_hosts_are_recognized(host: str, loopback: bool) -> None:
    """Loopback is localhost, *.localhost, 127.0.0.0/8 and ::1, as Chromium's implicit bypass."""
    assert is_loopback(host) is loopback


def test_system_proxy_never_captures_loopback(wpt: TestServer, system_proxy: ConnectProxy) -> None:
    """With http_proxy/HTTPS_PROXY set, ws://127.0.0.1 and ws://localhost connect directly."""
    for url in (wpt.url("/echo"), wpt.url("/echo").replace("127.0.0.1", "localhost")):
        ws = WebSocket(url)
        ws.wait_open(timeout=WAIT)
        ws.close()
        ws.wait_closed(timeout=WAIT)
    assert system_proxy.requests == []


def test_system_proxy_still_applies_to_other_hosts(system_proxy: ConnectProxy) -> None:
    """Other hosts go through the system proxy, and the error says so."""
    url = parse_websocket_url("ws://example.test/feed")
    assert resolve_proxy(url, True) == system_proxy.url
    ws, rec = connect("ws://example.test/feed")
    error = assert_failed(ws, rec)
    assert system_proxy.requests == ["CONNECT example.test:80 HTTP/1.1"]
    assert isinstance(error.cause, ProxyError)
    assert f"through proxy {system_proxy.url}" in str(error.cause)
    assert f"through proxy {system_proxy.url}" in ws.transcript.lifecycle["error"]["message"]


def test_explicit_proxy_tunnels_even_to_loopback(wpt: TestServer) -> None:
    """A proxy URL given as ``proxy=`` is used for every host, loopback included."""
    with ConnectProxy().running() as proxy:
        ws = WebSocket(wpt.url("/echo"), proxy=proxy.url)
        ws.wait_open(timeout=WAIT)
        ws.send("through")
        assert ws.wait_message(timeout=WAIT).data == "through"
        ws.close()
        ws.wait_closed(timeout=WAIT)
    assert proxy.requests == [f"CONNECT 127.0.0.1:{wpt.port} HTTP/1.1"]


def test_failure_after_open_names_the_proxy(wpt: TestServer) -> None:
    """A connection that fails once open through a proxy (invalid UTF-8) names the proxy too."""
    with ConnectProxy().running() as proxy:
        ws, rec = connect(wpt.url("/invalid-utf8"), proxy=proxy.url)
        ws.wait_closed(timeout=WAIT)
    assert rec.types == ["open", "error", "close"]
    cause = rec.first("error").cause
    assert isinstance(cause, ProxyError)
    assert f"(through proxy {proxy.url})" in str(cause)


def test_refused_proxy_is_named_without_its_password(refused_port: int) -> None:
    """A proxy that refuses the TCP connection is named in the error, its password masked."""
    proxy = f"http://user:hunter22@127.0.0.1:{refused_port}"
    ws, rec = connect("ws://example.test/", proxy=proxy)
    error = assert_failed(ws, rec)
    assert isinstance(error.cause, ProxyError)
    assert isinstance(error.cause.__cause__, OSError)
    said = f"through proxy http://user:***@127.0.0.1:{refused_port}"
    assert said in str(error.cause)
    assert said in ws.transcript.lifecycle["error"]["message"]
    assert "hunter22" not in str(error.cause)


@pytest.fixture(scope="module")
def private_ca() -> trustme.CA:
    """A certificate authority no system trusts."""
    return trustme.CA()


@pytest.fixture
def tls_proxy(private_ca: trustme.CA) -> Iterator[ConnectProxy]:
    """An https:// proxy whose certificate is signed by :func:`private_ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1").configure_cert(context)
    with ConnectProxy(tls=context).running() as proxy:
        yield proxy


def test_untrusted_proxy_certificate_names_the_proxy(
    wpt: TestServer, tls_proxy: ConnectProxy
) -> None:
    """A proxy certificate from an unknown CA fails naming the proxy and the proxy_ssl option."""
    ws, rec = connect(wpt.url("/echo"), proxy=tls_proxy.url)
    error = assert_failed(ws, rec)
    assert isinstance(error.cause, ProxyError)
    assert isinstance(error.cause.__cause__, ssl.SSLCertVerificationError)
    message = str(error.cause)
    assert f"through proxy {tls_proxy.url}, while talking to the proxy itself" in message
    assert "proxy_ssl=" in message


def test_proxy_ssl_trusts_a_private_ca(
    wpt: TestServer, tls_proxy: ConnectProxy, private_ca: trustme.CA
) -> None:
    """``proxy_ssl=`` with the private CA's context opens the connection through the proxy."""
    context = ssl.create_default_context()
    private_ca.configure_trust(context)
    ws = WebSocket(wpt.url("/echo"), proxy=tls_proxy.url, proxy_ssl=context)
    ws.wait_open(timeout=WAIT)
    ws.close()
    ws.wait_closed(timeout=WAIT)
    assert tls_proxy.requests == [f"CONNECT 127.0.0.1:{wpt.port} HTTP/1.1"]


def test_proxy_ssl_false_skips_proxy_verification(wpt: TestServer, tls_proxy: ConnectProxy) -> None:
    """``proxy_ssl=False`` connects to a proxy whose certificate cannot be verified."""
    ws = WebSocket(wpt.url("/echo"), proxy=tls_proxy.url, proxy_ssl=False)
    ws.wait_open(timeout=WAIT)
    ws.close()
    ws.wait_closed(timeout=WAIT)


def _flush_io_thread() -> None:
    """Return once the I/O thread has run the callbacks already scheduled (two loop turns)."""
    for _ in range(2):
        ran = threading.Event()
        io_thread().call(ran.set)
        assert ran.wait(WAIT)


def test_wss_through_a_proxy_to_an_untrusted_server_writes_nothing_to_stderr(
    private_ca: trustme.CA,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A TLS failure inside a proxy tunnel is error + close 1006, with no traceback on stderr."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_ca.issue_cert("127.0.0.1").configure_cert(context)
    with (
        serve(lambda connection: None, "127.0.0.1", 0, ssl=context) as server,
        ConnectProxy().running() as proxy,
    ):
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        ws, rec = connect(f"wss://127.0.0.1:{port}/", proxy=proxy.url)
        error = assert_failed(ws, rec)
        _flush_io_thread()
        gc.collect()
        server.shutdown()
    assert isinstance(error.cause, ProxyError)
    assert isinstance(error.cause.__cause__, ssl.SSLCertVerificationError)
    assert capfd.readouterr().err == ""
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_io_thread_loop_errors_go_to_the_ipyws_logger(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """An exception escaping a callback on the I/O thread is an ipyws log record, not stderr."""

    def broken() -> None:
        raise RuntimeError("a callback that fails")

    io_thread().loop.call_soon_threadsafe(broken)
    _flush_io_thread()
    records = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert [r.name for r in records] == ["ipyws"]
    assert "ipyws I/O thread" in records[0].getMessage()
    assert capfd.readouterr().err == ""
