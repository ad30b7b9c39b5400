"""``%ws send`` and ``%%ws send``: one message, as text, JSON or bytes."""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from .._format import shorten
from .._platform import PYODIDE
from .._waiting import WebSocketClosedError
from .._websocket import ReadyState, WebSocket
from .inspection import state_label
from .parsing import Call, HelpShown, Parser, Subcommand, interpolate

if TYPE_CHECKING:
    from .magics import WSMagics

__all__ = ["SEND"]

_SEND_FLAGS = {"--json": "json", "--hex": "hex", "--base64": "base64", "--raw": "raw"}
_OPTION_RE = re.compile(r"--[A-Za-z][\w-]*")
_TOKEN_RE = re.compile(r"\s*(\S+)")


def send_parser(cell: bool = False) -> Parser:
    """Return the parser of ``%ws send`` (or ``%%ws send``), for its help and completion.

    DATA is the raw rest of the line, which argparse (and shlex) would mangle, so
    ``split_send`` parses the real thing.
    """
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
            "literal braces; if an expression fails, the text is sent unchanged, with a "
            "one-line warning naming it). Put -- "
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
    parser = Parser("send", cell=cell, description=description, epilog=epilog)
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


def split_send(rest: str) -> tuple[set[str], str | None, str]:
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
            raise HelpShown
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


def send(magics: WSMagics, call: Call) -> None:
    """Send the line's DATA (or the cell body) on NAME."""
    cell, namespace = call.cell, call.namespace
    prog = "%%ws send" if cell is not None else "%ws send"
    flags, name, data = split_send(call.rest)
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
                f"{prog}: the message is the cell body; remove {data.strip()!r} from the first line"
            )
        data = cell.rstrip("\r\n")
    elif not data:
        raise UsageError(
            f"{prog}: nothing to send; give DATA after {name} (or use %%ws send {name} "
            "with the message as the cell body)"
        )
    ws = magics.socket(name, prog)
    payload: str | bytes
    if "json" in flags:
        try:
            value = eval(data, magics.shell.user_global_ns, namespace)
        except Exception as exc:  # any failure of the user's expression
            raise UsageError(
                f"{prog} --json: the expression failed: {type(exc).__name__}: {exc}"
            ) from None
        try:
            payload = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{prog} --json: cannot send that value as JSON: {exc}") from None
    else:
        text = data if "raw" in flags else interpolate(data, namespace, _warner(prog))
        if "hex" in flags:
            try:
                payload = bytes.fromhex(text)
            except ValueError:
                raise UsageError(
                    f"{prog} --hex: {shorten(text, 40)!r} is not hex; write bytes as pairs of "
                    "hex digits, e.g. 48 65 6c 6c 6f"
                ) from None
        elif "base64" in flags:
            try:
                payload = base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError):
                raise UsageError(
                    f"{prog} --base64: {shorten(text, 40)!r} is not valid base64, e.g. SGVsbG8="
                ) from None
        else:
            payload = text
    _ensure_open(magics, ws, name, prog)
    ws.send(payload)


def _warner(prog: str) -> Callable[[str, BaseException], None]:
    """Return what says, in one line on stderr, that an ``{expression}`` was sent as typed."""

    def warn(expression: str, error: BaseException) -> None:
        print(
            f"{prog}: {{{expression}}} was not expanded ({type(error).__name__}: {error}); "
            "the text was sent as typed (write {{ }} for literal braces, or use --raw)",
            file=sys.stderr,
        )

    return warn


def _ensure_open(magics: WSMagics, ws: WebSocket, name: str, prog: str) -> None:
    """Wait up to ``send_wait`` for a CONNECTING socket; refuse to send unless it is OPEN."""
    # Under Pyodide nothing may block: the socket opens once this cell has ended.
    if ws.readyState == ReadyState.CONNECTING and magics.send_wait > 0 and not PYODIDE:
        try:
            ws.wait_open(magics.send_wait)
        except TimeoutError:
            raise UsageError(
                f"{prog}: {name} did not open within {magics.send_wait:g} s; nothing was sent "
                f"(check the URL, or %ws log {name})"
            ) from None
        except WebSocketClosedError:
            pass  # reported just below, with the close code
    if ws.readyState != ReadyState.OPEN:
        if ws.readyState == ReadyState.CONNECTING:
            wait = f"await {name}.opened" if PYODIDE else f"{name}.wait_open()"
            advice = f"wait for it to open (e.g. {wait}) and send again"
        else:
            advice = f"reconnect with %ws connect URL --as {name} (see %ws log {name})"
        raise UsageError(
            f"{prog}: {name} is {state_label(ws)}, not OPEN; nothing was sent: {advice}"
        )


SEND = Subcommand(
    "send",
    "send text, a Python value as JSON, or bytes",
    send_parser,
    send,
    cell=True,
    cell_parser=lambda: send_parser(cell=True),
    raw=True,
)
