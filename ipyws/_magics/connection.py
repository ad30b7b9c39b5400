"""``%ws connect``, ``%ws demo`` and ``%ws close``: opening and closing sockets by NAME."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .._format import format_size
from .._options import ENGINES
from .._platform import PYODIDE
from .._reconnect import Reconnect
from .._websocket import ReadyState, WebSocket
from ..exceptions import DOMException
from .parsing import (
    Call,
    Parser,
    Subcommand,
    add_show_options,
    count,
    limit,
    port,
    rate,
    seconds,
    size,
)

if TYPE_CHECKING:
    from .magics import WSMagics

__all__ = ["CLOSE", "CONNECT", "DEMO", "DEMOS"]

#: The demo servers ``%ws demo`` starts.
DEMOS = ("binary", "chat", "echo", "ticker")


# -- %ws connect ---------------------------------------------------------------------------

#: The constructor's options ``%ws connect`` takes as a number or 'none', with the flag's
#: value type and metavar. Their defaults and descriptions are read from ``WebSocket``.
_TUNED: tuple[tuple[str, Callable[[str], float | None], str], ...] = (
    ("max_size", size, "BYTES"),
    ("ping_interval", seconds, "S"),
    ("ping_timeout", seconds, "S"),
    ("open_timeout", seconds, "S"),
    ("close_timeout", seconds, "S"),
    ("max_backlog", limit, "N"),
    ("max_backlog_bytes", size, "BYTES"),
)


def constructor_options() -> dict[str, tuple[Any, str]]:
    """Return WebSocket's keyword options: each one's default (its signature) and description.

    The signature is the one place the defaults are written, and the ``Args`` section of the
    class docstring the one place each option is described; the magic's help is made of both.
    """
    described: dict[str, str] = {}
    name = None
    in_args = False
    for line in (inspect.getdoc(WebSocket) or "").splitlines():
        if line.strip() == "Args:":
            in_args = True
        elif in_args and (entry := re.match(r" {4}(\w+): (.*)", line)):
            name = entry.group(1)
            described[name] = entry.group(2)
        elif in_args and name and line.startswith(" " * 8):
            described[name] += " " + line.strip()
        elif in_args and line.strip():
            break
    return {
        param.name: (param.default, described.get(param.name, ""))
        for param in inspect.signature(WebSocket).parameters.values()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }


def _tuned_help(default: Any, description: str, kind: Callable[[str], float | None]) -> str:
    """Make a flag's help of the option's description: its first clause, the default, 'none'."""
    first, _, rest = description.partition("; ")
    shown = format_size(default) if kind is size else f"{default:g}"
    none = rest.split(".")[0].replace("None", "'none'", 1) if rest.startswith("None") else ""
    return f"{first} (default {shown}{'; ' + none if none else ''})"


def connect_parser() -> Parser:
    """Return the parser of ``%ws connect``."""
    parser = Parser(
        "connect",
        description="Open a WebSocket to URL in the background, bind it to NAME in the user "
        "namespace and show it. The cell returns at once. Connecting again under the same "
        "NAME first closes the socket NAME held, and moves its %%ws on handlers to the new one.",
        epilog="examples:\n"
        "  %ws connect ws://127.0.0.1:8765/ --as feed\n"
        "  %ws connect wss://example.org/chat --protocol chat.v2 \\\n"
        "      --header 'Authorization: Bearer {token}'\n"
        "  %ws connect {server.url} --binary-type arraybuffer --no-display\n"
        "  %ws connect wss://localhost:8443/ --insecure     # a self-signed test server\n"
        "  %ws connect {server.url} --as feed --reconnect --reconnect-max-delay 10",
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
    add_show_options(parser)
    options = parser.add_argument_group("connection options")
    known = constructor_options()
    for name, kind, metavar in _TUNED:
        # Absent unless given ('none' gives None), so WebSocket's own defaults apply.
        options.add_argument(
            "--" + name.replace("_", "-"),
            default=argparse.SUPPRESS,
            type=kind,
            metavar=metavar,
            help=_tuned_help(*known[name], kind),
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
        type=count,
        metavar="N",
        help="transcript records to keep (default: WSMagics.log_size)",
    )
    options.add_argument(
        "--log-pings", action="store_true", help="record pings and pongs in the transcript"
    )
    options.add_argument(
        "--engine",
        choices=ENGINES,
        help="the protocol engine (picows is the faster; default: the engine= default)",
    )
    options.add_argument(
        "--drop-oldest",
        action="store_true",
        help="past the backlog limits, drop the oldest unhandled messages instead of pausing",
    )
    again = parser.add_argument_group(
        "reconnecting (see the how-to 'Keep a feed running for hours')"
    )
    again.add_argument(
        "--reconnect",
        action="store_true",
        help="connect again, on the same socket, whenever a connection ends without "
        "%%ws close (any option below implies it)",
    )
    for flag, field, kind, metavar, text in _RECONNECT:
        again.add_argument(
            flag,
            dest=field,
            default=argparse.SUPPRESS,
            type=kind,
            metavar=metavar,
            help=_reconnect_help(field, text),
        )
    return parser


def _number(text: str) -> float:
    """Read a number >= 0 (seconds or a factor)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text!r}")
    return value


#: The Reconnect policy's options: flag, field, value type, metavar, help.
_RECONNECT: tuple[tuple[str, str, Callable[[str], float | int], str, str], ...] = (
    ("--reconnect-delay", "initial_delay", _number, "S", "seconds before the first retry"),
    ("--reconnect-max-delay", "max_delay", _number, "S", "the longest wait between tries"),
    ("--reconnect-factor", "factor", _number, "F", "each wait is F times the last"),
    ("--reconnect-jitter", "jitter", _number, "J", "share of each wait drawn at random"),
    ("--reconnect-attempts", "max_attempts", count, "N", "give up after N tries in a row"),
    ("--reconnect-reset", "reset_after", _number, "S", "uptime that resets the backoff"),
)


def _reconnect_help(field: str, text: str) -> str:
    """Make a policy flag's help: its description and the default, read from Reconnect."""
    default = getattr(Reconnect(), field)
    return f"{text} (default {'never' if default is None else format(default, 'g')})"


def _reconnect_policy(prog: str, args: argparse.Namespace) -> Reconnect | None:
    """Return the policy ``--reconnect`` and its options ask for, or None."""
    given = {field: getattr(args, field) for _, field, *_ in _RECONNECT if hasattr(args, field)}
    if not given and not args.reconnect:
        return None
    try:
        return Reconnect(**given)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{prog}: {exc}") from None


def connect(magics: WSMagics, call: Call) -> None:
    """Open a socket from the parsed options and bind it to NAME."""
    prog = "%ws connect"
    args = call.args
    headers = []
    for header in args.header:
        key, sep, value = header.partition(":")
        # The text is not quoted back: it may hold a token.
        problem = ""
        if not sep:
            problem = "it has no colon"
        elif not key.strip():
            problem = "its name is empty"
        elif any(c.isspace() for c in key.strip()):
            problem = "its name holds a space"
        if problem:
            raise UsageError(
                f"{prog}: --header needs 'Name: value', and {problem} "
                "(quote it: --header 'Authorization: Bearer xyz')"
            )
        headers.append((key.strip(), value.strip()))
    options: dict[str, Any] = {}
    if headers:
        options["headers"] = headers
    if args.origin is not None:
        options["origin"] = args.origin
    for option, *_ in _TUNED:
        if hasattr(args, option):  # absent unless given
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
    if args.log_pings:
        options["log_pings"] = True
    if args.drop_oldest:
        options["drop_oldest"] = True
    if args.engine is not None:
        options["engine"] = args.engine
    policy = _reconnect_policy(prog, args)
    if policy is not None:
        options["reconnect"] = policy
    magics.open_socket(
        prog,
        args.name or magics.default_name,
        args.url,
        args.protocol,
        options,
        args.binary_type,
        magics.display_on_connect and not args.no_display,
        log_size=args.log_size,
    )


CONNECT = Subcommand(
    "connect", "open a WebSocket, bind it to NAME and show it", connect_parser, connect
)


# -- %ws demo ------------------------------------------------------------------------------


def demo_parser() -> Parser:
    """Return the parser of ``%ws demo``."""
    parser = Parser(
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
        type=rate,
        metavar="R",
        help="messages per second, ticker and binary (default 10)",
    )
    parser.add_argument("--port", type=port, default=0, help="TCP port (default: any free one)")
    add_show_options(parser)
    return parser


def demo(magics: WSMagics, call: Call) -> None:
    """Start (or reuse) a demo server and connect NAME to it."""
    prog = "%ws demo"
    args = call.args
    name = args.name or args.server
    if PYODIDE:
        raise UsageError(pyodide_demo_advice(args.server, name))
    from ..demo import SERVERS, start

    magics.check_name(name, prog)
    options = {} if args.rate is None else {"rate": args.rate}
    key = (args.server, tuple(sorted(options.items())), args.port)
    current = magics.demo_servers.get(name)
    if current is not None and current[0] == key and current[1].running:
        server = current[1]
    else:
        if current is not None:
            magics.retire(name)
            del magics.demo_servers[name]
            with contextlib.suppress(TimeoutError):  # a daemon thread: harmless
                current[1].stop()
        try:
            server = start(args.server, port=args.port, **options)
        except (OSError, TypeError, ValueError) as exc:
            raise UsageError(f"{prog} {args.server}: {exc}") from None
        magics.demo_servers[name] = (key, server)
    print(f"{args.server} demo server at {server.url}: {SERVERS[args.server]}")
    show = magics.display_on_connect and not args.no_display
    magics.open_socket(prog, name, server.url, [], {}, args.binary_type, show)


def pyodide_demo_advice(server: str, name: str) -> str:
    """Say why ``%ws demo`` cannot run under Pyodide and how to run the server instead."""
    return (
        f"%ws demo {server}: a demo server cannot start inside the browser (Pyodide, as in "
        "JupyterLite, cannot listen on a port). Start it on your own machine:\n"
        f"    pip install ipyws && python -m ipyws.demo {server} --port 8765\n"
        "then connect to it from here:\n"
        f"    %ws connect ws://127.0.0.1:8765/ --as {name}\n"
        "(a page served over https:// may still reach ws://127.0.0.1: browsers treat "
        "loopback as secure; see 'ipyws in JupyterLite' in the docs)."
    )


DEMO = Subcommand("demo", "start a demo server in the kernel and connect to it", demo_parser, demo)


# -- %ws close -----------------------------------------------------------------------------


def close_parser() -> Parser:
    """Return the parser of ``%ws close``."""
    parser = Parser(
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


def close(magics: WSMagics, call: Call) -> None:
    """Start closing NAME with the given code and reason."""
    prog = "%ws close"
    args = call.args
    ws = magics.socket(args.name, prog)
    code: int | None = None
    if args.code is not None:
        try:
            code = int(args.code)
        except ValueError:
            raise UsageError(
                f"{prog}: CODE must be a number, 1000 or 3000-4999, not {args.code!r}"
            ) from None
    reason = " ".join(args.reason) if args.reason else None
    before = ws.readyState
    try:
        ws.close(code, reason)
    except DOMException as exc:
        raise UsageError(f"{prog}: {exc}") from None
    print(_close_confirmation(args.name, before, code, reason))


def _close_confirmation(name: str, before: ReadyState, code: int | None, reason: str | None) -> str:
    """Say in one line what ``%ws close`` did to a socket that was ``before``."""
    if before in (ReadyState.CLOSING, ReadyState.CLOSED):
        return f"{name} is already {before.name}: nothing to do."
    if before == ReadyState.CONNECTING:
        return f"Closing {name} while CONNECTING: the connection fails (error, then close 1006)."
    sent = "an empty Close frame" if code is None else f"code {code}"
    if reason:
        sent += f", reason {reason!r}"
    return f"Closing {name} ({sent}); the close event follows when the server answers."


CLOSE = Subcommand("close", "start the closing handshake", close_parser, close)
