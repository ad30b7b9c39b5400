"""The panel's feed: what a socket's panel shows, read on the I/O side at most 20 times a second.

A socket's ``readyState`` changes only on the kernel's main thread, between cells, so a panel
that read it would freeze while a cell blocks. The feed reads the I/O side instead: the
transcript (records, counters, and the lifecycle records the I/O thread appends as the
connection opens, fails and closes). One ``Updater`` on the ipyws I/O thread's loop wakes
every ``INTERVAL`` seconds while some feed is live and lets each feed push what changed
since its last push: header values that differ and the newest few log rows (at most
``MAX_ROWS_PER_UPDATE``, previews only), never the whole log. A widget trait set from that
thread goes out on iopub at once, even while a cell blocks (``research/kernel-runtime.md``, Q4).

The log itself is the transcript, the one ring buffer: a row's id is its record's ``seq``, so a
view asks for any rows it shows (``Feed.fetch``), searches the whole ring in pages
(``Feed.search``), keeps the ring as it was while paused (``Feed.pin``) and gets one
message whole (``Feed.full_record``).

Nothing here runs per message: the I/O thread's hot path only appends to the transcript, and
the feed reads its newest records on its own timer, so a 50 000 msg/s feed costs the same 20
small reads a second as a quiet one.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import contextvars
import itertools
import json
import logging
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from ._format import (
    PREVIEW_BYTES,
    close_line,
    close_meaning,
    event_line,
    preview_bytes,
    preview_text,
)
from ._platform import io_thread
from ._text import escape_controls
from ._transcript import DEFAULT_LOG_SIZE, Window
from ._url import redact_url
from ._websocket import ReadyState, WebSocket

__all__ = [
    "DEFAULT_LOG_SIZE",
    "FETCH_LIMIT",
    "FILTER_PAGE",
    "INTERVAL",
    "MAX_ROWS_PER_UPDATE",
    "Feed",
    "Updater",
    "close_meaning",
    "derive_state",
    "feed_for",
    "record_to_row",
    "updater",
]

logger = logging.getLogger("ipyws.widgets")

#: Seconds between two updates of a panel: at most 20 frontend updates per second.
INTERVAL = 0.05
#: Rows one update carries at most: the newest; a view fetches the others when it shows them.
MAX_ROWS_PER_UPDATE = 12
#: Rows one fetch or one page of filter matches carries at most.
FETCH_LIMIT = 200
#: Matches one page of a filtered search carries unless the view asks for fewer.
FILTER_PAGE = 100
#: Records one filter request reads at most (the rest is the next page's): a search over a
#: big transcript never holds the kernel's main thread for long.
SCAN_BUDGET = 50_000
#: Rows, with their data, that a full state carries (what a saved notebook shows).
SAVED_ROWS = 100
#: Paused views whose log the feed keeps as it was (one pin each).
MAX_PINS = 8
#: Characters of text (or bytes of binary data) the detail view gets first; the rest can be
#: loaded on demand from the transcript.
ROW_DATA_LIMIT = 8192
#: Data bytes the rows of a full state carry at most; older rows carry only their preview.
UPDATE_DATA_BUDGET = 256 * 1024
#: Characters of a row's one-line preview.
PREVIEW_CHARS = 160
#: Seconds between two readings of the message rate.
RATE_STEP = 0.25
#: Seconds of message-rate history the chart shows.
HISTORY_SECONDS = 60


def _seq(record: dict[str, Any] | None) -> int:
    return -1 if record is None else int(record["seq"])


def derive_state(socket: WebSocket) -> dict[str, Any]:
    """Describe a socket as the I/O side sees it now: state, close details, counters.

    A socket that reconnects shows RECONNECTING (``ready_state`` 0) from the close of one
    connection until its next attempt starts, with the attempt and when it starts; the
    close details are those of the latest close.
    """
    transcript = socket.transcript
    lifecycle = transcript.lifecycle
    opened = lifecycle.get("open")
    closed = lifecycle.get("close")
    error = lifecycle.get("error")
    retry = lifecycle.get("reconnect")
    latest = max(_seq(opened), _seq(closed), _seq(retry))
    name = ""
    retry_at = None
    # The live counters (bufferedAmount proper only changes between tasks on the main thread).
    stats = socket.stats
    if retry is not None and latest == _seq(retry):
        state = ReadyState.CONNECTING
        # The wait as the socket has it now: reconnect() may have cut the record's short.
        if stats.next_attempt is not None and stats.next_attempt > time.time():
            name = "RECONNECTING"
            retry_at = stats.next_attempt * 1000.0
    elif closed is not None and latest == _seq(closed):
        state = ReadyState.CLOSED
    elif socket.readyState >= ReadyState.CLOSING:
        state = ReadyState.CLOSING  # close() was called on the main thread; no close record yet
    elif opened is not None:
        state = ReadyState.OPEN
    else:
        state = ReadyState.CONNECTING
    if error is not None and _seq(error) < _seq(opened):
        error = None  # a failure of an earlier connection: this one opened since
    code = closed.get("code") if closed else None
    rtt = socket.rtt
    return {
        # What the panel shows is saved with the notebook: credentials masked, and nothing a
        # server sent may drive a terminal or reorder text (control and bidi characters).
        "url": redact_url(socket.url),
        "state": name or state.name,
        "ready_state": int(state),
        "reconnect_attempt": int(retry["attempt"]) if retry else 0,
        "retry_at": retry_at,
        "rtt": None if rtt is None else round(rtt * 1000.0, 2),
        "protocol": escape_controls(str(opened.get("protocol", ""))) if opened else "",
        "extensions": escape_controls(str(opened.get("extensions", ""))) if opened else "",
        "close_code": code,
        "close_meaning": close_meaning(code),
        "close_line": (
            close_line(code, str(closed.get("reason", "")), closed.get("wasClean"))
            if closed
            else ""
        ),
        "close_reason": escape_controls(str(closed.get("reason", ""))) if closed else "",
        "was_clean": bool(closed.get("wasClean")) if closed else None,
        "error": escape_controls(str(error.get("message", ""))) if error else "",
        "buffered_amount": stats.buffered_amount,
        "backlog": stats.backlog,
        "backlog_paused": stats.paused,
        "dropped": stats.dropped,
        "messages_in": stats.messages_in,
        "messages_out": stats.messages_out,
        "bytes_in": stats.bytes_in,
        "bytes_out": stats.bytes_out,
        "created_at": stats.created * 1000.0,
        "opened_at": opened["time"] * 1000.0 if opened else None,
        "closed_at": closed["time"] * 1000.0 if state == ReadyState.CLOSED and closed else None,
    }


def _hex_preview(b64: str) -> str:
    """Return the first bytes of base64 data as spaced hex digits (`` …`` if there are more)."""
    cut = PREVIEW_BYTES // 3 * 4  # the base64 of exactly PREVIEW_BYTES bytes (24)
    return preview_bytes(base64.b64decode(b64[:cut]), truncated=len(b64) > cut)


_EVENT_FIELDS = ("seq", "type", "time")


def _json_text(value: Any) -> str:
    """Serialize event fields for the detail view (anything not JSON becomes its repr)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr)


def _direction(kind: str) -> str:
    if kind == "send":
        return "sent"
    return "received" if kind == "receive" else "event"


def record_to_row(
    record: dict[str, Any], connection: int = 1, *, data_limit: int | None = 0
) -> dict[str, Any]:
    """Turn one transcript record into a panel row; its ``id`` is the record's ``seq``.

    A row for the list carries no data (``data_limit=0``): the one-line preview is what the
    list shows. A row for the detail view (``data_limit`` a number, or None for all of it)
    also carries ``data``, ``encoding`` and ``partial`` (data cut, or cut by the transcript).
    """
    kind = record["type"]
    direction = _direction(kind)
    row: dict[str, Any] = {
        "id": record["seq"],
        "conn": connection,
        "time": round(record["time"] * 1000.0),
        "size": record.get("size", 0) if direction != "event" else 0,
        "dir": direction,
    }
    data = record.get("data") or ""
    if direction == "event":
        fields = {k: v for k, v in record.items() if k not in _EVENT_FIELDS}
        row["type"] = kind
        row["preview"] = preview_text(event_line(kind, fields), limit=PREVIEW_CHARS)
        if data_limit != 0:
            row.update(encoding="json", data=_json_text(fields), partial=False)
        return row
    binary = record.get("opcode") == 2
    row["type"] = "binary" if binary else "text"
    if binary:
        row["preview"] = _hex_preview(data) if data else "(empty)"
    else:
        row["preview"] = preview_text(data, limit=PREVIEW_CHARS) if data else "(empty)"
    if data_limit != 0:
        # Binary data is base64: 4 characters for each 3 bytes.
        cut = len(data) if data_limit is None else data_limit // 3 * 4 if binary else data_limit
        row["encoding"] = "base64" if binary else "text"
        row["data"] = data[:cut]
        row["partial"] = len(data) > cut or bool(record.get("truncated"))
    return row


def _describe(record: dict[str, Any]) -> str:
    """The text a filter reads of a record that is not a text message: preview and fields."""
    row = record_to_row(record, data_limit=None)
    preview: str = row["preview"]
    return preview if row["encoding"] != "json" else f"{preview}\n{row['data']}"


_KINDS: dict[str, Any] = {
    "all": lambda kind: True,
    "sent": lambda kind: kind == "send",
    "received": lambda kind: kind == "receive",
    "event": lambda kind: kind not in ("send", "receive"),
}


class Subscriber(Protocol):
    """A widget that shows a feed: it takes the feed's updates on the I/O thread."""

    def feed_update(self, changes: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """Show ``changes`` (values that differ since the last update) and the new ``rows``."""

    def feed_alive(self) -> bool:
        """Tell whether the widget still shows anything (its frontend view is open)."""


class Feed:
    """What the panels of one socket show, kept current by the ``Updater``.

    A feed follows one socket through all its connections (a ``reconnect`` row marks each
    boundary). Its log is a view of the socket's transcript, the one ring buffer: the newest
    ``log_size`` records after the last clear, addressed by ``seq``. Updates carry the newest
    few rows of it; views fetch the rest (``fetch``, ``search``, ``full_record``)
    when they need them.
    """

    def __init__(self, socket: WebSocket, log_size: int | None = None) -> None:
        if log_size is not None and log_size < 1:
            raise ValueError(f"log_size must be at least 1, not {log_size}")
        # One lock for polls (I/O thread) and for actions and new subscribers (main thread),
        # so a widget created between two polls neither misses nor repeats a batch.
        self.lock = threading.RLock()
        self.socket = socket
        self._log_size = log_size
        self.values: dict[str, Any] = {}
        self._subscribers: weakref.WeakSet[Any] = weakref.WeakSet()
        #: The socket's own panel (what displaying the socket shows), set by widgets.panel().
        self.main_panel: Any = None
        self._cleared_through = -1
        window = socket.transcript.window()
        self._pushed = window.total  # rows from here on go out with the updates
        # The seq of each reconnect record: a row's connection is 1 + those at or before it.
        found, _rest = window.search(
            0,
            window.total,
            pattern=None,
            kind=lambda kind: kind == "reconnect",
            describe=str,
            limit=len(window),
            budget=len(window),
        )
        self._boundaries: list[int] = [r["seq"] for r in found]
        self._pins: dict[int, Window] = {}
        self._pin_ids = itertools.count(1)
        self._step = -1
        self._rate = 0.0
        # Full from the start: an idle second then shifts a 0 out and a 0 in, which is no
        # change and costs no update.
        self._history: deque[int] = deque([0] * HISTORY_SECONDS, maxlen=HISTORY_SECONDS)
        self._second: int | None = None
        self._second_start = 0
        self.poll(push=False)

    # -- reading (I/O thread, and once on creation) ----------------------------------------

    @property
    def log_size(self) -> int:
        """The number of the transcript's newest records the log covers."""
        return self._log_size or self.socket.transcript.maxlen

    @property
    def connection(self) -> int:
        """Which connection the socket is on: 1, then +1 per reconnect."""
        return 1 + len(self._boundaries)

    def resize(self, log_size: int) -> None:
        """Cover the newest ``log_size`` records from now on."""
        if log_size < 1:
            raise ValueError(f"log_size must be at least 1, not {log_size}")
        with self.lock:
            self._log_size = log_size
            self.values["log_size"] = self.log_size
        updater().add(self)

    def subscribe(self, widget: Subscriber) -> None:
        """Push this feed's changes to ``widget`` from now on."""
        with self.lock:
            self._subscribers.add(widget)
        updater().add(self)

    def _first(self, total: int, kept: int) -> int:
        """The seq of the oldest record the log shows, of ``kept`` records up to ``total``."""
        return max(total - min(kept, self.log_size), self._cleared_through + 1)

    def _conn(self, seq: int) -> int:
        return 1 + bisect.bisect_right(self._boundaries, seq)

    def _learn_boundaries(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            seq = record["seq"]
            if record["type"] == "reconnect" and seq not in self._boundaries:
                bisect.insort(self._boundaries, seq)

    def list_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """Make the list row (no data) of ``record``."""
        return record_to_row(record, self._conn(record["seq"]))

    def snapshot_rows(self) -> list[dict[str, Any]]:
        """Return the log's newest rows with their data, oldest first (at most SAVED_ROWS).

        What a new, reloaded or saved view starts from: a notebook saved without its kernel
        still shows these rows and their detail.
        """
        with self.lock:
            transcript = self.socket.transcript
            records = transcript.tail(SAVED_ROWS)
            total = records[-1]["seq"] + 1 if records else transcript.total
            first = self._first(total, len(transcript))
            rows = [
                record_to_row(r, self._conn(r["seq"]), data_limit=ROW_DATA_LIMIT)
                for r in records
                if r["seq"] >= first
            ]
        # Spend the data budget on the newest rows; older ones keep their preview only.
        budget = UPDATE_DATA_BUDGET
        for row in reversed(rows):
            if len(row["data"]) <= budget:
                budget -= len(row["data"])
            else:
                budget = 0
                row["data"] = ""
                row["partial"] = True
        return rows

    def _collect_rows(self) -> tuple[list[dict[str, Any]], int, int, int]:
        """Return the newest rows not pushed yet, how many records they leave out, first, total."""
        transcript = self.socket.transcript
        records = transcript.tail(MAX_ROWS_PER_UPDATE)
        total = records[-1]["seq"] + 1 if records else transcript.total
        first = self._first(total, len(transcript))
        self._learn_boundaries(records)
        retry = transcript.lifecycle.get("reconnect")
        if retry is not None:
            self._learn_boundaries([retry])
        since = max(self._pushed, first)
        rows = [self.list_row(r) for r in records if r["seq"] >= since]
        skipped = max(0, total - self._pushed - len(rows))
        self._pushed = max(self._pushed, total)
        return rows, skipped, first, total

    def _rates(self, now: float, total: int) -> tuple[float, list[int] | None]:
        """Update the message rate (last second) and the per-second history; return both."""
        # A new reading every RATE_STEP, not every poll: a rate recomputed 20 times a second
        # would change (and be pushed) on each poll for a whole second after every burst.
        step = int(now / RATE_STEP)
        if step > self._step:
            self._step = step
            stats = self.socket.stats  # the rate users and %ws read too
            self._rate = round(stats.rate_in + stats.rate_out, 1)
        second = int(now)
        history_changed = False
        if self._second is None:
            self._second, self._second_start = second, total
        elif second > self._second:
            self._history.append(max(0, total - self._second_start))
            # Seconds with no poll at all (the feed was idle) had no messages.
            self._history.extend([0] * min(HISTORY_SECONDS, second - self._second - 1))
            self._second, self._second_start = second, total
            history_changed = True
        return self._rate, (list(self._history) if history_changed else None)

    def poll(self, push: bool = True) -> bool:
        """Read what changed, push it to the subscribers; return whether to keep polling."""
        with self.lock:
            socket = self.socket
            values = derive_state(socket)
            now = time.monotonic()
            rate, history = self._rates(now, values["messages_in"] + values["messages_out"])
            closed = values["state"] == "CLOSED"
            values["rate"] = 0.0 if closed else rate
            if history is not None:
                values["rate_history"] = history
            rows, skipped, first, total = self._collect_rows()
            values["connection"] = self.connection
            values["cleared_through"] = self._cleared_through
            values["log_size"] = self.log_size
            values["log_first"] = first
            values["log_total"] = total
            if rows:
                values["skipped"] = skipped
            changes = {k: v for k, v in values.items() if self.values.get(k, ...) != v}
            self.values.update(changes)
            if push and (changes or rows):
                for widget in list(self._subscribers):
                    try:
                        widget.feed_update(changes, rows)
                    except Exception:  # one broken view must not stop the others
                        logger.exception("ipyws panel update failed")
            live = any(widget.feed_alive() for widget in list(self._subscribers))
            # A closed socket's panel needs one last push, then nothing changes any more.
            return live and not (closed and not changes and not rows)

    # -- what views ask for (main thread, from the frontend) -------------------------------

    def _window(self, pin: int | None) -> tuple[Window, int]:
        """The records a request reads (a pinned window, or the transcript now) and its first."""
        with self.lock:
            window = self._pins.get(pin) if pin is not None else None
            if window is None:
                window = self.socket.transcript.window()
            return window, max(window.first, self._first(window.total, len(window)))

    def fetch(self, start: int, stop: int, pin: int | None = None) -> dict[str, Any]:
        """Return the list rows with ``start <= id < stop`` (at most FETCH_LIMIT), and the bounds.

        ``first`` and ``total`` say which rows the log holds now (or held when ``pin`` was made).
        """
        window, first = self._window(pin)
        start = max(start, first)
        records = window.records(start, min(stop, start + FETCH_LIMIT))
        with self.lock:
            rows = [self.list_row(r) for r in records]
        return {"rows": rows, "first": first, "total": window.total}

    def search(
        self,
        text: str = "",
        *,
        regex: bool = False,
        direction: str = "all",
        start: int = 0,
        stop: int | None = None,
        limit: int = FILTER_PAGE,
        pin: int | None = None,
    ) -> dict[str, Any]:
        """Find the newest ``limit`` rows with ``start <= id < stop`` that the filter keeps.

        ``text`` is found in a message's text (any case), or in an event's summary and fields;
        with ``regex`` it is a Python regular expression. ``direction`` is ``all``, ``sent``,
        ``received`` or ``event``. One call reads at most SCAN_BUDGET records, from the newest
        down; ``rest`` is then the ``stop`` to ask with for the older part (None once all of
        the range was read). An invalid pattern gives an ``error``.
        """
        if direction not in _KINDS:
            return {"error": f"direction must be one of {sorted(_KINDS)}, not {direction!r}"}
        try:
            pattern = (
                re.compile(text if regex else re.escape(text), re.IGNORECASE) if text else None
            )
        except re.error as exc:
            return {"error": f"invalid regular expression: {exc}"}
        window, first = self._window(pin)
        start = max(start, first)
        stop = window.total if stop is None else min(stop, window.total)
        found, rest = window.search(
            start,
            stop,
            pattern=pattern,
            kind=_KINDS[direction],
            describe=_describe,
            limit=max(1, min(limit, FETCH_LIMIT)),
            budget=SCAN_BUDGET,
        )
        with self.lock:
            rows = [self.list_row(r) for r in found]
        return {
            "rows": rows,
            "rest": rest if rest > start else None,
            "first": first,
            "total": window.total,
        }

    def pin(self) -> dict[str, Any]:
        """Keep the log as it is now for a paused view; return its ``pin`` id and bounds."""
        window = self.socket.transcript.window()
        with self.lock:
            pin = next(self._pin_ids)
            self._pins[pin] = window
            while len(self._pins) > MAX_PINS:  # a view that never resumed: forget the oldest
                del self._pins[min(self._pins)]
        _window, first = self._window(pin)
        return {"pin": pin, "first": first, "total": window.total}

    def unpin(self, pin: int) -> None:
        """Let go of a pinned log (its view resumed)."""
        with self.lock:
            self._pins.pop(pin, None)

    def full_record(
        self, row_id: int, limit: int | None = None, pin: int | None = None
    ) -> dict[str, Any]:
        """Return row ``row_id`` with its data (all of it, or ``limit``), or an ``error``."""
        window, _first = self._window(pin)
        record = window.get(row_id)
        if record is None and pin is not None:
            record = self.socket.transcript.window().get(row_id)
        if record is None:
            return {"error": "This message has left ws.transcript (it keeps the newest records)."}
        with self.lock:
            return record_to_row(record, self._conn(row_id), data_limit=limit)

    # -- actions (main thread, from the frontend or from Python) ---------------------------

    def send(self, text: str) -> None:
        """Send a text message on the current socket."""
        self.socket.send(text)
        updater().add(self)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close the current socket with ``code`` and ``reason``."""
        self.socket.close(code, reason)
        updater().add(self)

    def clear(self, through: int | None = None) -> None:
        """Hide the rows up to id ``through`` (all of them if None); the transcript stays."""
        with self.lock:
            last = self.socket.transcript.total - 1
            through = last if through is None else min(int(through), last)
            self._cleared_through = max(self._cleared_through, through)
        updater().add(self)

    def reconnect(self) -> WebSocket:
        """Reconnect the socket now ([`WebSocket.reconnect`][ipyws.WebSocket.reconnect]): the same
        object connects again.

        Its handlers, listeners, NAME in the namespace and transcript stay; the log shows the
        boundary between the connections.
        """
        self.socket.reconnect()
        updater().add(self)
        return self.socket


class Updater:
    """The one timer, on the ipyws I/O thread's loop, that polls every live feed."""

    def __init__(self) -> None:
        self._feeds: set[Feed] = set()
        self._woken: set[Feed] = set()  # added since the current tick began: poll again
        self._lock = threading.Lock()
        self._scheduled = False

    def add(self, feed: Feed) -> None:
        """Poll ``feed`` from the next tick on (callable from any thread)."""
        with self._lock:
            self._feeds.add(feed)
            self._woken.add(feed)
            if self._scheduled:
                return
            self._scheduled = True
        # Calls on the I/O thread run in an empty context: ipykernel then stamps the updates
        # with the running cell as parent (as for any thread's output), not with the cell
        # that first showed a panel; frontends route comm messages by comm id, nbclient
        # records them by parent.
        io_thread().call(self._schedule)

    def _schedule(self) -> None:
        # One INTERVAL from now: what the user just did shows up at once, yet no update
        # comes sooner than the coalescing allows.
        io_thread().loop.call_later(INTERVAL, self._tick, context=contextvars.Context())

    def _tick(self) -> None:
        with self._lock:
            feeds = list(self._feeds)
            self._woken.clear()
        done = []
        for feed in feeds:
            try:
                live = feed.poll()
            except Exception:  # the updater serves every panel: log, drop this one, go on
                logger.exception("ipyws panel feed failed")
                live = False
            if not live:
                done.append(feed)
        with self._lock:
            self._feeds.difference_update(f for f in done if f not in self._woken)
            if not self._feeds:
                self._scheduled = False
                return
        with contextlib.suppress(RuntimeError):  # the loop is closing at interpreter exit
            self._schedule()

    def feeds(self) -> Iterable[Feed]:
        """Return the feeds being polled (for tests and diagnostics)."""
        with self._lock:
            return list(self._feeds)


_updater: Updater | None = None
_updater_lock = threading.Lock()
_feeds: weakref.WeakKeyDictionary[WebSocket, weakref.ref[Feed]] = weakref.WeakKeyDictionary()


def updater() -> Updater:
    """Return the process's one updater."""
    global _updater
    with _updater_lock:
        if _updater is None:
            _updater = Updater()
        return _updater


def feed_for(socket: WebSocket, log_size: int | None = None) -> Feed:
    """Return the feed that shows ``socket`` (one per socket, shared by all its widgets)."""
    with _updater_lock:
        ref = _feeds.get(socket)
        feed = ref() if ref is not None else None
        if feed is None:
            feed = Feed(socket, log_size)
            _feeds[socket] = weakref.ref(feed)
            return feed
    if log_size is not None:
        feed.resize(log_size)
    return feed
