"""A flood into a slow handler: memory, order, drops and what the server sees, per flow option.

A server process sends numbered 100-byte text messages as fast as its client reads them
(websockets' flow control) and pings every second, keeping the round trip of each; a client
process runs ipyws with a handler that works ``--handler-ms`` per message and samples its own
RSS. Each run reports how many messages the handler saw, whether in order, the RSS growth,
the largest backlog, how many the server sent, and the longest keepalive round trip the
server measured (the time a paused socket left its pings unanswered).

``python -m benchmarks.slow_handler`` runs the default (pause), ``drop_oldest`` and the
unbounded browser behaviour for ``--seconds`` each and prints a Markdown table; the
fault-injection test ``tests/faults/test_slow_handler.py`` calls :func:`measure`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "measure"]

SIZE = 100
"""Characters per message by default: the number, a space, padding."""

START_WAIT = 30.0
"""Seconds a process may take to start (imports included) and print its first line."""


# -- the server process ----------------------------------------------------------------------


async def _flood(conn: Any, size: int, stats: dict[str, Any]) -> None:
    from websockets.exceptions import ConnectionClosed

    sequence = 0
    start = time.monotonic()
    blocked = 0.0

    async def watch_latency() -> None:
        while True:
            await asyncio.sleep(0.1)
            # The round trip of the latest answered ping, or how long the pending one waits.
            waiting = [time.monotonic() - sent for _, sent in conn.pending_pings.values()]
            stats["max_ping_wait"] = max(stats["max_ping_wait"], conn.latency, *waiting)

    watcher = asyncio.ensure_future(watch_latency())
    try:
        while True:
            head = b"%d " % sequence
            before = time.monotonic()
            await conn.send(head + b"x" * (size - len(head)), text=True)
            took = time.monotonic() - before
            if took > 0.005:  # the send waited for the client to read (TCP pushed back)
                blocked += took
                stats["blocked"] = blocked
            sequence += 1
            stats["sent"] = sequence
            if not sequence % 100:
                await asyncio.sleep(0)  # send() does not yield while the client keeps up
    except ConnectionClosed:
        pass
    finally:
        watcher.cancel()
        stats["seconds"] = time.monotonic() - start


async def _serve() -> None:
    from websockets.asyncio.server import serve

    async def handler(conn: Any) -> None:
        stats: dict[str, Any] = {"sent": 0, "blocked": 0.0, "max_ping_wait": 0.0}
        size = int(conn.request.path.partition("size=")[2] or SIZE)
        try:
            await _flood(conn, size, stats)
        finally:
            print("STATS " + json.dumps(stats), flush=True)

    # Pings every second, never failing: the round trips are what is measured.
    async with serve(
        handler, "127.0.0.1", 0, compression=None, ping_interval=1.0, ping_timeout=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"READY ws://127.0.0.1:{port}/", flush=True)
        loop = asyncio.get_running_loop()
        stdin_closed = loop.create_future()

        def watch_stdin() -> None:
            with contextlib.suppress(Exception):
                sys.stdin.read()
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stdin_closed.set_result, None)

        threading.Thread(target=watch_stdin, daemon=True).start()
        await stdin_closed


# -- the client process ----------------------------------------------------------------------


def _rss() -> int:
    """This process's resident set size in bytes (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _client(url: str, seconds: float, handler_ms: float, options: dict[str, Any]) -> None:
    from ipyws import WebSocket

    handled = 0
    out_of_order = 0
    expected = 0
    last = -1
    work = handler_ms / 1000.0

    def on_message(event: Any) -> None:
        nonlocal handled, out_of_order, expected, last
        sequence = int(event.data.split(" ", 1)[0])
        if options.get("drop_oldest"):
            out_of_order += sequence <= last  # drops skip numbers; order must hold
        else:
            out_of_order += sequence != expected
        expected = sequence + 1
        last = sequence
        handled += 1
        end = time.perf_counter() + work
        while time.perf_counter() < end:  # busy, as a parsing handler is
            pass

    ws = WebSocket(url, compression=False, onmessage=on_message, **options)
    ws.wait_open(timeout=START_WAIT)
    start = time.monotonic()
    samples: list[tuple[float, int]] = []
    peak_messages = peak_bytes = 0
    paused_seen = False
    while (elapsed := time.monotonic() - start) < seconds:
        backlog = ws.backlog
        peak_messages = max(peak_messages, backlog.messages)
        peak_bytes = max(peak_bytes, backlog.bytes)
        paused_seen = paused_seen or backlog.paused
        samples.append((elapsed, _rss()))
        time.sleep(0.25)
    backlog = ws.backlog
    handled_then = handled
    ws.close()
    ws.wait_closed(timeout=START_WAIT)
    # RSS growth from the open on (imports and the handshake are done by then).
    settled = [rss for _, rss in samples]
    result = {
        "handled": handled_then,
        "in_order": out_of_order == 0,
        "rss_start": settled[0],
        "rss_max": max(settled),
        "rss_growth": max(settled) - settled[0],
        "peak_backlog": peak_messages,
        "peak_backlog_bytes": peak_bytes,
        "backlog_at_end": backlog.messages,
        "paused_seen": paused_seen,
        "dropped": backlog.dropped,
        "seconds": seconds,
    }
    print("RESULT " + json.dumps(result), flush=True)


# -- orchestration -----------------------------------------------------------------------------


def _read_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    raise RuntimeError(f"no {prefix.strip()} line within {timeout} s")


def measure(
    seconds: float = 30.0, handler_ms: float = 1.0, size: int = SIZE, **options: Any
) -> dict[str, Any]:
    """Flood a client whose handler takes ``handler_ms`` for ``seconds``; return the figures.

    ``size`` is the length of each message; ``options`` are the socket's flow options
    (``max_backlog``, ``max_backlog_bytes``, ``drop_oldest``). The result merges the
    client's figures with the server's: ``sent``, ``blocked`` (seconds its sends waited for
    the client to read) and ``max_ping_wait`` (the longest keepalive round trip it saw).
    """
    command = [sys.executable, "-m", "benchmarks.slow_handler"]
    server = subprocess.Popen(
        [*command, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        url = _read_line(server, "READY ", START_WAIT)
        client = subprocess.Popen(
            [
                *command,
                "client",
                f"{url}?size={size}",
                "--seconds",
                str(seconds),
                "--handler-ms",
                str(handler_ms),
                "--options",
                json.dumps(options),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            result: dict[str, Any] = json.loads(
                _read_line(client, "RESULT ", seconds + 4 * START_WAIT)
            )
        finally:
            client.kill()
            client.wait(START_WAIT)
            if client.stdout is not None:
                client.stdout.close()
        result.update(json.loads(_read_line(server, "STATS ", START_WAIT)))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(START_WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(START_WAIT)
        if server.stdout is not None:
            server.stdout.close()
    return result


def _table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    mib = 1024 * 1024
    lines = [
        "| flow option | handled | in order | RSS growth | peak backlog | dropped | "
        "server sent | server blocked | longest ping wait (server) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['handled']:,} | {'yes' if r['in_order'] else 'NO'} | "
            f"{r['rss_growth'] / mib:.1f} MiB | {r['peak_backlog']:,} | {r['dropped']:,} | "
            f"{r['sent']:,} | {r['blocked']:.1f} s | {r['max_ping_wait']:.2f} s |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server, a client, or the whole comparison (the default)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slow_handler", description=__doc__)
    sub = parser.add_subparsers(dest="role")
    sub.add_parser("serve", help="run the flood server (stops when stdin closes)")
    client = sub.add_parser("client", help="run one measured client")
    client.add_argument("url")
    for name in ("run", "client"):
        target = client if name == "client" else parser
        target.add_argument("--seconds", type=float, default=30.0, help="length of each run")
        target.add_argument(
            "--handler-ms", type=float, default=1.0, help="handler time per message"
        )
    parser.add_argument("--size", type=int, default=SIZE, help="characters per message")
    client.add_argument("--options", default="{}", help="socket options as JSON")
    args = parser.parse_args(argv)
    if args.role == "serve":
        asyncio.run(_serve())
        return 0
    if args.role == "client":
        _client(args.url, args.seconds, args.handler_ms, json.loads(args.options))
        return 0
    rows = []
    for name, options in (
        ("pause (default)", {}),
        ("drop_oldest=True", {"drop_oldest": True}),
        ("max_backlog=None (browser)", {"max_backlog": None, "max_backlog_bytes": None}),
    ):
        print(f"measuring {name} for {args.seconds:g} s ...", file=sys.stderr, flush=True)
        rows.append((name, measure(args.seconds, args.handler_ms, args.size, **options)))
    print(f"{args.handler_ms:g} ms handler, {args.size}-byte messages, {args.seconds:g} s each\n")
    print(_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
