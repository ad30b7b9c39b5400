"""``%ws connect``, ``%ws demo`` and ``%ws close``: opening and closing sockets by NAME."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from .._platform import PYODIDE
from .._websocket import ReadyState
from ..exceptions import DOMException
from .options import add_connection_options, chosen_options
from .parsing import Call, Parser, Subcommand, add_show_options, port, rate

if TYPE_CHECKING:
    from .magics import WSMagics

__all__ = ["CLOSE", "CONNECT", "DEMO", "DEMOS"]

#: The demo servers ``%ws demo`` starts.
DEMOS = ("binary", "chat", "echo", "ticker")


# -- %ws connect ---------------------------------------------------------------------------


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
        dest="headers",
        action="append",
        default=[],
        metavar='"K: V"',
        help="add a handshake header (repeatable)",
    )
    add_show_options(parser)
    add_connection_options(parser)
    return parser


def connect(magics: WSMagics, call: Call) -> None:
    """Open a socket from the parsed options and bind it to NAME."""
    prog = "%ws connect"
    args = call.args
    headers = []
    for header in args.headers:
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
    try:
        options = chosen_options(args)
    except (TypeError, ValueError) as exc:  # the Reconnect policy's own checks
        raise UsageError(f"{prog}: {exc}") from None
    if headers:
        options["headers"] = headers
    log_size = options.pop("log_size", None)
    magics.open_socket(
        prog,
        args.name or magics.default_name,
        args.url,
        args.protocol,
        options,
        args.binary_type,
        magics.display_on_connect and not args.no_display,
        log_size=log_size,
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
