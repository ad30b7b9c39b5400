"""How ipyws writes values for people: byte sizes, ages, clock times, previews, transcript lines.

One rule per kind of value, shared by the ``%ws`` magics and the panel's text/HTML snapshot.
Everything a server sent passes through ``escape`` before it is shown, so a message or a
close reason cannot drive a terminal (ANSI escapes) or break the layout.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from ._text import escape_controls

__all__ = [
    "escape",
    "format_age",
    "format_record",
    "format_size",
    "format_time",
    "plural",
    "preview_bytes",
    "preview_text",
    "shorten",
]

#: Characters of a text preview.
PREVIEW_CHARS = 100
#: Bytes of a binary preview (shown as hex).
PREVIEW_BYTES = 24


#: Control and bidi-override characters written as escapes (see ``_text.escape_controls``).
escape = escape_controls


def shorten(text: str, limit: int) -> str:
    """Return ``text`` cut to ``limit`` characters, the last one an ellipsis if it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview_text(text: str, truncated: bool = False) -> str:
    """Return escaped text cut to PREVIEW_CHARS; ``truncated`` adds the ellipsis anyway."""
    shown = escape(text)
    if len(shown) > PREVIEW_CHARS:
        return shorten(shown, PREVIEW_CHARS)
    return shown + ("…" if truncated else "")


def preview_bytes(data: bytes, truncated: bool = False) -> str:
    """Return the first PREVIEW_BYTES bytes as spaced hex digits, `` …`` if there are more."""
    shown = " ".join(f"{b:02x}" for b in data[:PREVIEW_BYTES])
    return shown + (" …" if truncated or len(data) > PREVIEW_BYTES else "")


def format_size(size: int) -> str:
    """Write a byte count in binary units: ``512 B``, ``1.5 KiB``, ``64.0 MiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} GiB"


def format_age(seconds: float) -> str:
    """Write a duration in its two largest units: ``42s``, ``3m07s``, ``2h05m``, ``1d03h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def format_time(when: float) -> str:
    """Write a time (seconds since the epoch) as local ``HH:MM:SS.mmm``."""
    seconds, millis = divmod(round(when * 1000), 1000)
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"


def plural(count: int, word: str) -> str:
    """Write ``count`` with ``word`` in the singular or plural: ``1 message``, ``1,024 records``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


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
    if kind == "open":
        protocol = record.get("protocol") or "-"
        extensions = record.get("extensions") or "-"
        detail = f"protocol {escape(protocol)}, extensions {escape(extensions)}"
    elif kind == "error":
        detail = preview_text(str(record.get("message", "")))
    elif kind == "close":
        reason = record.get("reason") or ""
        clean = "clean" if record.get("wasClean") else "not clean"
        shown = f" {json.dumps(preview_text(reason), ensure_ascii=False)}" if reason else ""
        detail = f"code {record.get('code')}{shown} ({clean})"
    else:
        detail = ""
    return f"{when}  · {kind:<6} {'':>9}  {detail}"
