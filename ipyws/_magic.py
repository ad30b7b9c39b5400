"""The ``%ws`` and ``%%ws`` magics: WebSockets from notebook cells, safe to re-run.

``%load_ext ipyws`` registers one :class:`WSMagics` per shell. It reads like wscat in a
cell (``%ws connect URL --as feed``, ``%ws send feed hello``), leaves real
:class:`~ipyws.WebSocket` objects in the user namespace, and keeps just enough state to
make every cell idempotent:

* sockets by the NAME they were bound to: connecting again under a NAME closes the
  socket that NAME held, so a re-run cell never leaks a connection;
* ``%%ws on`` handlers by the cell that registered them (the frontend's cell id, or the
  cell's text where the frontend sends none), so a re-run cell replaces its handler; they
  follow their NAME to the new socket when it is reconnected;
* demo servers by NAME, stopped when replaced and on ``%unload_ext ipyws``.

Every mistake is a one-line :class:`~IPython.core.error.UsageError` saying how to fix it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import contextvars
import difflib
import html
import json
import keyword
import re
import shlex
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from types import CodeType
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.completer import CompletionContext, SimpleCompletion
from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.display import display
from IPython.utils.text import FullEvalFormatter
from traitlets import Bool, Float, Int, Unicode

from ._dispatch import current_dispatcher, report_exception
from ._events import Event
from ._transcript import DEFAULT_LOG_SIZE
from ._url import parse_websocket_url
from ._waiting import WebSocketClosedError
from ._websocket import ReadyState, WebSocket, _validate_protocols, sockets
from .exceptions import DOMException

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .demo import DemoServer

__all__ = ["WSMagics", "load_ipython_extension", "unload_ipython_extension"]

EVENTS = ("open", "message", "error", "close")
DEMOS = ("binary", "chat", "echo", "ticker")

_SUMMARIES = {
    "connect": "open a WebSocket, bind it to NAME and show it",
    "send": "send text, a Python value as JSON, or bytes",
    "close": "start the closing handshake",
    "list": "a table of the sockets in this session",
    "log": "the latest records of a socket's transcript",
    "demo": "start a demo server in the kernel and connect to it",
    "on": "(%%ws) run the cell body on each EVENT of NAME",
    "off": "remove the %%ws on handlers of NAME",
}
SUBCOMMANDS = tuple(_SUMMARIES)
_CELL_SUBCOMMANDS = ("send", "on")

_SEND_FLAGS = {"--json": "json", "--hex": "hex", "--base64": "base64", "--raw": "raw"}
_OPTION_RE = re.compile(r"--[A-Za-z][\w-]*")
_TOKEN_RE = re.compile(r"\s*(\S+)")
# Control characters would drive the terminal (ANSI escapes) or break the layout: a server
# must not be able to do either, so previews show them escaped.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_PREVIEW_CHARS = 100
_PREVIEW_BYTES = 24

_MISSING = object()
# The longest %ws connect holds a dispatch thread while it attaches handlers (a safety net:
# it is released as soon as they are attached).
_GATE_TIMEOUT = 5.0

# IPython's display() is untyped; this is the one signature used here.
_display: Callable[[object], None] = display


# -- argument parsing ---------------------------------------------------------------------


class _HelpShown(Exception):  # noqa: N818 - a signal, not an error
    """Raised instead of exiting after argparse printed ``--help``."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text at a fixed width, so ``%ws?`` reads the same everywhere."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=92)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line UsageErrors and whose help returns."""

    def __init__(self, subcommand: str, *, cell: bool = False, **kwargs: Any) -> None:
        prog = f"%{'%' if cell else ''}ws {subcommand}"
        description = kwargs.pop("description", None)
        super().__init__(
            prog=prog,
            # Raw formatting keeps the examples' lines; the prose is wrapped here instead.
            description=textwrap.fill(description, 88) if description else None,
            epilog=kwargs.pop("epilog", None),
            formatter_class=_Formatter,
            allow_abbrev=False,
            **kwargs,
        )

    def error(self, message: str) -> NoReturn:
        """Raise a one-line UsageError naming the subcommand and where its help is."""
        message = " ".join(message.split())
        raise UsageError(f"{self.prog}: {message}; see {self.prog} --help")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """Return to the magic instead of ending the process (argparse calls this after help)."""
        raise _HelpShown


def _seconds(text: str) -> float | None:
    if text.lower() in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"expected seconds (a number >= 0) or 'none', not {text!r}"
        )
    return value


def _size(text: str) -> int | None:
    if text.lower() in ("none", "off"):
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of bytes or 'none', not {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return int(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"expected messages per second (a number > 0), not {text!r}"
        )
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port (0-65535), not {text!r}")
    return int(text)


def _add_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--binary-type",
        choices=("blob", "arraybuffer"),
        help="how binary messages arrive: Blob (default) or bytes",
    )
    parser.add_argument(
        "--no-display",
        action="store_true",
        help="do not show the socket (default: WSMagics.display_on_connect)",
    )


def _connect_parser() -> _Parser:
    parser = _Parser(
        "connect",
        description="Open a WebSocket to URL in the background, bind it to NAME in the user "
        "namespace and show it. The cell returns at once. Connecting again under the same "
        "NAME first closes the socket NAME held, and moves its %%ws on handlers to the new one.",
        epilog="examples:\n"
        "  %ws connect ws://127.0.0.1:8765/ --as feed\n"
        "  %ws connect wss://example.org/chat --protocol chat.v2 \\\n"
        "      --header 'Authorization: Bearer {token}'\n"
        "  %ws connect {server.url} --binary-type arraybuffer --no-display\n"
        "  %ws connect wss://localhost:8443/ --insecure     # a self-signed test server",
    )
    parser.add_argument("url", metavar="URL", help="ws://, wss://, http:// or https:// URL")
    parser.add_argument(
        "--as",
        dest="name",
        metavar="NAME",
        help="the variable to bind (default: WSMagics.default_name, 'ws')",
    )
    parser.add_argument(
        "--protocol",
        action="append",
        default=[],
        metavar="P",
        help="offer subprotocol P (repeat for several, in order of preference)",
    )
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"K: V"',
        help="add a handshake header (repeatable)",
    )
    parser.add_argument("--origin", metavar="O", help="the Origin header (none by default)")
    _add_show(parser)
    options = parser.add_argument_group("connection options")
    options.add_argument(
        "--max-size",
        default=argparse.SUPPRESS,
        type=_size,
        metavar="BYTES",
        help="largest incoming message (default 64 MiB; 'none' for no limit)",
    )
    options.add_argument(
        "--ping-interval",
        default=argparse.SUPPRESS,
        type=_seconds,
        metavar="S",
        help="seconds between keepalive pings (default 20; 'none' to disable)",
    )
    options.add_argument(
        "--ping-timeout",
        default=argparse.SUPPRESS,
        type=_seconds,
        metavar="S",
        help="seconds to wait for a pong (default 20; 'none' to disable)",
    )
    options.add_argument(
        "--open-timeout",
        default=argparse.SUPPRESS,
        type=_seconds,
        metavar="S",
        help="seconds allowed for the opening handshake (default 30)",
    )
    options.add_argument(
        "--close-timeout",
        default=argparse.SUPPRESS,
        type=_seconds,
        metavar="S",
        help="seconds to wait for the closing handshake (default 10)",
    )
    options.add_argument(
        "--no-compression", action="store_true", help="do not offer permessage-deflate"
    )
    options.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the wss:// server's certificate (self-signed test servers)",
    )
    proxy = options.add_mutually_exclusive_group()
    proxy.add_argument("--proxy", metavar="URL", help="connect through this proxy")
    proxy.add_argument("--no-proxy", action="store_true", help="ignore the system proxy settings")
    options.add_argument(
        "--user-agent", metavar="UA", help="the User-Agent header ('none' to omit it)"
    )
    options.add_argument(
        "--log-size",
        type=_count,
        metavar="N",
        help="transcript records to keep (default: WSMagics.log_size)",
    )
    return parser


def _send_parser(cell: bool = False) -> _Parser:
    # Only for --help and completion: DATA is the raw rest of the line, which argparse
    # (and shlex) would mangle, so _split_send() parses the real thing.
    if cell:
        description = (
            "Send the cell body as one message on NAME: text by default (trailing newlines "
            "removed, {expression} interpolated), or the flags below."
        )
        epilog = (
            "examples:\n"
            "  %%ws send feed\n"
            '  {"op": "subscribe", "symbol": "ACME"}\n'
            "\n"
            "  %%ws send feed --json\n"
            '  {"op": "subscribe", "symbols": symbols}'
        )
    else:
        description = (
            "Send DATA, the rest of the line exactly as typed, as one text message on NAME. "
            "{expression} is replaced by its value from the user namespace ({{ and }} for "
            "literal braces; if an expression fails, the text is sent unchanged). Put -- "
            "before DATA that starts with --. If NAME is still CONNECTING, %ws send waits "
            "up to WSMagics.send_wait seconds for it to open."
        )
        epilog = (
            "examples:\n"
            "  %ws send feed hello {user}\n"
            '  %ws send feed {"op": "subscribe", "symbol": "ACME"}\n'
            '  %ws send feed --json {"op": "subscribe", "symbols": symbols}\n'
            "  %ws send feed --hex 48 65 6c 6c 6f\n"
            "  %ws send feed --base64 SGVsbG8=\n"
            "  %ws send feed -- --not-an-option"
        )
    parser = _Parser("send", cell=cell, description=description, epilog=epilog)
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    if not cell:
        parser.add_argument("data", metavar="DATA", nargs="?", help="the message")
    kinds = parser.add_mutually_exclusive_group()
    what = "the cell body" if cell else "DATA"
    kinds.add_argument(
        "--json",
        action="store_true",
        help=f"{what} is a Python expression: send its value as JSON text",
    )
    kinds.add_argument("--hex", action="store_true", help=f"{what} is hex: send the bytes (binary)")
    kinds.add_argument(
        "--base64", action="store_true", help=f"{what} is base64: send the bytes (binary)"
    )
    parser.add_argument("--raw", action="store_true", help="no {expression} interpolation")
    return parser


def _close_parser() -> _Parser:
    parser = _Parser(
        "close",
        description="Start closing NAME; the close event follows. NAME stays bound to the "
        "closed socket, so its transcript can still be read.",
        epilog="examples:\n  %ws close feed\n  %ws close feed 1000 done for today\n"
        '  %ws close feed 4001 "bad token"',
    )
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    parser.add_argument("code", metavar="CODE", nargs="?", help="1000, or 3000-4999")
    parser.add_argument(
        "reason",
        metavar="REASON",
        nargs="*",
        default=[],  # without a default argparse reports REASON as required
        help="up to 123 UTF-8 bytes (the rest of the line)",
    )
    return parser


def _list_parser() -> _Parser:
    return _Parser(
        "list",
        description="Show the sockets of this session: name, URL, state, protocol, "
        "messages and bytes in and out, and age.",
        epilog="example:\n  %ws list",
    )


def _log_parser() -> _Parser:
    parser = _Parser(
        "log",
        description="Print the latest transcript records of NAME, oldest first: time (ms), "
        "direction (↑ sent, ↓ received), type, size and a preview. The whole transcript "
        "is NAME.transcript (records(), to_dataframe(), to_jsonl()).",
        epilog="examples:\n  %ws log feed\n  %ws log feed -n 50\n  %ws log feed --all",
    )
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    count = parser.add_mutually_exclusive_group()
    count.add_argument(
        "-n", type=_count, metavar="N", help="how many records (default: WSMagics.log_lines)"
    )
    count.add_argument("--all", action="store_true", help="every record the transcript kept")
    return parser


def _demo_parser() -> _Parser:
    parser = _Parser(
        "demo",
        description="Start a demo server on 127.0.0.1 in this kernel and connect to it: the "
        "one-line way to try ipyws with no network. echo sends messages back; ticker is a "
        'JSON price feed (send {"op": "subscribe", "symbol": "ACME"}); chat is a chat room; '
        "binary sends 16-byte records. Running it again reuses the server.",
        epilog="examples:\n  %ws demo echo\n  %ws demo ticker --rate 50 --as feed\n"
        "  %ws demo binary --binary-type arraybuffer",
    )
    parser.add_argument("server", metavar="SERVER", choices=DEMOS, help="{" + ",".join(DEMOS) + "}")
    parser.add_argument(
        "--as", dest="name", metavar="NAME", help="the variable to bind (default: SERVER)"
    )
    parser.add_argument(
        "--rate",
        type=_rate,
        metavar="R",
        help="messages per second, ticker and binary (default 10)",
    )
    parser.add_argument("--port", type=_port, default=0, help="TCP port (default: any free one)")
    _add_show(parser)
    return parser


def _on_parser() -> _Parser:
    parser = _Parser(
        "on",
        cell=True,
        description="Run the cell body each time NAME fires EVENT, like a cell run with "
        "`event` bound to the event (NAME is the socket). Its output appears under this "
        "cell. Running the cell again replaces its handler. If NAME is not connected yet, "
        "the handler waits for %ws connect/demo --as NAME; it also follows NAME when that "
        "reconnects.",
        epilog="example:\n  %%ws on feed message\n  tick = json.loads(event.data)\n"
        "  prices.append(tick['price'])",
    )
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    parser.add_argument("event", metavar="EVENT", help="open, message, error or close")
    return parser


def _off_parser() -> _Parser:
    parser = _Parser(
        "off",
        description="Remove the handlers that %%ws on cells registered for NAME (only those "
        "for EVENT if given). Handlers set from Python (NAME.onmessage = f) stay.",
        epilog="examples:\n  %ws off feed\n  %ws off feed message",
    )
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    parser.add_argument("event", metavar="EVENT", nargs="?", help="open, message, error or close")
    return parser


_PARSERS: dict[str, Callable[[], _Parser]] = {
    "connect": _connect_parser,
    "send": _send_parser,
    "close": _close_parser,
    "list": _list_parser,
    "log": _log_parser,
    "demo": _demo_parser,
    "on": _on_parser,
    "off": _off_parser,
}


def _options_of(subcommand: str) -> list[str]:
    """Return the option strings of a subcommand, for completion."""
    parser = _PARSERS[subcommand]()
    return sorted(
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--")
    )


def _split_send(rest: str) -> tuple[set[str], str | None, str]:
    """Split ``[flags] NAME [flags] DATA`` keeping DATA exactly as typed."""
    flags: set[str] = set()
    name: str | None = None
    pos = 0
    while True:
        match = _TOKEN_RE.match(rest, pos)
        if match is None:
            return flags, name, ""
        token = match.group(1)
        if token == "--":
            after = rest[match.end() :].lstrip()
            if name is None:
                inner = _TOKEN_RE.match(after)
                if inner is None:
                    return flags, None, ""
                return flags, inner.group(1), after[inner.end() :].lstrip()
            return flags, name, after
        if token in ("-h", "--help"):
            raise _HelpShown
        if _OPTION_RE.fullmatch(token):
            if token not in _SEND_FLAGS:
                hint = (
                    "; to send text that starts with --, put -- before it: "
                    f"%ws send {name} -- {token}"
                    if name is not None
                    else "; see %ws send --help"
                )
                raise UsageError(
                    f"%ws send: unknown option {token} (use --json, --hex, --base64 or --raw){hint}"
                )
            flags.add(_SEND_FLAGS[token])
            pos = match.end()
            continue
        if name is None:
            name = token
            pos = match.end()
            continue
        return flags, name, rest[match.start(1) :]


# -- formatting ---------------------------------------------------------------------------


def _escape(text: str) -> str:
    return text.translate(_CONTROL)


def _preview_text(text: str, truncated: bool = False) -> str:
    shown = _escape(text)
    if len(shown) > _PREVIEW_CHARS:
        return shown[: _PREVIEW_CHARS - 1] + "…"
    return shown + ("…" if truncated else "")


def _preview_bytes(data: bytes, truncated: bool = False) -> str:
    shown = " ".join(f"{b:02x}" for b in data[:_PREVIEW_BYTES])
    return shown + (" …" if truncated or len(data) > _PREVIEW_BYTES else "")


def _format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
    return f"{size} B"  # unreachable: GiB returns above


def _format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _format_time(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"


def format_record(record: dict[str, Any]) -> str:
    """Format one transcript record as a line: time, direction, type, size, preview."""
    when = _format_time(record["time"])
    kind = record["type"]
    if kind in ("send", "receive"):
        arrow = "↑" if kind == "send" else "↓"
        truncated = bool(record.get("truncated"))
        if record.get("opcode") == 1:
            label, preview = "text", _preview_text(record.get("data") or "", truncated)
        else:
            raw = base64.b64decode(record.get("data") or "")
            label, preview = "binary", _preview_bytes(raw, truncated)
        return f"{when}  {arrow} {label:<6} {_format_size(record.get('size', 0)):>9}  {preview}"
    if kind == "open":
        protocol = record.get("protocol") or "-"
        extensions = record.get("extensions") or "-"
        detail = f"protocol {_escape(protocol)}, extensions {_escape(extensions)}"
    elif kind == "error":
        detail = _preview_text(str(record.get("message", "")))
    elif kind == "close":
        reason = record.get("reason") or ""
        clean = "clean" if record.get("wasClean") else "not clean"
        shown = f" {json.dumps(_preview_text(reason), ensure_ascii=False)}" if reason else ""
        detail = f"code {record.get('code')}{shown} ({clean})"
    else:
        detail = ""
    return f"{when}  · {kind:<6} {'':>9}  {detail}"


def _state(ws: WebSocket) -> str:
    state = ws.readyState.name
    if ws.readyState == ReadyState.CLOSED:
        last = ws.transcript.records(limit=1)
        if last and last[0]["type"] == "close":
            state += f" {last[0].get('code')}"
    return state


class SocketTable:
    """The ``%ws list`` table: one row per socket, as text and as (escaped) HTML."""

    columns = ("name", "url", "state", "protocol", "in", "out", "bytes in", "bytes out", "age")

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


# -- handlers -----------------------------------------------------------------------------


class _CellHandler:
    """The body of a ``%%ws on`` cell, registered as an event listener on a socket.

    It runs like a cell: in the user namespace, with ``event`` bound to the event for the
    duration of the call (the previous value of ``event`` is put back afterwards).
    """

    def __init__(
        self,
        shell: InteractiveShell,
        key: tuple[str, ...],
        name: str,
        event_type: str,
        code: CodeType,
        context: contextvars.Context,
    ) -> None:
        self.shell = shell
        self.key = key
        self.name = name
        self.event_type = event_type
        self.code = code
        # The registering cell's context: output lands under that cell, even when the
        # handler is moved to a reconnected socket from another cell.
        self.context = context
        self.socket: WebSocket | None = None

    def __call__(self, event: Event) -> None:
        namespace = self.shell.user_ns
        previous = namespace.get("event", _MISSING)
        namespace["event"] = event
        try:
            exec(self.code, self.shell.user_global_ns, namespace)
        except Exception as exc:  # shown from the cell's own lines (report_exception trims)
            report_exception(exc)
        finally:
            # The body may have bound `event` itself; keep its choice then.
            if namespace.get("event", _MISSING) is event:
                if previous is _MISSING:
                    del namespace["event"]
                else:
                    namespace["event"] = previous

    def attach(self, ws: WebSocket) -> None:
        """Listen on ``ws`` (and nowhere else), in the registering cell's context."""
        self.detach()
        self.context.run(ws.addEventListener, self.event_type, self)
        self.socket = ws

    def detach(self) -> None:
        """Stop listening."""
        if self.socket is not None:
            self.socket.removeEventListener(self.event_type, self)
            self.socket = None

    def __repr__(self) -> str:
        return f"<%%ws on {self.name} {self.event_type}>"


# -- the magics ---------------------------------------------------------------------------


@magics_class
class WSMagics(Magics):
    """The ``%ws`` / ``%%ws`` magics and their ``%config`` defaults."""

    display_on_connect = Bool(
        True, help="Show the socket (its live panel) when %ws connect or %ws demo opens it."
    ).tag(config=True)
    default_name = Unicode("ws", help="The variable %ws connect binds when --as is not given.").tag(
        config=True
    )
    log_size = Int(
        DEFAULT_LOG_SIZE, min=1, help="Transcript records kept by sockets the magics open."
    ).tag(config=True)
    log_lines = Int(20, min=1, help="Records %ws log shows when -n is not given.").tag(config=True)
    send_wait = Float(
        10.0,
        min=0.0,
        help="Seconds %ws send waits for a CONNECTING socket to open (0: fail at once).",
    ).tag(config=True)

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell=shell)
        self._shell: InteractiveShell = shell
        #: The socket each NAME was last bound to by %ws connect / %ws demo.
        self._sockets: dict[str, WebSocket] = {}
        #: %%ws on handlers by the key of the cell that registered them.
        self._handlers: dict[tuple[str, ...], _CellHandler] = {}
        #: Demo servers by the NAME their socket is bound to, with what started them.
        self._demos: dict[str, tuple[tuple[Any, ...], DemoServer]] = {}
        #: Cell ids of the cells being run (pre_run_cell pushes, post_run_cell pops).
        self._cell_ids: list[str | None] = []
        self._installed = False
        self._completer: _Completer | None = None

    # -- install / uninstall ----------------------------------------------------------

    def _install(self) -> None:
        if self._installed:
            return
        self._completer = _Completer(self)
        self._shell.events.register("pre_run_cell", self._pre_run_cell)
        self._shell.events.register("post_run_cell", self._post_run_cell)
        completer = getattr(self._shell, "Completer", None)
        if completer is not None:
            completer.custom_matchers.append(self._completer)
        self._installed = True

    def _uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        for name, callback in (
            ("pre_run_cell", self._pre_run_cell),
            ("post_run_cell", self._post_run_cell),
        ):
            with contextlib.suppress(ValueError):
                self._shell.events.unregister(name, callback)
        completer = getattr(self._shell, "Completer", None)
        if completer is not None and self._completer in completer.custom_matchers:
            completer.custom_matchers.remove(self._completer)
        self._completer = None

    def shutdown(self) -> None:
        """Remove the handlers, close the sockets and stop the demo servers the magics started."""
        for handler in self._handlers.values():
            handler.detach()
        self._handlers.clear()
        for ws in self._sockets.values():
            if ws.readyState in (ReadyState.CONNECTING, ReadyState.OPEN):
                ws.close(1000, "%unload_ext ipyws")
        self._sockets.clear()
        demos = [server for _, server in self._demos.values()]
        self._demos.clear()
        for server in demos:
            # A server that does not stop in time runs on a daemon thread: it cannot keep
            # the process alive, and unloading must go on.
            with contextlib.suppress(TimeoutError):
                server.stop()

    def _pre_run_cell(self, info: Any) -> None:
        cell_id = getattr(info, "cell_id", None)
        self._cell_ids.append(cell_id if isinstance(cell_id, str) and cell_id else None)

    def _post_run_cell(self, result: Any) -> None:
        if self._cell_ids:
            self._cell_ids.pop()

    def _current_cell_id(self) -> str | None:
        """Return the frontend's id of the running cell, or None when it sent none."""
        if self._cell_ids and self._cell_ids[-1]:
            return self._cell_ids[-1]
        # ipykernel keeps the execute_request being handled; its metadata carries cellId
        # even where IPython was not given it.
        get_parent = getattr(getattr(self._shell, "kernel", None), "get_parent", None)
        if callable(get_parent):
            try:
                parent = get_parent()
            except Exception:  # no parent means no cell id
                parent = None
            metadata = parent.get("metadata") if isinstance(parent, dict) else None
            cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
            if isinstance(cell_id, str) and cell_id:
                return cell_id
        return None

    # -- the magic --------------------------------------------------------------------

    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def ws(
        self, line: str, cell: str | None = None, local_ns: dict[str, Any] | None = None
    ) -> None:
        # The docstring is generated below from the subcommands' parsers (see _full_help).
        namespace = {**self._shell.user_ns, **(local_ns or {})}
        stripped = line.strip()
        if not stripped:
            if cell is not None:
                raise UsageError(
                    "%%ws needs a subcommand: %%ws send NAME or %%ws on NAME EVENT; see %ws --help"
                )
            print(_overview())
            return
        subcommand, *more = stripped.split(None, 1)
        rest = more[0] if more else ""
        if subcommand in ("-h", "--help", "help"):
            print(_full_help())
            return
        if subcommand not in _PARSERS:
            close = difflib.get_close_matches(subcommand, SUBCOMMANDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"%ws: unknown subcommand {subcommand!r}; {hint}use one of "
                f"{', '.join(SUBCOMMANDS)} (see %ws --help)"
            )
        if cell is not None and subcommand not in _CELL_SUBCOMMANDS:
            raise UsageError(
                f"%%ws {subcommand} takes no cell body: use %ws {subcommand} (one %); "
                "only %%ws send and %%ws on are cell magics"
            )
        try:
            if subcommand == "send":
                self._send(rest, cell, namespace)
                return
            argv = self._argv(subcommand, rest, namespace)
            args = _PARSERS[subcommand]().parse_args(argv)
            getattr(self, f"_{subcommand}")(args, line, cell)
        except _HelpShown:
            if subcommand == "send":
                print(_send_parser(cell is not None).format_help())
            return

    def _argv(self, subcommand: str, rest: str, namespace: dict[str, Any]) -> list[str]:
        try:
            return shlex.split(_interpolate(rest, namespace))
        except ValueError as exc:
            raise UsageError(f"%ws {subcommand}: {exc} (check the quotes)") from None

    # -- sockets by name --------------------------------------------------------------

    def _names(self) -> list[str]:
        names = set(self._sockets)
        names.update(
            key
            for key, value in self._shell.user_ns.items()
            if isinstance(value, WebSocket) and not key.startswith("_")
        )
        return sorted(names)

    def _lookup(self, name: str) -> WebSocket | None:
        value = self._shell.user_ns.get(name, _MISSING)
        if isinstance(value, WebSocket):
            return value
        return self._sockets.get(name)

    def _socket(self, name: str, prog: str) -> WebSocket:
        ws = self._lookup(name)
        if ws is not None:
            return ws
        value = self._shell.user_ns.get(name, _MISSING)
        if value is not _MISSING:
            raise UsageError(
                f"{prog}: {name!r} is of type {type(value).__name__}, not a WebSocket; "
                f"bind one with %ws connect URL --as {name}"
            )
        known = self._names()
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hint = f"did you mean {close[0]!r}? "
        elif known:
            hint = f"known: {', '.join(known)}; "
        else:
            hint = ""
        raise UsageError(
            f"{prog}: no WebSocket named {name!r}; {hint}open one with %ws connect URL --as {name}"
        )

    def _check_name(self, name: str, prog: str) -> None:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(
                f"{prog}: NAME must be a Python variable name such as feed or ws2, not {name!r}"
            )

    def _retire(self, name: str) -> None:
        """Close what NAME held (in the namespace and in our registry); its handlers stay ours."""
        for ws in {self._lookup(name), self._sockets.get(name)}:
            if ws is None:
                continue
            for handler in self._handlers.values():
                if handler.socket is ws and handler.name == name:
                    handler.detach()
            if ws.readyState in (ReadyState.CONNECTING, ReadyState.OPEN):
                ws.close(1000, f"replaced by a new %ws connect --as {name}")

    def _open(
        self,
        prog: str,
        name: str,
        url: str,
        protocols: list[str],
        options: dict[str, Any],
        binary_type: str | None,
        show: bool,
        log_size: int | None = None,
    ) -> WebSocket:
        """Validate, retire what NAME held, connect, bind NAME, re-attach its handlers, show."""
        self._check_name(name, prog)
        try:
            # Validate before touching the old socket: a typo must not cost the connection.
            parse_websocket_url(url)
            _validate_protocols(protocols)
        except DOMException as exc:
            raise UsageError(f"{prog}: {exc}") from None
        self._retire(name)
        # Where handlers run on another thread (plain IPython), a loopback open could be
        # dispatched before NAME's handlers are attached: hold that thread until they are.
        # In a kernel the loop cannot run before this cell ends, so there is no race.
        gate = threading.Event()

        def hold(_: object) -> None:
            gate.wait(_GATE_TIMEOUT)

        dispatcher = current_dispatcher()
        if not dispatcher.on_own_thread():
            dispatcher.post(hold, None)
        try:
            try:
                ws = WebSocket(
                    url, protocols or None, log_size=log_size or self.log_size, **options
                )
            except (DOMException, TypeError, ValueError) as exc:
                raise UsageError(f"{prog}: {exc}") from None
            if binary_type is not None:
                ws.binaryType = binary_type
            self._sockets[name] = ws
            self._shell.user_ns[name] = ws
            for handler in self._handlers.values():
                if handler.name == name:
                    handler.attach(ws)
        finally:
            gate.set()
        if show:
            _display(ws)
        return ws

    # -- subcommands ------------------------------------------------------------------

    def _connect(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        prog = "%ws connect"
        headers = []
        for header in args.header:
            key, sep, value = header.partition(":")
            if not sep or not key.strip() or any(c.isspace() for c in key.strip()):
                raise UsageError(
                    f"{prog}: --header needs 'Name: value', not {header!r} "
                    "(quote it: --header 'Authorization: Bearer xyz')"
                )
            headers.append((key.strip(), value.strip()))
        options: dict[str, Any] = {}
        if headers:
            options["headers"] = headers
        if args.origin is not None:
            options["origin"] = args.origin
        timing = ("max_size", "ping_interval", "ping_timeout", "open_timeout", "close_timeout")
        for option in timing:
            # Absent unless given ('none' gives None), so WebSocket's own defaults apply.
            if hasattr(args, option):
                options[option] = getattr(args, option)
        if args.no_compression:
            options["compression"] = False
        if args.insecure:
            options["ssl"] = False
        if args.no_proxy:
            options["proxy"] = None
        elif args.proxy is not None:
            options["proxy"] = args.proxy
        if args.user_agent is not None:
            options["user_agent"] = None if args.user_agent.lower() == "none" else args.user_agent
        self._open(
            prog,
            args.name or self.default_name,
            args.url,
            args.protocol,
            options,
            args.binary_type,
            self.display_on_connect and not args.no_display,
            log_size=args.log_size,
        )

    def _send(self, rest: str, cell: str | None, namespace: dict[str, Any]) -> None:
        prog = "%%ws send" if cell is not None else "%ws send"
        flags, name, data = _split_send(rest)
        if name is None:
            raise UsageError(f"{prog}: give the socket's NAME: {prog} NAME DATA; see {prog} --help")
        kinds = flags & {"json", "hex", "base64"}
        if len(kinds) > 1:
            raise UsageError(f"{prog}: use only one of --json, --hex and --base64")
        if "raw" in flags and "json" in flags:
            raise UsageError(f"{prog}: --raw applies to text, hex and base64, not to --json")
        if cell is not None:
            if data.strip():
                raise UsageError(
                    f"{prog}: the message is the cell body; remove {data.strip()!r} "
                    "from the first line"
                )
            data = cell.rstrip("\r\n")
        elif not data:
            raise UsageError(
                f"{prog}: nothing to send; give DATA after {name} (or use %%ws send {name} "
                "with the message as the cell body)"
            )
        ws = self._socket(name, prog)
        payload: str | bytes
        if "json" in flags:
            try:
                value = eval(data, self._shell.user_global_ns, namespace)
            except Exception as exc:  # any failure of the user's expression
                raise UsageError(
                    f"{prog} --json: the expression failed: {type(exc).__name__}: {exc}"
                ) from None
            try:
                payload = json.dumps(value, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"{prog} --json: cannot send that value as JSON: {exc}") from None
        else:
            text = data if "raw" in flags else _interpolate(data, namespace)
            if "hex" in flags:
                try:
                    payload = bytes.fromhex(text)
                except ValueError:
                    raise UsageError(
                        f"{prog} --hex: {_short(text)!r} is not hex; write bytes as pairs of "
                        "hex digits, e.g. 48 65 6c 6c 6f"
                    ) from None
            elif "base64" in flags:
                try:
                    payload = base64.b64decode("".join(text.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise UsageError(
                        f"{prog} --base64: {_short(text)!r} is not valid base64, e.g. SGVsbG8="
                    ) from None
            else:
                payload = text
        self._ensure_open(ws, name, prog)
        ws.send(payload)

    def _ensure_open(self, ws: WebSocket, name: str, prog: str) -> None:
        if ws.readyState == ReadyState.CONNECTING and self.send_wait > 0:
            try:
                ws.wait_open(self.send_wait)
            except TimeoutError:
                raise UsageError(
                    f"{prog}: {name} did not open within {self.send_wait:g} s; nothing was sent "
                    f"(check the URL, or %ws log {name})"
                ) from None
            except WebSocketClosedError:
                pass  # reported just below, with the close code
        if ws.readyState != ReadyState.OPEN:
            if ws.readyState == ReadyState.CONNECTING:
                advice = f"wait for it to open (e.g. {name}.wait_open()) and send again"
            else:
                advice = f"reconnect with %ws connect URL --as {name} (see %ws log {name})"
            raise UsageError(
                f"{prog}: {name} is {_state(ws)}, not OPEN; nothing was sent: {advice}"
            )

    def _close(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        prog = "%ws close"
        ws = self._socket(args.name, prog)
        code: int | None = None
        if args.code is not None:
            try:
                code = int(args.code)
            except ValueError:
                raise UsageError(
                    f"{prog}: CODE must be a number, 1000 or 3000-4999, not {args.code!r}"
                ) from None
        reason = " ".join(args.reason) if args.reason else None
        try:
            ws.close(code, reason)
        except DOMException as exc:
            raise UsageError(f"{prog}: {exc}") from None

    def _list(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        names: dict[WebSocket, list[str]] = {}
        for name, ws in self._sockets.items():
            names.setdefault(ws, []).append(name)
        for key, value in self._shell.user_ns.items():
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
            transcript = ws.transcript
            rows.append(
                (
                    ", ".join(names[ws]) or "-",
                    ws.url,
                    _state(ws),
                    ws.protocol or "-",
                    str(transcript.messages_in),
                    str(transcript.messages_out),
                    _format_size(transcript.bytes_in),
                    _format_size(transcript.bytes_out),
                    _format_age(now - transcript.created),
                )
            )
        demos = [
            f"demo server {server.name} for {name}: {server.url}"
            + ("" if server.running else " (stopped)")
            for name, (_, server) in sorted(self._demos.items())
        ]
        _display(SocketTable(rows, demos))

    def _log(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        ws = self._socket(args.name, "%ws log")
        transcript = ws.transcript
        records = transcript.records(limit=None if args.all else (args.n or self.log_lines))
        header = f"{args.name}  {ws.url}  {_state(ws)}"
        if not records:
            print(f"{header}  (no records yet)")
            return
        print(f"{header}  (last {len(records)} of {transcript.total} records)")
        print("\n".join(format_record(record) for record in records))

    def _demo(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        from . import demo

        prog = "%ws demo"
        name = args.name or args.server
        self._check_name(name, prog)
        options = {} if args.rate is None else {"rate": args.rate}
        key = (args.server, tuple(sorted(options.items())), args.port)
        current = self._demos.get(name)
        if current is not None and current[0] == key and current[1].running:
            server = current[1]
        else:
            if current is not None:
                self._retire(name)
                del self._demos[name]
                with contextlib.suppress(TimeoutError):  # a daemon thread: harmless
                    current[1].stop()
            try:
                server = demo.start(args.server, port=args.port, **options)
            except (OSError, TypeError, ValueError) as exc:
                raise UsageError(f"{prog} {args.server}: {exc}") from None
            self._demos[name] = (key, server)
        print(f"{args.server} demo server at {server.url}: {demo.SERVERS[args.server]}")
        show = self.display_on_connect and not args.no_display
        self._open(prog, name, server.url, [], {}, args.binary_type, show)

    def _on(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        prog = "%%ws on"
        if cell is None:
            raise UsageError(
                "%ws on needs the handler as a cell body: start the cell with "
                "%%ws on NAME EVENT and put the code below it"
            )
        name, event_type = args.name, args.event
        self._check_name(name, prog)
        if event_type not in EVENTS:
            raise UsageError(
                f"{prog}: unknown event {event_type!r}; use open, message, error or close"
            )
        shell = self._shell
        try:
            source: str = shell.transform_cell(cell)  # type: ignore[no-untyped-call]
        except SyntaxError as exc:
            raise UsageError(f"{prog}: SyntaxError in the handler body: {exc.msg}") from None
        # A leading newline makes line numbers in tracebacks match the cell's lines.
        source = "\n" + source
        number = max(shell.execution_count - 1, 0)
        filename = shell.compile.cache(source, number, raw_code="\n" + cell)
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise UsageError(
                f"{prog}: SyntaxError in the handler body at line {exc.lineno}: {exc.msg}"
            ) from None
        cell_id = self._current_cell_id()
        key = ("cell", cell_id) if cell_id else ("text", line.strip(), cell)
        handler = _CellHandler(shell, key, name, event_type, code, contextvars.copy_context())
        previous = self._handlers.pop(key, None)
        if previous is not None:
            previous.detach()
        self._handlers[key] = handler
        ws = self._lookup(name)
        if ws is None:
            print(
                f"Note: no WebSocket named {name!r} yet; this {event_type} handler is attached "
                f"when %ws connect URL --as {name} (or %ws demo --as {name}) opens it."
            )
            return
        handler.attach(ws)
        if event_type == "open" and ws.readyState != ReadyState.CONNECTING:
            print(
                f"Note: {name} is already {ws.readyState.name}, so this open handler runs "
                f"when {name} is connected again (re-run its %ws connect)."
            )
        elif ws.readyState == ReadyState.CLOSED:
            print(
                f"Note: {name} is CLOSED, so this handler runs when {name} is connected "
                "again (re-run its %ws connect)."
            )

    def _off(self, args: argparse.Namespace, line: str, cell: str | None) -> None:
        prog = "%ws off"
        if args.event is not None and args.event not in EVENTS:
            raise UsageError(
                f"{prog}: unknown event {args.event!r}; use open, message, error or close"
            )
        matching = [
            key
            for key, handler in self._handlers.items()
            if handler.name == args.name and args.event in (None, handler.event_type)
        ]
        if not matching and self._lookup(args.name) is None:
            self._socket(args.name, prog)  # raises the unknown-NAME error
        for key in matching:
            self._handlers.pop(key).detach()
        what = f"{args.event} " if args.event else ""
        plural = "" if len(matching) == 1 else "s"
        print(f"Removed {len(matching)} %%ws on {what}handler{plural} of {args.name}.")


class _Completer:
    """Tab completion for ``%ws``: subcommands, options, socket names, events, demos.

    An IPython matcher (API v2) kept in ``shell.Completer.custom_matchers`` while the
    extension is loaded.
    """

    matcher_api_version = 2
    matcher_priority = 0.0
    matcher_identifier = "ipyws.ws"

    def __init__(self, magics: WSMagics) -> None:
        self.magics = magics
        self.__qualname__ = "ipyws.ws"

    def __call__(self, context: CompletionContext) -> dict[str, Any]:
        """Return the completions for the ``%ws`` line under the cursor."""
        nothing: dict[str, Any] = {"completions": [], "suppress": False}
        match = re.match(r"\s*%{1,2}ws\s+", context.text_until_cursor)
        if match is None:
            return nothing
        typed = context.text_until_cursor[match.end() :]
        words = typed.split()
        if not typed or typed[-1].isspace():
            words.append("")
        current = words[-1]
        if current != context.token:
            return nothing  # inside quotes or after a delimiter: leave it to IPython
        candidates: Iterable[str] = ()
        subcommand = words[0]
        previous = words[-2] if len(words) > 1 else ""
        if len(words) == 1:
            candidates = SUBCOMMANDS
        elif subcommand not in _PARSERS:
            return nothing
        elif current.startswith("-"):
            candidates = _options_of(subcommand)
        elif previous == "--as":
            candidates = self.magics._names()
        elif previous == "--binary-type":
            candidates = ("arraybuffer", "blob")
        elif len(words) == 2 and subcommand in ("send", "close", "log", "on", "off"):
            candidates = self.magics._names()
        elif len(words) == 3 and subcommand in ("on", "off"):
            candidates = EVENTS
        elif len(words) == 2 and subcommand == "demo":
            candidates = DEMOS
        found = [SimpleCompletion(c, type="ipyws") for c in candidates if c.startswith(current)]
        return {"completions": found, "suppress": bool(found)}


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _interpolate(text: str, namespace: dict[str, Any]) -> str:
    """Replace each ``{expression}`` by its value, as IPython does for ``!`` commands.

    As in IPython, the text is left unchanged when any expression fails, which is what lets
    JSON such as ``{"op": "subscribe"}`` through untouched. ``$name`` is not expanded:
    dollars are common in messages.
    """
    if "{" not in text and "}" not in text:
        return text
    try:
        return FullEvalFormatter().vformat(text, args=[], kwargs=namespace)
    except Exception:  # the IPython rule: a failed expansion leaves the text as is
        return text


def _overview() -> str:
    lines = ["%ws: WebSockets from notebook cells (ipyws). Subcommands:", ""]
    width = max(len(s) for s in SUBCOMMANDS)
    lines += [f"  {sub.ljust(width)}  {summary}" for sub, summary in _SUMMARIES.items()]
    lines += ["", "%ws SUBCOMMAND --help explains one; %ws? (or %ws --help) shows everything."]
    return "\n".join(lines)


_USAGE = """\
WebSockets from notebook cells (ipyws): connect, send, close, list, log, demo, on, off.

  %ws connect URL [--as NAME] [--protocol P ...] [--header "K: V" ...] [--origin O]
                  [--binary-type arraybuffer] [--no-display] [connection options]
  %ws send NAME DATA                 text; {expression} is interpolated
  %ws send NAME --json EXPR          a Python value as JSON text
  %ws send NAME --hex HEX | --base64 B64     bytes, as a binary message
  %%ws send NAME [--json | --hex | --base64] [--raw]     the cell body is the message
  %ws close NAME [CODE [REASON]]
  %ws list
  %ws log NAME [-n N | --all]
  %ws demo {echo,ticker,chat,binary} [--as NAME] [--rate R]
  %%ws on NAME EVENT                 the cell body runs on each EVENT, with `event` bound
  %ws off NAME [EVENT]

Every cell is safe to re-run: connecting again under a NAME closes the socket it held (its
%%ws on handlers move to the new one), and running a %%ws on cell again replaces its handler.
Sockets are real ipyws.WebSocket objects: NAME.readyState, NAME.send(...),
NAME.transcript.to_dataframe() work as usual. %unload_ext ipyws closes every socket the
magics opened and stops their demo servers.

Examples:

  %load_ext ipyws
  %ws demo ticker --as feed                 # a local JSON price feed, no network needed
  %ws send feed {"op": "subscribe", "symbol": "ACME"}
  %ws log feed -n 5

  %%ws on feed message
  tick = json.loads(event.data)
  print(tick["symbol"], tick["price"])

  %ws connect wss://example.org/socket --as api --header "Authorization: Bearer {token}"
  %ws send api --json {"op": "ping", "id": next_id}
  %ws close api 1000 bye
"""


def _full_help() -> str:
    parts = [_USAGE]
    for subcommand, make in _PARSERS.items():
        parts.append(f"--- {subcommand} " + "-" * (70 - len(subcommand)))
        parts.append(make().format_help())
        if subcommand == "send":
            parts.append(_send_parser(cell=True).format_help())
    parts.append("--- configuration (%config WSMagics.<name> = value) " + "-" * 20)
    for name, trait in sorted(WSMagics.class_traits(config=True).items()):
        parts.append(f"  WSMagics.{name} = {trait.default_value!r}\n      {trait.help}")
    return "\n".join(parts)


WSMagics.ws.__doc__ = _full_help()


def load_ipython_extension(shell: InteractiveShell) -> WSMagics:
    """Register the magics on ``shell`` (once: loading again returns the same instance)."""
    existing = shell.magics_manager.registry.get(WSMagics.__name__)
    if isinstance(existing, WSMagics):
        return existing
    magics = WSMagics(shell)
    shell.register_magics(magics)
    magics._install()
    return magics


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """Close what the magics opened, stop their demo servers and remove the magics."""
    magics = shell.magics_manager.registry.get(WSMagics.__name__)
    if not isinstance(magics, WSMagics):
        return
    magics._uninstall()
    magics.shutdown()
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        registered = table.get("ws")
        if getattr(registered, "__self__", None) is magics:
            del table["ws"]
    del shell.magics_manager.registry[WSMagics.__name__]
    if magics in shell.configurables:
        shell.configurables.remove(magics)
