"""``%%ws on`` and ``%ws off``: cell bodies that run on a socket's events, one per cell."""

from __future__ import annotations

import contextvars
from types import CodeType
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from .._dispatch import report_exception
from .._events import Event
from .._websocket import ReadyState, WebSocket
from .parsing import EVENTS, Call, Parser, Subcommand

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .magics import WSMagics

__all__ = ["OFF", "ON", "CellHandler"]

_MISSING = object()


class CellHandler:
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


# -- %%ws on -------------------------------------------------------------------------------


def on_parser() -> Parser:
    """Return the parser of ``%%ws on``."""
    parser = Parser(
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


def on(magics: WSMagics, call: Call) -> None:
    """Compile the cell body and register it on NAME's EVENT, replacing this cell's last one."""
    prog = "%%ws on"
    cell = call.cell
    if cell is None:
        raise UsageError(
            "%ws on needs the handler as a cell body: start the cell with "
            "%%ws on NAME EVENT and put the code below it"
        )
    name, event_type = call.args.name, call.args.event
    magics.check_name(name, prog)
    if event_type not in EVENTS:
        raise UsageError(f"{prog}: unknown event {event_type!r}; use open, message, error or close")
    shell = magics.shell
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
    cell_id = magics.current_cell_id()
    key = ("cell", cell_id) if cell_id else ("text", call.line.strip(), cell)
    handler = CellHandler(shell, key, name, event_type, code, contextvars.copy_context())
    previous = magics.cell_handlers.pop(key, None)
    if previous is not None:
        previous.detach()
    magics.cell_handlers[key] = handler
    ws = magics.lookup(name)
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


ON = Subcommand("on", "(%%ws) run the cell body on each EVENT of NAME", on_parser, on, cell=True)


# -- %ws off -------------------------------------------------------------------------------


def off_parser() -> Parser:
    """Return the parser of ``%ws off``."""
    parser = Parser(
        "off",
        description="Remove the handlers that %%ws on cells registered for NAME (only those "
        "for EVENT if given). Handlers set from Python (NAME.onmessage = f) stay.",
        epilog="examples:\n  %ws off feed\n  %ws off feed message",
    )
    parser.add_argument("name", metavar="NAME", help="the socket's variable name")
    parser.add_argument("event", metavar="EVENT", nargs="?", help="open, message, error or close")
    return parser


def off(magics: WSMagics, call: Call) -> None:
    """Remove NAME's ``%%ws on`` handlers (of one EVENT if given)."""
    prog = "%ws off"
    args = call.args
    if args.event is not None and args.event not in EVENTS:
        raise UsageError(f"{prog}: unknown event {args.event!r}; use open, message, error or close")
    matching = [
        key
        for key, handler in magics.cell_handlers.items()
        if handler.name == args.name and args.event in (None, handler.event_type)
    ]
    if not matching and magics.lookup(args.name) is None:
        magics.socket(args.name, prog)  # raises the unknown-NAME error
    for key in matching:
        magics.cell_handlers.pop(key).detach()
    what = f"{args.event} " if args.event else ""
    plural = "" if len(matching) == 1 else "s"
    print(f"Removed {len(matching)} %%ws on {what}handler{plural} of {args.name}.")


OFF = Subcommand("off", "remove the %%ws on handlers of NAME", off_parser, off)
