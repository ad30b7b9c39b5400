"""Text helpers: USVString conversion, type names, and what makes text safe to show.

Two rules for everything ipyws shows or exports (reprs, the panel, ``%ws`` output, the
transcript's error records, log lines): control characters a server sent are escaped
(`escape_controls`), and secrets the socket was given are masked (`Redactor`).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MASK", "SECRET_HEADERS", "Redactor", "escape_controls", "to_usv", "type_name", "utf8"]

#: What a masked secret reads as.
MASK = "***"
#: Headers whose values are credentials, masked wherever handshakes are shown or exported,
#: as in Chrome's sanitized HAR (the socket's ``handshake`` keeps them).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

# C0 and C1 control characters drive a terminal (ANSI escapes, BEL, a clear screen) or break
# the layout; bidirectional formatting characters (U+202E and kin) reorder what is shown, so
# a line can read as something it is not. All are written as escapes.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROLS.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_CONTROLS.update(
    {
        c: f"\\u{c:04x}"
        for c in [
            0x061C,
            0x200E,
            0x200F,
            0x2028,
            0x2029,
            *range(0x202A, 0x202F),
            *range(0x2066, 0x206A),
        ]
    }
)


def escape_controls(text: str) -> str:
    """Return ``text`` with control and bidi-override characters written as escapes.

    C0 and C1 controls become ``\\x1b``-style escapes (``\\t``, ``\\n``, ``\\r`` for those
    three), bidirectional formatting characters and line/paragraph separators ``\\u202e``.
    """
    return text.translate(_CONTROLS)


class Redactor:
    """Masks known secrets (a URL's password, a token) wherever they appear in a text."""

    # Shorter values would mask ordinary text; no real secret is that short.
    _MIN_LENGTH = 3

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if len(s) >= self._MIN_LENGTH}
        # Longest first: a secret that contains another is masked whole.
        self._secrets = sorted(found, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by `MASK`."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


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
