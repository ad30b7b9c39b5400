"""The live panel: a socket's state, counters, rate chart, message log and controls in a notebook.

Displaying a [`WebSocket`][ipyws.WebSocket] (the last expression of a cell, ``display(ws)``,
``%ws connect``) shows its [`WebSocketPanel`][ipyws.widgets.WebSocketPanel];
[`panel`][ipyws.widgets.panel] returns that same widget, one per socket, so two displays show one
live state. For dashboards the parts come separately: [`Header`][ipyws.widgets.Header] (state badge,
counters, rate chart), [`MessageLog`][ipyws.widgets.MessageLog] and
[`Controls`][ipyws.widgets.Controls] (send box, close, reconnect); all widgets of one socket share
one feed, so a reconnect pressed in one is followed by all.

The panel is an anywidget: one ES module and one CSS file under ``ipyws/static/``, no build
step. Its state lives in traits, so a saved notebook shows the last state. It updates from the
ipyws I/O thread, at most 20 times a second, and stays live while another cell blocks
(``docs/panel.md`` explains how). Everything a server sends is shown as text.

Without a widget frontend (terminal IPython, nbconvert) a socket displays as a text/HTML
snapshot instead: ``snapshot_text`` and ``snapshot_html``. With one, the panel's display is
preceded by a *saved snapshot*: an HTML output that the panel's CSS hides while the panel
renders, and that a saved or exported notebook (``jupyter nbconvert --to html``, the docs
site), where no panel can render offline, shows instead. After each cell it is redrawn if
the socket changed, so an executed copy keeps the socket's state at the end of its run.
"""

from __future__ import annotations

import html
import sys
import uuid
import weakref
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from ._format import backlog_label, format_size, format_time, plural
from ._panel_feed import (
    DEFAULT_LOG_SIZE,
    FILTER_PAGE,
    MAX_ROWS_PER_UPDATE,
    Feed,
    derive_state,
    feed_for,
    record_to_row,
)
from ._platform import PYODIDE
from ._websocket import WebSocket

__all__ = [
    "DEFAULT_LOG_SIZE",
    "MAX_ROWS_PER_UPDATE",
    "PARTS",
    "Controls",
    "Header",
    "MessageLog",
    "WebSocketPanel",
    "mimebundle",
    "panel",
    "snapshot_html",
    "snapshot_text",
]

_STATIC = Path(__file__).parent / "static"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

#: The sections a panel can show, in display order.
PARTS: tuple[str, ...] = ("header", "log", "controls")

#: Records the text/HTML snapshot lists.
SNAPSHOT_ROWS = 10


def _rows_to_json(value: Any, widget: WebSocketPanel) -> list[dict[str, Any]]:
    """Serialize ``rows`` as the log's newest rows with their data, whatever the trait holds.

    Only a full state request (a new comm, a reloaded page) serializes ``rows``; updates carry
    ``new_rows`` alone, and a view fetches older rows when it shows them.
    """
    return widget._feed.snapshot_rows() if "log" in widget.parts else []


class WebSocketPanel(anywidget.AnyWidget):  # type: ignore[misc]
    """A live view of one WebSocket: state badge, counters, rate chart, message log, controls.

    Use [`panel`][ipyws.widgets.panel] (or just display the socket) to get the one panel of a
    socket; build a new ``WebSocketPanel(ws, parts=[...])`` for a second, differently arranged view.
    """

    _esm = _STATIC / "panel.js"
    _css = _STATIC / "panel.css"
    _parts: ClassVar[tuple[str, ...]] = PARTS

    parts = traitlets.List(
        traitlets.Unicode(), help="The sections shown: 'header', 'log', 'controls'."
    ).tag(sync=True)
    url = traitlets.Unicode(help="The socket's URL.").tag(sync=True)
    state = traitlets.Unicode(
        "CONNECTING",
        help="CONNECTING, OPEN, CLOSING or CLOSED as the I/O thread sees it, or RECONNECTING "
        "while a socket made with reconnect= waits for its next attempt.",
    ).tag(sync=True)
    ready_state = traitlets.Int(0, help="The state as a number (0-3).").tag(sync=True)
    reconnect_attempt = traitlets.Int(
        0, help="The attempt of the latest reconnect (0 before any)."
    ).tag(sync=True)
    retry_at = traitlets.Float(
        None, allow_none=True, help="When the next reconnect attempt starts (ms since the epoch)."
    ).tag(sync=True)
    rtt = traitlets.Float(
        None, allow_none=True, help="Round trip of the latest answered ping, in ms."
    ).tag(sync=True)
    protocol = traitlets.Unicode(help="The subprotocol the server selected.").tag(sync=True)
    extensions = traitlets.Unicode(help="The extensions the server accepted.").tag(sync=True)
    close_code = traitlets.Int(None, allow_none=True, help="The close code once CLOSED.").tag(
        sync=True
    )
    close_meaning = traitlets.Unicode(help="What the close code means.").tag(sync=True)
    close_reason = traitlets.Unicode(help="The close reason once CLOSED.").tag(sync=True)
    close_line = traitlets.Unicode(
        help="The latest close in one line: code, meaning, reason, wasClean (as the log writes it)."
    ).tag(sync=True)
    was_clean = traitlets.Bool(None, allow_none=True, help="wasClean once CLOSED.").tag(sync=True)
    error = traitlets.Unicode(help="Why the connection failed, if it did.").tag(sync=True)
    buffered_amount = traitlets.Int(0, help="Bytes sent and not yet written.").tag(sync=True)
    backlog = traitlets.Int(
        0, help="Received messages whose handlers have not run yet (the handler is behind)."
    ).tag(sync=True)
    backlog_paused = traitlets.Bool(
        False, help="Whether reading stopped because the backlog is full."
    ).tag(sync=True)
    dropped = traitlets.Int(0, help="Messages drop_oldest dropped unhandled.").tag(sync=True)
    messages_in = traitlets.Int(0, help="Messages received.").tag(sync=True)
    messages_out = traitlets.Int(0, help="Messages sent.").tag(sync=True)
    bytes_in = traitlets.Int(0, help="Payload bytes received.").tag(sync=True)
    bytes_out = traitlets.Int(0, help="Payload bytes sent.").tag(sync=True)
    rate = traitlets.Float(0.0, help="Messages per second (in + out) over the last second.").tag(
        sync=True
    )
    rate_history = traitlets.List(
        traitlets.Int(), help="Messages per second for up to the last 60 seconds, oldest first."
    ).tag(sync=True)
    created_at = traitlets.Float(0.0, help="When the socket was made (ms since the epoch).").tag(
        sync=True
    )
    opened_at = traitlets.Float(None, allow_none=True, help="When it opened (ms).").tag(sync=True)
    closed_at = traitlets.Float(None, allow_none=True, help="When it closed (ms).").tag(sync=True)
    connection = traitlets.Int(1, help="Which connection: 1, then +1 per reconnect.").tag(sync=True)
    log_size = traitlets.Int(
        DEFAULT_LOG_SIZE, help="The transcript's newest records the log covers."
    ).tag(sync=True)
    cleared_through = traitlets.Int(-1, help="Rows up to this id were cleared.").tag(sync=True)
    log_first = traitlets.Int(0, help="The id (transcript seq) of the log's oldest row.").tag(
        sync=True
    )
    log_total = traitlets.Int(0, help="One past the id of the log's newest row.").tag(sync=True)
    rows: traitlets.List[dict[str, Any]] = traitlets.List(
        help="The log's newest rows with their data, oldest first (sent on a full sync)."
    ).tag(sync=True, to_json=_rows_to_json)
    new_rows: traitlets.List[dict[str, Any]] = traitlets.List(
        help=f"The newest rows of the latest update (at most {MAX_ROWS_PER_UPDATE}), no data."
    ).tag(sync=True)
    skipped = traitlets.Int(
        0, help="Records the latest update with rows left out (older than its rows)."
    ).tag(sync=True)

    def __init__(
        self,
        socket: WebSocket,
        *,
        parts: Sequence[str] | None = None,
        log_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Show ``socket``; ``parts`` picks sections, ``log_size`` sets the rows kept."""
        if not isinstance(socket, WebSocket):
            raise TypeError(f"WebSocketPanel needs an ipyws.WebSocket, not {type(socket).__name__}")
        chosen = list(self._parts if parts is None else parts)
        unknown = [p for p in chosen if p not in PARTS]
        if unknown:
            raise ValueError(f"unknown panel parts {unknown}; choose from {list(PARTS)}")
        feed = feed_for(socket, log_size)
        self._feed: Feed = feed  # before super().__init__: the first state sync reads it
        with feed.lock:
            initial = {k: v for k, v in feed.values.items() if k in self.class_trait_names()}
            super().__init__(parts=chosen, **initial, **kwargs)
            feed.subscribe(self)
        self.on_msg(self._on_frontend_msg)

    # -- Python API -------------------------------------------------------------------------

    @property
    def socket(self) -> WebSocket:
        """The socket shown (the same object through all its connections)."""
        return self._feed.socket

    def reconnect(self) -> WebSocket:
        """Reconnect the socket now ([`reconnect`][ipyws.WebSocket.reconnect]); return it."""
        return self._feed.reconnect()

    def clear_log(self) -> None:
        """Empty the log in every view of this socket (``ws.transcript`` keeps its records)."""
        self._feed.clear()

    # -- the feed's side (I/O thread) ---------------------------------------------------------

    def feed_alive(self) -> bool:
        """Tell whether this view is still open in a frontend (the feed stops pushing if not)."""
        return self.comm is not None

    def feed_update(self, changes: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """Take the feed's update (called on the I/O thread): changed values, new rows."""
        if self.comm is None:
            return
        shows_log = "log" in self.parts
        # One comm message per push, whatever changed: hold_sync gathers the trait updates.
        with self.hold_sync():
            for name, value in changes.items():
                if self.has_trait(name):
                    setattr(self, name, value)
            if rows and shows_log:
                self.new_rows = rows
            if changes.get("state") == "CLOSED" and shows_log:
                # Once, at the end: the whole kept log, for tools that save widget state from
                # the kernel's messages (nbclient, nbconvert --execute) rather than the page.
                self.rows = self._feed.snapshot_rows()

    # -- the frontend's side (kernel main thread) ---------------------------------------------

    def _on_frontend_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or "action" not in content:
            return  # not ours (anywidget's own commands use other keys)
        action = content["action"]
        feed = self._feed
        try:
            if action == "send":
                feed.send(str(content.get("text", "")))
            elif action == "close":
                reason = content.get("reason")
                feed.close(content.get("code"), str(reason) if reason else None)
            elif action == "reconnect":
                feed.reconnect()
            elif action == "clear":
                through = content.get("through")
                feed.clear(int(through) if through is not None else None)
            else:
                self._answer(action, content)
        except Exception as exc:  # shown in the panel: the user pressed the button there
            name = getattr(exc, "name", "") or type(exc).__name__
            self.send({"kind": "notice", "level": "error", "text": f"{name}: {exc}"})

    def _answer(self, action: str, content: dict[str, Any]) -> None:
        """Answer a view's request for rows; the answer names the view and its request."""
        feed = self._feed
        pin = content.get("pin")
        pin = int(pin) if pin is not None else None
        answer: dict[str, Any]
        if action == "fetch":
            answer = feed.fetch(int(content["start"]), int(content["stop"]), pin)
        elif action == "filter":
            stop = content.get("stop")
            answer = feed.search(
                str(content.get("text", "")),
                regex=bool(content.get("regex")),
                direction=str(content.get("dir", "all")),
                start=int(content.get("start", 0)),
                stop=int(stop) if stop is not None else None,
                limit=int(content.get("limit", FILTER_PAGE)),
                pin=pin,
            )
        elif action == "pin":
            answer = feed.pin()
        elif action == "unpin":
            if pin is not None:
                feed.unpin(pin)
            return
        elif action == "full":
            row_id = int(content.get("id", -1))
            limit = content.get("limit")
            answer = {
                **feed.full_record(row_id, int(limit) if limit is not None else None, pin),
                "id": row_id,
            }
        else:
            return
        self.send(
            {"kind": action, "view": content.get("view"), "req": content.get("req"), **answer}
        )


class Header(WebSocketPanel):
    """The state badge, URL, close details, counters, rate and rate chart of a socket."""

    _parts = ("header",)


class MessageLog(WebSocketPanel):
    """The message log of a socket: filter, pause, clear, and the detail of a selected row."""

    _parts = ("log",)


class Controls(WebSocketPanel):
    """The send box, close (code and reason) and reconnect buttons of a socket."""

    _parts = ("controls",)


def panel(socket: WebSocket, *, log_size: int | None = None) -> WebSocketPanel:
    """Return the panel of ``socket``: the same widget each time, so every display is one state."""
    feed = feed_for(socket, log_size)
    with feed.lock:
        existing = feed.main_panel
        if isinstance(existing, WebSocketPanel) and existing.comm is not None:
            return existing
        view = WebSocketPanel(socket)
        feed.main_panel = view
        return view


# -- without a widget frontend: text and HTML snapshots ---------------------------------------


def _widget_frontend() -> bool:
    """Tell whether a kernel that can open widget comms runs (Jupyter, VS Code); not a terminal."""
    if PYODIDE:  # JupyterLite's kernel opens widget comms through its own module
        return "pyodide_kernel" in sys.modules
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _summary(socket: WebSocket) -> tuple[dict[str, Any], list[str], list[dict[str, Any]]]:
    """Return the state, the summary lines (state first) and the last rows a snapshot shows."""
    values = derive_state(socket)
    if values["state"] == "CLOSED":
        lines = [f"CLOSED · {values['close_line']}"]
        if values["error"]:
            lines.append(f"error: {values['error']}")
    else:
        lines = [values["state"]]
    lines.append(
        f"protocol: {values['protocol'] or 'none'} · extensions: {values['extensions'] or 'none'}"
        f" · bufferedAmount: {values['buffered_amount']}"
    )
    lines.append(
        f"in: {plural(values['messages_in'], 'message')}, {format_size(values['bytes_in'])} · "
        f"out: {plural(values['messages_out'], 'message')}, {format_size(values['bytes_out'])}"
    )
    behind = backlog_label(values["backlog"], values["backlog_paused"], values["dropped"])
    if behind:
        lines.append(behind)
    records = socket.transcript.records(limit=SNAPSHOT_ROWS)
    rows = [record_to_row(r) for r in records]
    return values, lines, rows


_GLYPH = {"sent": "↑", "received": "↓", "event": "•"}


def snapshot_text(socket: WebSocket) -> str:
    """Describe ``socket`` in a few lines of text: state, counters and its last records."""
    values, lines, rows = _summary(socket)
    # One snapshot, one state: the header names the state the summary was read in (the
    # socket's own readyState may lag it until its next task), and only CLOSED says more.
    details = lines if values["state"] == "CLOSED" else lines[1:]
    header = f"<WebSocket {socket._shown_url} {values['state']}>"  # the repr's URL, masked
    out = [header, *(f"  {line}" for line in details)]
    if rows:
        out.append(f"  last {len(rows)} of {plural(socket.transcript.total, 'record')}:")
        for row in rows:
            size = format_size(row["size"]) if row["dir"] != "event" else ""
            when = format_time(row["time"] / 1000)
            out.append(
                f"    {when} {_GLYPH[row['dir']]} {row['type']:<7} {size:>8}  {row['preview']}"
            )
    return "\n".join(out)


_STATE_COLOURS = {
    "CONNECTING": "#9a6700",
    "OPEN": "#1a7f37",
    "CLOSING": "#bc4c00",
    "CLOSED": "#57606a",
}


def snapshot_html(socket: WebSocket) -> str:
    """Describe ``socket`` as escaped HTML: a badge, the summary and a table of its last records."""
    values, lines, rows = _summary(socket)
    esc = html.escape
    colour = _STATE_COLOURS.get(values["state"], "#57606a")
    details = lines if values["state"] == "CLOSED" else lines[1:]
    parts = [
        '<div class="ipyws-snapshot" style="font-family: sans-serif; font-size: 13px">',
        f'<div><span style="background: {colour}; color: white; padding: 1px 6px; '
        f'border-radius: 3px; font-weight: bold">{esc(values["state"])}</span> '
        f"<code>{esc(values['url'])}</code></div>",
        *(f"<div>{esc(line)}</div>" for line in details),
    ]
    if rows:
        parts.append(
            '<table style="border-collapse: collapse; font-family: monospace; font-size: 12px">'
            "<thead><tr><th></th><th>time</th><th>type</th><th>size</th><th>data</th></tr>"
            "</thead><tbody>"
        )
        for row in rows:
            size = format_size(row["size"]) if row["dir"] != "event" else ""
            parts.append(
                f'<tr><td title="{esc(row["dir"])}">{_GLYPH[row["dir"]]}</td>'
                f"<td>{esc(format_time(row['time'] / 1000))}</td><td>{esc(row['type'])}</td>"
                f'<td style="text-align: right">{esc(size)}</td>'
                f'<td style="text-align: left">{esc(row["preview"])}</td></tr>'
            )
        parts.append("</tbody></table>")
    parts.append("</div>")
    return "".join(parts)


class _SavedSnapshots:
    """The saved-snapshot displays of each socket, redrawn after every cell when they changed."""

    def __init__(self) -> None:
        #: For each socket: the display ids of its saved snapshots, and the HTML they show.
        self._shown: weakref.WeakKeyDictionary[WebSocket, tuple[list[str], str]] = (
            weakref.WeakKeyDictionary()
        )
        self._hooked: set[int] = set()

    @staticmethod
    def html(socket: WebSocket) -> str:
        """Return the saved snapshot of ``socket``: its HTML snapshot in a hideable wrapper."""
        return f'<div class="ipyws-saved-snapshot">{snapshot_html(socket)}</div>'

    def show(self, socket: WebSocket) -> None:
        """Display a saved snapshot of ``socket`` now, and keep it current after each cell."""
        from IPython import get_ipython
        from IPython.display import display

        shell = get_ipython()
        if shell is not None and id(shell) not in self._hooked:
            shell.events.register("post_run_cell", self._refresh)
            self._hooked.add(id(shell))
        display_id = uuid.uuid4().hex
        drawn = self.html(socket)
        display({"text/html": drawn}, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
        ids, _ = self._shown.get(socket, ([], drawn))
        self._shown[socket] = ([*ids, display_id], drawn)

    def _refresh(self, *_result: object) -> None:
        """Redraw the saved snapshots whose socket changed (after a cell, in its context)."""
        from IPython.display import update_display

        for socket, (ids, drawn) in list(self._shown.items()):
            now = self.html(socket)
            if now != drawn:
                for display_id in ids:
                    update_display(  # type: ignore[no-untyped-call]
                        {"text/html": now}, raw=True, display_id=display_id
                    )
                self._shown[socket] = (ids, now)


_saved_snapshots = _SavedSnapshots()


def mimebundle(
    socket: WebSocket,
    include: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> dict[str, Any]:
    """Return the display data of ``socket``: its panel's view (in a kernel) and snapshots."""
    data: dict[str, Any] = {
        "text/plain": snapshot_text(socket),
        "text/html": snapshot_html(socket),
    }
    wanted = include is None or _WIDGET_MIME in include
    if wanted and not (exclude and _WIDGET_MIME in exclude) and _widget_frontend():
        bundle: Any = panel(socket)._repr_mimebundle_()
        if isinstance(bundle, tuple):
            bundle = bundle[0]  # anywidget returns (data, metadata)
        if bundle and _WIDGET_MIME in bundle:
            data[_WIDGET_MIME] = bundle[_WIDGET_MIME]
            # An exporter shows only the widget view of a saved notebook, blank offline: the
            # saved snapshot, a separate output the live panel hides, is what it shows then.
            _saved_snapshots.show(socket)
    if include is not None:
        data = {k: v for k, v in data.items() if k in include}
    if exclude:
        data = {k: v for k, v in data.items() if k not in exclude}
    return data
