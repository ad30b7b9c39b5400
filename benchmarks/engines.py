"""What each candidate engine does where ipyws must behave like a browser, checked on loopback.

``python -m benchmarks.engines`` runs every check against every engine and prints one Markdown
table (docs/performance.md shows it). A scripted server on 127.0.0.1 answers the opening
handshake and sends frames exactly as each check needs, including what a correct server never
does (a wrong ``Sec-WebSocket-Accept``, a subprotocol nobody asked for, invalid UTF-8); it
records what the client sent back, so the close code a client fails the connection with is
read off the wire, whatever its API reports. Each engine is used through its public API with
its defaults, except for the option a check is about.

Engines: ``websockets`` (its asyncio client), ``aiohttp`` (``ClientSession().ws_connect``),
``picows`` (the bare ``WSListener`` API: subprotocols go in ``extra_headers``, messages are
joined from frames and text decoded by the listener, as :mod:`benchmarks.clients` does) and
``picows-compat`` (``picows.websockets.connect``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHECKS", "ENGINES", "Outcome", "main", "run_checks"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_SIZE = 1000
TIMEOUT = 10.0
#: How long the server waits for a client that has nothing to say before it closes, in seconds.
QUIET = 1.0


@dataclass
class Outcome:
    """What one engine did in one check: the client's view and the server's."""

    opened: bool = False
    subprotocol: str | None = None
    messages: list[Any] = field(default_factory=list)
    error: str | None = None
    close_code: int | None = None  # as the client's API reports it
    close_reason: str | None = None
    requests: list[dict[str, str]] = field(default_factory=list)  # handshakes the server got
    client_close: int | None = None  # the code of the Close frame the client sent
    pongs: list[bytes] = field(default_factory=list)


# -- the scripted server ------------------------------------------------------------------------


def _frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def _close(code: int, reason: str = "") -> bytes:
    return _frame(0x8, struct.pack("!H", code) + reason.encode())


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(size)
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@dataclass
class Script:
    """How the server answers a handshake and what it sends after it."""

    status: str = "101 Switching Protocols"
    headers: dict[str, str] = field(default_factory=dict)
    accept: str | None = None  # None: the correct key
    frames: list[bytes] = field(default_factory=list)
    redirect: str = ""  # "ws" or "http": answer the first request with 302 to that scheme


class ScriptedServer:
    """A WebSocket server on 127.0.0.1 that follows a :class:`Script` and records the client."""

    def __init__(self, script: Script, outcome: Outcome) -> None:
        self.script = script
        self.outcome = outcome
        self.done = asyncio.Event()  # set when a connection's handler has finished

    async def start(self) -> str:
        """Start listening; return the ``ws://`` URL."""
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/check"

    async def stop(self) -> None:
        """Stop listening."""
        self.server.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one connection as the script says."""
        try:
            await self._serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away (or the check is over): what it did is recorded
        finally:
            writer.close()
            self.done.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        request = {"": head[0]}
        for line in head[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                request[name.strip().lower()] = value.strip()
        self.outcome.requests.append(request)
        script = self.script
        if script.redirect and len(self.outcome.requests) == 1:
            port = writer.get_extra_info("sockname")[1]
            location = f"{script.redirect}://127.0.0.1:{port}/after-redirect"
            writer.write(
                f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()
            return
        key = request.get("sec-websocket-key", "").encode()
        accept = script.accept or base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        lines = [
            f"HTTP/1.1 {script.status}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept}",
            *(f"{name}: {value}" for name, value in script.headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        for frame in script.frames:
            writer.write(frame)
        await writer.drain()
        while True:
            try:
                opcode, data = await asyncio.wait_for(_read_frame(reader), QUIET)
            except asyncio.TimeoutError:  # the client let it pass: end the connection
                writer.write(_close(1000))
                continue
            if opcode == 0x8:
                self.outcome.client_close = struct.unpack("!H", data[:2])[0] if data else 1005
                if not any(f[0] & 0x0F == 0x8 for f in script.frames):
                    writer.write(_frame(0x8, data[:2]))
                    await writer.drain()
                return
            if opcode == 0xA:
                self.outcome.pongs.append(data)


# -- the engines --------------------------------------------------------------------------------

Engine = Callable[[str, Outcome, "list[str] | None", "int | None"], Awaitable[None]]


async def _websockets_like(
    connect: Any, url: str, out: Outcome, subprotocols: list[str] | None, max_size: int | None
) -> None:
    """Run a websockets-style client: ``async with connect(...)``, ``async for``."""
    ws = None
    try:
        async with connect(url, subprotocols=subprotocols, max_size=max_size) as ws:
            out.opened = True
            out.subprotocol = ws.subprotocol
            async for message in ws:
                out.messages.append(message)
    except Exception as exc:
        out.error = type(exc).__name__
    if ws is not None:
        out.close_code, out.close_reason = ws.close_code, ws.close_reason


async def _websockets(
    url: str, out: Outcome, subprotocols: list[str] | None, max_size: int | None
) -> None:
    from websockets.asyncio.client import connect

    await _websockets_like(connect, url, out, subprotocols, max_size)


async def _picows_compat(
    url: str, out: Outcome, subprotocols: list[str] | None, max_size: int | None
) -> None:
    from picows.websockets import connect

    await _websockets_like(connect, url, out, subprotocols, max_size)


async def _aiohttp(
    url: str, out: Outcome, subprotocols: list[str] | None, max_size: int | None
) -> None:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, protocols=subprotocols or (), max_msg_size=max_size or 0) as ws,
        ):
            out.opened = True
            out.subprotocol = ws.protocol
            while True:  # receive(), not async for, which hides the Close frame's reason
                message = await ws.receive()
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    out.messages.append(message.data)
                    continue
                if message.type == aiohttp.WSMsgType.CLOSE:
                    out.close_reason = message.extra
                elif message.type == aiohttp.WSMsgType.ERROR:
                    out.error = type(message.data).__name__
                break
            out.close_code = ws.close_code
            if ws.exception() is not None and out.error is None:
                out.error = type(ws.exception()).__name__
    except Exception as exc:
        out.error = type(exc).__name__


async def _picows(
    url: str, out: Outcome, subprotocols: list[str] | None, max_size: int | None
) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Listener(WSListener):  # type: ignore[misc]
        parts: list[bytes]

        def on_ws_connected(self, transport: WSTransport) -> None:
            out.opened = True
            self.parts = []

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.CLOSE:
                out.close_code = frame.get_close_code().value
                out.close_reason = frame.get_close_reason()
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            elif kind in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
                if kind != WSMsgType.CONTINUATION:
                    self.first = kind
                self.parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    data = b"".join(self.parts)
                    self.parts = []
                    out.messages.append(data.decode() if self.first == WSMsgType.TEXT else data)

    headers = {"Sec-WebSocket-Protocol": ", ".join(subprotocols)} if subprotocols else None
    try:
        transport, _ = await ws_connect(
            Listener, url, extra_headers=headers, max_frame_size=max_size or 1 << 30
        )
        out.subprotocol = transport.response.headers.get("sec-websocket-protocol")
        await transport.wait_disconnected()
    except Exception as exc:
        out.error = type(exc).__name__


ENGINES: dict[str, Engine] = {
    "websockets": _websockets,
    "aiohttp": _aiohttp,
    "picows": _picows,
    "picows-compat": _picows_compat,
}


# -- the checks ---------------------------------------------------------------------------------


@dataclass
class Check:
    """One behaviour: how to provoke it and how to describe what the engine did."""

    title: str
    script: Script
    describe: Callable[[Outcome], str]
    subprotocols: list[str] | None = None
    max_size: int | None = None


def _failed(out: Outcome) -> str:
    if out.opened:
        return "**opens**"
    return f"fails ({out.error})" if out.error else "fails"


def _opens(out: Outcome) -> str:
    return "opens" if out.opened else f"**fails** ({out.error})"


def _deflate(out: Outcome) -> str:
    offer = out.requests[0].get("sec-websocket-extensions") if out.requests else None
    return "offered" if offer and "permessage-deflate" in offer else "**not offered**"


def _subprotocol(out: Outcome) -> str:
    if not out.opened:
        return f"**fails** ({out.error})"
    offered = out.requests[0].get("sec-websocket-protocol")
    return f"offers `{offered}`, reports `{out.subprotocol}`"


def _failed_subprotocol(out: Outcome) -> str:
    return f"**opens**, reports `{out.subprotocol}`" if out.opened else _failed(out)


def _redirect(out: Outcome) -> str:
    if len(out.requests) > 1:
        return f"**follows** ({'opens' if out.opened else out.error})"
    return f"not followed ({out.error})"


def _closed(out: Outcome) -> str:
    return f"reports {out.close_code} `{out.close_reason or ''}`, answers {out.client_close}"


def _no_status(out: Outcome) -> str:
    return f"reports {out.close_code}"


def _failing_code(expected: int) -> Callable[[Outcome], str]:
    def describe(out: Outcome) -> str:
        sent = out.client_close
        if sent == expected:
            return f"closes {sent}"
        delivered = f", delivers {len(out.messages)} message(s)" if out.messages else ""
        return f"**{'closes ' + str(sent) if sent else 'no Close frame'}**{delivered}"

    return describe


def _pong(out: Outcome) -> str:
    return "answers Pong" if out.pongs == [b"are you there"] else "**no Pong**"


CHECKS: list[Check] = [
    Check("permessage-deflate offered by default", Script(frames=[_close(1000)]), _deflate),
    Check(
        "subprotocol negotiated (offers chat, superchat; server picks chat)",
        Script(headers={"Sec-WebSocket-Protocol": "chat"}, frames=[_close(1000)]),
        _subprotocol,
        subprotocols=["chat", "superchat"],
    ),
    Check(
        "server answers a subprotocol none was offered",
        Script(headers={"Sec-WebSocket-Protocol": "chat"}, frames=[_close(1000)]),
        _failed_subprotocol,
    ),
    Check(
        "server answers a subprotocol other than those offered",
        Script(headers={"Sec-WebSocket-Protocol": "other"}, frames=[_close(1000)]),
        _failed_subprotocol,
        subprotocols=["chat"],
    ),
    Check("wrong Sec-WebSocket-Accept", Script(accept="d3Jvbmc=", frames=[]), _failed),
    Check(
        "101 with an unusual reason phrase (`101 null`)",
        Script(status="101 null", frames=[_close(1000)]),
        _opens,
    ),
    Check("302 redirect to a ws:// URL", Script(redirect="ws", frames=[_close(1000)]), _redirect),
    Check(
        "302 redirect to an http:// URL", Script(redirect="http", frames=[_close(1000)]), _redirect
    ),
    Check("server closes 4001 `bye`", Script(frames=[_close(4001, "bye")]), _closed),
    Check("server closes with no status code", Script(frames=[_frame(0x8, b"")]), _no_status),
    Check(
        "invalid UTF-8 in a text message",
        Script(frames=[_frame(0x1, b"ok \xff\xfe")]),
        _failing_code(1007),
    ),
    Check(
        f"text of {2 * MAX_SIZE} B over a {MAX_SIZE} B limit, one frame",
        Script(frames=[_frame(0x1, b"x" * 2 * MAX_SIZE)]),
        _failing_code(1009),
        max_size=MAX_SIZE,
    ),
    Check(
        f"the same in 3 fragments of {2 * MAX_SIZE // 3} B",
        Script(
            frames=[
                _frame(0x1, b"x" * (2 * MAX_SIZE // 3), fin=False),
                _frame(0x0, b"x" * (2 * MAX_SIZE // 3), fin=False),
                _frame(0x0, b"x" * (2 * MAX_SIZE // 3)),
            ]
        ),
        _failing_code(1009),
        max_size=MAX_SIZE,
    ),
    Check(
        "server sends a Ping",
        Script(frames=[_frame(0x9, b"are you there"), _frame(0x1, b"after"), _close(1000)]),
        _pong,
    ),
]


async def _run_one(engine: Engine, check: Check) -> Outcome:
    out = Outcome()
    server = ScriptedServer(check.script, out)
    url = await server.start()
    try:
        client = engine(url, out, check.subprotocols, check.max_size)
        try:
            await asyncio.wait_for(client, TIMEOUT)
        except asyncio.TimeoutError:
            out.error = out.error or "timeout"
        # The server may still be reading the client's Close frame.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.done.wait(), 2.0)
    finally:
        await server.stop()
    return out


def run_checks(engines: list[str]) -> dict[str, dict[str, str]]:
    """Run every check with every engine named; return check title -> engine -> description."""
    table: dict[str, dict[str, str]] = {}
    for check in CHECKS:
        row = table.setdefault(check.title, {})
        for name in engines:
            row[name] = check.describe(asyncio.run(_run_one(ENGINES[name], check)))
    return table


def main(argv: list[str] | None = None) -> int:
    """Print the table of checks (rows) by engines (columns)."""
    names = (sys.argv[1:] if argv is None else argv) or list(ENGINES)
    # picows logs every connection it fails, picows.websockets as "websockets.client": the
    # table says what happened.
    loggers = [logging.getLogger(name) for name in ("picows", "websockets")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        table = run_checks(names)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    print("| behaviour | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for title, row in table.items():
        print(f"| {title} | " + " | ".join(row[name] for name in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
