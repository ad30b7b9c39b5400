"""The benchmark server: websockets on 127.0.0.1, in its own process, routes chosen by URL path.

Routes (query parameters in brackets, defaults after ``=``):

``/feed?n=N&size=S&fragments=F`` [n=1000, size=100, fragments=1]
    N text messages of S bytes (``"x" * S``), each in F frames, then a 1000 close.
``/big?n=N&size=S&fragments=F`` [n=10, size=1048576, fragments=1]
    N binary messages of S bytes, each in F frames, then a 1000 close.
``/rate?rate=R&seconds=T&n=N&size=S`` [rate=1000, seconds=10, n=R*T, size=100]
    N text messages at R per second (T seconds' worth unless N is given), then a 1000 close;
    it stops early if the client closes.
``/echo``
    Sends every message back.

The feeds write pre-encoded frames: the frame is serialized once and written in batches of
about 256 KiB straight to the transport, with websockets' own flow control (``drain()``). The
bytes on the wire are those ``send()`` would write, but the server spends no Python time per
message, so on a 2-core machine it stays out of the way of the client being measured.
Compression and keepalive pings are off.

``python -m benchmarks.server`` prints ``READY ws://127.0.0.1:PORT`` and serves until killed;
with ``--until-stdin-closes`` (as the runner starts it) also until its standard input closes,
so it never outlives the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
import time
import urllib.parse

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

__all__ = ["main"]

BATCH_BYTES = 256 * 1024
TICK = 0.01  # seconds between two batches of a fast paced feed
MAX_TICK = 0.1  # ... and of a slow one


def _frame(opcode: Opcode, size: int, fragments: int = 1) -> bytes:
    """Return one message of ``size`` bytes as ``fragments`` frames, serialized."""
    payload = (
        b"x" * size
        if opcode == Opcode.TEXT
        else bytes(range(256)) * (size // 256) + b"\0" * (size % 256)
    )
    step = -(-size // fragments)  # the last fragment may be shorter
    parts = [payload[i : i + step] for i in range(0, size, step)] or [b""]
    return b"".join(
        Frame(opcode if i == 0 else Opcode.CONT, part, fin=i == len(parts) - 1).serialize(
            mask=False
        )
        for i, part in enumerate(parts)
    )


async def _write_frames(conn: ServerConnection, frame: bytes, count: int) -> None:
    """Write ``count`` copies of ``frame`` in ~256 KiB batches, waiting while the peer lags."""
    per_batch = max(1, BATCH_BYTES // len(frame))
    batch = frame * per_batch
    sent = 0
    while sent < count:
        todo = min(per_batch, count - sent)
        conn.transport.write(batch if todo == per_batch else frame * todo)
        sent += todo
        await conn.drain()
        if conn.transport.is_closing():
            raise ConnectionClosed(None, None)


async def _feed(
    conn: ServerConnection, opcode: Opcode, n: int, size: int, fragments: int = 1
) -> None:
    await _write_frames(conn, _frame(opcode, size, fragments), n)
    await conn.close(1000)


async def _rate(
    conn: ServerConnection, rate: float, seconds: float, size: int, n: int | None
) -> None:
    frame = _frame(Opcode.TEXT, size)
    start = time.monotonic()
    sent = 0
    total = int(rate * seconds) if n is None else n
    tick = min(MAX_TICK, max(TICK, 50 / rate))
    reader = asyncio.ensure_future(conn.wait_closed())
    try:
        while not reader.done() and sent < total:
            elapsed = time.monotonic() - start
            due = min(total, int(rate * elapsed)) - sent
            if due > 0:
                await _write_frames(conn, frame, due)
                sent += due
            # Slow feeds send bigger, rarer batches: 200 sockets at 100 msg/s each must not
            # cost the server 20,000 wake-ups a second on a 2-core machine.
            await asyncio.wait([reader], timeout=tick)
    finally:
        reader.cancel()
    await conn.close(1000)


async def _echo(conn: ServerConnection) -> None:
    async for message in conn:
        await conn.send(message)


async def _handler(conn: ServerConnection) -> None:
    assert conn.request is not None
    url = urllib.parse.urlsplit(conn.request.path)
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    try:
        fragments = int(query.get("fragments", 1))
        if url.path == "/feed":
            n, size = int(query.get("n", 1000)), int(query.get("size", 100))
            await _feed(conn, Opcode.TEXT, n, size, fragments)
        elif url.path == "/big":
            n, size = int(query.get("n", 10)), int(query.get("size", 1 << 20))
            await _feed(conn, Opcode.BINARY, n, size, fragments)
        elif url.path == "/rate":
            await _rate(
                conn,
                float(query.get("rate", 1000)),
                float(query.get("seconds", 10)),
                int(query.get("size", 100)),
                int(query["n"]) if "n" in query else None,
            )
        elif url.path == "/echo":
            await _echo(conn)
        else:
            await conn.close(4404, f"no route {url.path}")
    except ConnectionClosed:
        pass


async def _serve(host: str, port: int, until_stdin_closes: bool) -> None:
    stop = asyncio.get_running_loop().create_future()

    def watch_stdin() -> None:
        # The runner holds our stdin open; EOF means it is gone, so we go too.
        with contextlib.suppress(Exception):
            sys.stdin.read()
        loop.call_soon_threadsafe(stopping)

    def stopping() -> None:
        if not stop.done():
            stop.set_result(None)

    loop = asyncio.get_running_loop()
    async with serve(
        _handler,
        host,
        port,
        compression=None,
        ping_interval=None,
        max_size=None,
        close_timeout=2,
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"READY ws://{bound[0]}:{bound[1]}", flush=True)
        if until_stdin_closes:
            threading.Thread(target=watch_stdin, daemon=True).start()
        await stop


def main(argv: list[str] | None = None) -> int:
    """Serve the benchmark routes until killed (or until standard input closes, if asked)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--until-stdin-closes",
        action="store_true",
        help="exit when standard input closes (the runner's way to never leave it behind)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.until_stdin_closes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
