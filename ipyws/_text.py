"""Text helpers: USVString conversion (how the browser turns strings into UTF-8), type names."""

from __future__ import annotations

__all__ = ["to_usv", "type_name", "utf8"]


def to_usv(text: str) -> str:
    """Return ``text`` with surrogate pairs joined and lone surrogates replaced by U+FFFD.

    JavaScript strings are UTF-16, so the WebSocket standard converts them to scalar values
    before encoding. A Python ``str`` may hold surrogates too (``"\\ud801\\udc07"``, or lone
    ones from ``surrogateescape``); this applies the same conversion to them.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def utf8(text: str) -> bytes:
    """Encode ``text`` as UTF-8 after USVString conversion."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return to_usv(text).encode("utf-8")


def type_name(value: object) -> str:
    """Name the type of ``value`` for an error message."""
    return type(value).__name__
