"""How ipyws writes values for people: sizes, times, durations, close lines, previews, records.

One rule per kind of value, for every surface: the ``%ws`` magics, the panel (its feed and
rows, computed in the kernel) and the text/HTML snapshots. The panel's ES module keeps one
copy of the rules it applies in the browser itself (``formatBytes``, ``formatTime``,
``formatDuration`` in ``static/panel.js``, for values that change there), written to match
these; everything else reaches it already formatted (the close line, row previews).
Everything a server sent passes through `escape` before it is shown, so a message or a
close reason cannot drive a terminal (ANSI escapes) or reorder what is read.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from ._text import escape_controls

__all__ = [
    "CLOSE_CODES",
    "backlog_label",
    "close_line",
    "close_meaning",
    "escape",
    "event_line",
    "format_age",
    "format_record",
    "format_size",
    "format_time",
    "plural",
    "preview_bytes",
    "preview_text",
    "shorten",
]

#: Characters of a text preview, unless the surface asks for another width.
PREVIEW_CHARS = 100
#: Bytes of a binary preview (shown as hex).
PREVIEW_BYTES = 24


#: Control and bidi-override characters written as escapes (see ``_text.escape_controls``).
escape = escape_controls


def shorten(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, the last one an ellipsis if it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview_text(text: str, truncated: bool = False, limit: int = PREVIEW_CHARS) -> str:
    """Return text as one escaped line cut to ``limit``; ``truncated`` adds the ellipsis anyway.

    Line breaks show as ``\\n`` (escaped like every control character), so a preview is one
    line that still tells where the message broke.
    """
    shown = escape(text[: limit * 8])  # an escape is at most 6 characters
    if len(shown) > limit:
        return shorten(shown, limit)
    return shown + ("…" if truncated else "")


def preview_bytes(data: bytes, truncated: bool = False) -> str:
    """Return the first PREVIEW_BYTES bytes as spaced hex digits, `` …`` if there are more."""
    shown = " ".join(f"{b:02x}" for b in data[:PREVIEW_BYTES])
    return shown + (" …" if truncated or len(data) > PREVIEW_BYTES else "")


def format_size(size: int) -> str:
    """Write a byte count in binary units: ``512 B``, ``1.5 KiB``, ``64.0 MiB``.

    The panel's ``formatBytes`` applies the same rule in the browser.
    """
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"


def format_age(seconds: float) -> str:
    """Write a duration in two units at most: ``4.2 s``, ``42 s``, ``3 min 07 s``, ``2 h 05 min``.

    The panel's ``formatDuration`` applies the same rule in the browser (a socket's age ticks
    there).
    """
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60):02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def format_time(when: float) -> str:
    """Write a time (seconds since the epoch) as local ``HH:MM:SS.mmm``."""
    seconds, millis = divmod(round(when * 1000), 1000)
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"


def plural(count: int, word: str) -> str:
    """Write ``count`` with ``word`` in the singular or plural: ``1 message``, ``1,024 records``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


#: Close codes and their names (RFC 6455 section 7.4.1 and the IANA registry).
CLOSE_CODES: dict[int, str] = {
    1000: "Normal Closure",
    1001: "Going Away",
    1002: "Protocol Error",
    1003: "Unsupported Data",
    1005: "No Status Received",
    1006: "Abnormal Closure",
    1007: "Invalid Payload Data",
    1008: "Policy Violation",
    1009: "Message Too Big",
    1010: "Mandatory Extension",
    1011: "Internal Error",
    1012: "Service Restart",
    1013: "Try Again Later",
    1014: "Bad Gateway",
    1015: "TLS Handshake Failed",
}


def close_meaning(code: int | None) -> str:
    """Name a close code: its registered meaning, or the range it belongs to."""
    if code is None:
        return ""
    if code in CLOSE_CODES:
        return CLOSE_CODES[code]
    if 3000 <= code <= 3999:
        return "Registered by a library or framework"
    if 4000 <= code <= 4999:
        return "Application-defined"
    return "Reserved"


def close_line(code: int | None, reason: str, was_clean: bool | None) -> str:
    """Describe a close: ``1000 Normal Closure · reason "done" · wasClean: true``."""
    said = f' · reason "{escape(reason)}"' if reason else ""
    return f"{code} {close_meaning(code)}{said} · wasClean: {str(bool(was_clean)).lower()}"


def event_line(kind: str, fields: dict[str, Any]) -> str:
    """Describe a lifecycle record (open, close, error, reconnect, ping, pong, drop) in one line."""
    if kind == "open":
        protocol = escape(fields.get("protocol") or "none")
        extensions = escape(fields.get("extensions") or "none")
        return f"Connection opened · protocol: {protocol} · extensions: {extensions}"
    if kind == "close":
        line = close_line(fields.get("code"), fields.get("reason") or "", fields.get("wasClean"))
        return f"Connection closed · {line}"
    if kind == "error":
        return f"Error · {escape(str(fields.get('message', '')))}"
    if kind == "reconnect":
        return (
            f"Reconnecting · attempt {fields.get('attempt')} in "
            f"{float(fields.get('delay', 0.0)):.1f} s · after close {fields.get('code')}"
        )
    if kind in ("ping", "pong"):
        rtt = fields.get("rtt")
        said = f" · round trip {rtt * 1000.0:.1f} ms" if rtt is not None else ""
        size = format_size(int(fields.get("size", 0)))
        return f"{kind.capitalize()} {fields.get('direction', '')} · {size}{said}"
    if kind == "drop":
        return f"Dropped unhandled (drop_oldest) · {int(fields.get('dropped', 0)):,} so far"
    return escape(kind)


_RECORD_FIELDS = ("seq", "type", "time")


def backlog_label(waiting: int, paused: bool, dropped: int, *, terse: bool = False) -> str:
    """Describe a socket's backlog: ``handler behind by 8,120 · paused · 12 dropped``.

    Empty when nothing waits; ``terse`` (a table cell) gives ``8,120 · paused``, ``0`` included.
    """
    parts = [f"{waiting:,}" if terse else f"handler behind by {waiting:,}"]
    if not (waiting or terse):
        parts = []
    if paused:
        parts.append("paused")
    if dropped:
        parts.append(f"{dropped:,} dropped")
    return " · ".join(parts)


def format_record(record: dict[str, Any]) -> str:
    """Format one transcript record as a line: time, direction, type, size, preview."""
    when = format_time(record["time"])
    kind = record["type"]
    if kind in ("send", "receive"):
        arrow = "↑" if kind == "send" else "↓"
        truncated = bool(record.get("truncated"))
        if record.get("opcode") == 1:
            label, preview = "text", preview_text(record.get("data") or "", truncated)
        else:
            raw = base64.b64decode(record.get("data") or "")
            label, preview = "binary", preview_bytes(raw, truncated)
        return f"{when}  {arrow} {label:<6} {format_size(record.get('size', 0)):>9}  {preview}"
    fields = {k: v for k, v in record.items() if k not in _RECORD_FIELDS}
    detail = event_line(kind, fields)
    return f"{when}  · {escape(kind):<6} {'':>9}  {detail}"
