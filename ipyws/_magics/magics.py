"""The ``WSMagics`` class: the ``%ws`` line/cell magic, its settings and its sockets by NAME.

The subcommands live in their own modules (one per family, each parser beside its command);
this module holds what they share: the sockets bound to names, the ``%%ws on`` handlers, the
demo servers, and the dispatch from ``%ws SUBCOMMAND`` to the command.
"""

from __future__ import annotations

import contextlib
import difflib
import keyword
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.display import display
from traitlets import Bool, Float, Int, Unicode

from .._cells import current_run
from .._dispatch import current_dispatcher, held
from .._transcript import DEFAULT_LOG_SIZE
from .._url import parse_websocket_url
from .._websocket import WebSocket, _validate_protocols
from ..exceptions import DOMException
from .commands import COMMANDS, SUBCOMMANDS
from .completion import Completer
from .handlers import CellHandler
from .help import full_help, overview
from .parsing import Call, HelpShown, interpolate

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ..demo import DemoServer

__all__ = ["WSMagics", "load_ipython_extension", "unload_ipython_extension"]

_MISSING = object()

# IPython's display() is untyped; this is the one signature used here.
_display: Callable[[object], None] = display


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
        self.shell: InteractiveShell = shell
        #: The socket each NAME was last bound to by %ws connect / %ws demo.
        self.bound: dict[str, WebSocket] = {}
        #: %%ws on handlers by the key of the cell that registered them.
        self.cell_handlers: dict[tuple[str, ...], CellHandler] = {}
        #: Demo servers by the NAME their socket is bound to, with what started them.
        self.demo_servers: dict[str, tuple[tuple[Any, ...], DemoServer]] = {}
        #: Cell ids of the cells being run (pre_run_cell pushes, post_run_cell pops).
        self._cell_ids: list[str | None] = []
        self._installed = False
        self._completer: Completer | None = None

    # -- install / uninstall ----------------------------------------------------------

    def install(self) -> None:
        """Follow the cells being run and offer tab completion (once)."""
        if self._installed:
            return
        self._completer = Completer(self)
        self.shell.events.register("pre_run_cell", self._pre_run_cell)
        self.shell.events.register("post_run_cell", self._post_run_cell)
        completer = getattr(self.shell, "Completer", None)
        if completer is not None:
            completer.custom_matchers.append(self._completer)
        self._installed = True

    def uninstall(self) -> None:
        """Undo ``install``."""
        if not self._installed:
            return
        self._installed = False
        for name, callback in (
            ("pre_run_cell", self._pre_run_cell),
            ("post_run_cell", self._post_run_cell),
        ):
            with contextlib.suppress(ValueError):
                self.shell.events.unregister(name, callback)
        completer = getattr(self.shell, "Completer", None)
        if completer is not None and self._completer in completer.custom_matchers:
            completer.custom_matchers.remove(self._completer)
        self._completer = None

    def shutdown(self) -> None:
        """Remove the handlers, close the sockets and stop the demo servers the magics started."""
        for handler in self.cell_handlers.values():
            handler.detach()
        self.cell_handlers.clear()
        for ws in self.bound.values():
            # Also when CLOSED: that stops a socket made with --reconnect between connections.
            ws.close(1000, "%unload_ext ipyws")
        self.bound.clear()
        demos = [server for _, server in self.demo_servers.values()]
        self.demo_servers.clear()
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

    def current_cell_id(self) -> str | None:
        """Return the frontend's id of the running cell, or None when it sent none."""
        if self._cell_ids and self._cell_ids[-1]:
            return self._cell_ids[-1]
        # In a kernel the execute_request carries the cell id even where IPython was not given it.
        run = current_run(self.shell)
        return run.cell_id if run is not None else None

    # -- the magic --------------------------------------------------------------------

    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def ws(
        self, line: str, cell: str | None = None, local_ns: dict[str, Any] | None = None
    ) -> None:
        # The docstring is generated below from the subcommands' parsers (see full_help).
        namespace = {**self.shell.user_ns, **(local_ns or {})}
        stripped = line.strip()
        if not stripped:
            if cell is not None:
                raise UsageError(
                    "%%ws needs a subcommand: %%ws send NAME or %%ws on NAME EVENT; see %ws --help"
                )
            print(overview())
            return
        subcommand, *more = stripped.split(None, 1)
        rest = more[0] if more else ""
        if subcommand in ("-h", "--help", "help"):
            print(full_help(WSMagics.class_traits(config=True)))
            return
        command = COMMANDS.get(subcommand)
        if command is None:
            close = difflib.get_close_matches(subcommand, SUBCOMMANDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"%ws: unknown subcommand {subcommand!r}; {hint}use one of "
                f"{', '.join(SUBCOMMANDS)} (see %ws --help)"
            )
        if cell is not None and not command.cell:
            cell_magics = " and ".join(f"%%ws {c.name}" for c in COMMANDS.values() if c.cell)
            raise UsageError(
                f"%%ws {subcommand} takes no cell body: use %ws {subcommand} (one %); "
                f"only {cell_magics} are cell magics"
            )
        call = Call(line, rest, cell, namespace)
        try:
            if not command.raw:
                call.args = command.parser().parse_args(self._argv(subcommand, rest, namespace))
            command.run(self, call)
        except HelpShown:
            if command.raw:
                cell_parser = command.cell_parser if cell is not None else None
                print((cell_parser or command.parser)().format_help())

    def _argv(self, subcommand: str, rest: str, namespace: dict[str, Any]) -> list[str]:
        try:
            return shlex.split(interpolate(rest, namespace))
        except ValueError as exc:
            raise UsageError(f"%ws {subcommand}: {exc} (check the quotes)") from None

    # -- sockets by name --------------------------------------------------------------

    def names(self) -> list[str]:
        """Return the names of the sockets: those the magics bound and those in the namespace."""
        names = set(self.bound)
        names.update(
            key
            for key, value in self.shell.user_ns.items()
            if isinstance(value, WebSocket) and not key.startswith("_")
        )
        return sorted(names)

    def lookup(self, name: str) -> WebSocket | None:
        """Return the socket NAME holds in the namespace, else the one the magics bound to it."""
        value = self.shell.user_ns.get(name, _MISSING)
        if isinstance(value, WebSocket):
            return value
        return self.bound.get(name)

    def socket(self, name: str, prog: str) -> WebSocket:
        """Return the socket NAME holds, or raise a UsageError that says how to make one."""
        ws = self.lookup(name)
        if ws is not None:
            return ws
        value = self.shell.user_ns.get(name, _MISSING)
        if value is not _MISSING:
            raise UsageError(
                f"{prog}: {name!r} is of type {type(value).__name__}, not a WebSocket; "
                f"bind one with %ws connect URL --as {name}"
            )
        known = self.names()
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

    def check_name(self, name: str, prog: str) -> None:
        """Raise a UsageError unless NAME can be a Python variable."""
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(
                f"{prog}: NAME must be a Python variable name such as feed or ws2, not {name!r}"
            )

    def retire(self, name: str) -> None:
        """Close what NAME held (in the namespace and in our registry); its handlers stay ours."""
        for ws in {self.lookup(name), self.bound.get(name)}:
            if ws is None:
                continue
            for handler in self.cell_handlers.values():
                if handler.socket is ws and handler.name == name:
                    handler.detach()
            # Also when CLOSED: that stops a socket made with --reconnect between connections.
            ws.close(1000, f"replaced by a new %ws connect --as {name}")

    def open_socket(
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
        self.check_name(name, prog)
        try:
            # Validate before touching the old socket: a typo must not cost the connection.
            parse_websocket_url(url)
            _validate_protocols(protocols)
        except DOMException as exc:
            raise UsageError(f"{prog}: {exc}") from None
        self.retire(name)
        # Where handlers run on another thread (plain IPython), a loopback open could be
        # dispatched before NAME's handlers are attached: hold that thread until they are.
        with held(current_dispatcher()):
            try:
                ws = WebSocket(
                    url, protocols or None, log_size=log_size or self.log_size, **options
                )
            except (DOMException, TypeError, ValueError) as exc:
                raise UsageError(f"{prog}: {exc}") from None
            if binary_type is not None:
                ws.binaryType = binary_type
            self.bound[name] = ws
            self.shell.user_ns[name] = ws
            for handler in self.cell_handlers.values():
                if handler.name == name:
                    handler.attach(ws)
        if show:
            _display(ws)
        return ws


WSMagics.ws.__doc__ = full_help(WSMagics.class_traits(config=True))


def load_ipython_extension(shell: InteractiveShell) -> WSMagics:
    """Register the magics on ``shell`` (once: loading again returns the same instance)."""
    existing = shell.magics_manager.registry.get(WSMagics.__name__)
    if isinstance(existing, WSMagics):
        return existing
    magics = WSMagics(shell)
    shell.register_magics(magics)
    magics.install()
    return magics


def unload_ipython_extension(shell: InteractiveShell) -> None:
    """Close what the magics opened, stop their demo servers and remove the magics."""
    magics = shell.magics_manager.registry.get(WSMagics.__name__)
    if not isinstance(magics, WSMagics):
        return
    magics.uninstall()
    magics.shutdown()
    for kind in ("line", "cell"):
        table = shell.magics_manager.magics[kind]
        registered = table.get("ws")
        if getattr(registered, "__self__", None) is magics:
            del table["ws"]
    del shell.magics_manager.registry[WSMagics.__name__]
    if magics in shell.configurables:
        shell.configurables.remove(magics)
