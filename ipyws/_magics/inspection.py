"""``%ws list`` and ``%ws log``: the sockets of the session and a socket's latest traffic."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from IPython.display import display

from .._format import backlog_label, escape, format_age, format_record, format_size
from .._url import redact_url
from .._websocket import ReadyState, WebSocket, sockets
from .parsing import Call, Parser, Subcommand, count

if TYPE_CHECKING:
    from .magics import WSMagics

__all__ = ["LIST", "LOG", "SocketTable", "state_label"]

# IPython's display() is untyped; this is the one signature used here.
_display: Callable[[object], None] = display


def state_label(ws: WebSocket) -> str:
    """Name the socket's state, with the close code once CLOSED (``CLOSED 1006``).

    A socket that reconnects says which attempt runs (``CONNECTING attempt 3``).
    """
    state = ws.readyState.name
    if ws.readyState == ReadyState.CONNECTING and ws.reconnect_attempt:
        return f"{state} attempt {ws.reconnect_attempt}"
    if ws.readyState == ReadyState.CLOSED:
        last = ws.transcript.records(limit=1)
        if last and last[0]["type"] == "close":
            state += f" {last[0].get('code')}"
    return state


class SocketTable:
    """The ``%ws list`` table: one row per socket, as text and as (escaped) HTML."""

    columns = (
        "name",
        "url",
        "state",
        "reconnects",
        "protocol",
        "in",
        "out",
        "bytes in",
        "bytes out",
        "backlog",
        "age",
    )

    def __init__(self, rows: Sequence[Sequence[str]], demos: Sequence[str] = ()) -> None:
        self.rows = [tuple(row) for row in rows]
        self.demos = list(demos)

    def __repr__(self) -> str:
        table = [self.columns, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.columns))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.extend(self.demos)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self.rows
        )
        demos = "".join(f"<p>{html.escape(line)}</p>" for line in self.demos)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{demos}"


# -- %ws list ------------------------------------------------------------------------------


def list_parser() -> Parser:
    """Return the parser of ``%ws list``."""
    return Parser(
        "list",
        description="Show the sockets of this session: name, URL, state (with the attempt "
        "while one reconnects), reconnects so far, protocol, messages and bytes in and out, "
        "and age.",
        epilog="example:\n  %ws list",
    )


def list_sockets(magics: WSMagics, call: Call) -> None:
    """Show a table of every socket: those bound to names, then the unnamed ones."""
    names: dict[WebSocket, list[str]] = {}
    for name, ws in magics.bound.items():
        names.setdefault(ws, []).append(name)
    for key, value in magics.shell.user_ns.items():
        if isinstance(value, WebSocket) and not key.startswith("_"):
            bound = names.setdefault(value, [])
            if key not in bound:
                bound.append(key)
    for ws in sockets():
        names.setdefault(ws, [])
    if not names:
        print(
            "No WebSockets yet: open one with %ws connect URL --as NAME, "
            "or try %ws demo echo (no network needed)."
        )
        return
    now = time.time()
    rows = []
    for ws in sorted(names, key=lambda w: w.transcript.created):
        stats = ws.stats
        rows.append(
            (
                ", ".join(names[ws]) or "-",
                redact_url(ws.url),
                state_label(ws),
                str(stats.reconnects) if stats.reconnects else "-",
                escape(ws.protocol) or "-",
                str(stats.messages_in),
                str(stats.messages_out),
                format_size(stats.bytes_in),
                format_size(stats.bytes_out),
                backlog_label(stats.backlog, stats.paused, stats.dropped, terse=True),
                format_age(now - stats.created),
            )
        )
    demos = [
        f"demo server {server.name} for {name}: {server.url}"
        + ("" if server.running else " (stopped)")
        for name, (_, server) in sorted(magics.demo_servers.items())
    ]
    _display(SocketTable(rows, demos))


LIST = Subcommand("list", "a table of the sockets in this session", list_parser, list_sockets)


# -- %ws log -------------------------------------------------------------------------------


def log_parser() -> Parser:
    """Return the parser of ``%ws log``."""
    parser = Parser(
        "log",
        description="Print the latest transcript records of NAME, oldest first: time (ms), "
        "direction (↑ sent, ↓ received), type, size and a preview. The whole transcript "
        "is NAME.transcript (records(), to_dataframe(), to_jsonl()).",
        epilog="examples:\n  %ws log feed\n  %ws log feed -n 50\n  %ws log feed --all",
    )
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    how_many = parser.add_mutually_exclusive_group()
    how_many.add_argument(
        "-n", type=count, metavar="N", help="how many records (default: WSMagics.log_lines)"
    )
    how_many.add_argument("--all", action="store_true", help="every record the transcript kept")
    return parser


def log(magics: WSMagics, call: Call) -> None:
    """Print NAME's latest transcript records, one line each."""
    args = call.args
    ws = magics.socket(args.name, "%ws log")
    transcript = ws.transcript
    records = transcript.records(limit=None if args.all else (args.n or magics.log_lines))
    header = f"{args.name}  {redact_url(ws.url)}  {state_label(ws)}"
    if not records:
        print(f"{header}  (no records yet)")
        return
    print(f"{header}  (last {len(records)} of {transcript.total} records)")
    print("\n".join(format_record(record) for record in records))


LOG = Subcommand("log", "the latest records of a socket's transcript", log_parser, log)
