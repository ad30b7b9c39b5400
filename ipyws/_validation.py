"""Validation of the constructor's keyword options: types, ranges and handshake header syntax.

Everything here runs in ``WebSocket(...)`` before anything connects, so a mistake raises at
the line that made it instead of failing the connection later (or never). Malformed header
names and values raise `ipyws.DOMSyntaxError` (a ``ValueError`` too), as Deno and
undici do for their header options; a wrong type raises ``TypeError``, a value out of range
``ValueError``. No message repeats a header's value: it may be a credential.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ._options import ENGINES
from ._text import escape_controls, type_name
from .exceptions import DOMSyntaxError

__all__ = [
    "check_count",
    "check_engine",
    "check_flag",
    "check_header_value",
    "check_headers",
    "check_optional_str",
    "check_seconds",
    "check_ssl",
]

# RFC 7230 section 3.2.6: a field-name is a token.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
# RFC 7230 section 3.2: a field-value is visible characters, spaces, tabs and obs-text
# (bytes 0x80-0xFF, sent as ISO-8859-1): what websockets itself accepts.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_TOKEN_RULE = (
    "a header name is an RFC 7230 token: letters, digits and !#$%&'*+-.^_`|~, "
    "no spaces, colons or control characters"
)


def _value_problem(value: str) -> str | None:
    """Say what breaks the field-value rule in ``value`` (without quoting it), or None."""
    if _FIELD_VALUE.fullmatch(value):
        return None
    for char, said in (("\r", "a CR"), ("\n", "an LF"), ("\0", "a NUL")):
        if char in value:
            return f"contains {said} character (U+{ord(char):04X})"
    bad = next(c for c in value if not _FIELD_VALUE.fullmatch(c))
    if ord(bad) > 0xFF:
        return f"contains U+{ord(bad):04X}, outside ISO-8859-1"
    return f"contains the control character U+{ord(bad):04X}"


def check_header_value(what: str, value: str) -> None:
    """Raise `DOMSyntaxError` if ``value`` cannot be sent as the header ``what``."""
    problem = _value_problem(value)
    if problem is not None:
        raise DOMSyntaxError(
            f"The value of the {what} header {problem}: a header value may hold no CR, LF, "
            "NUL or other control characters except tab (RFC 7230 section 3.2)."
        )


def check_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    """Return ``headers`` as ``(name, value)`` pairs, or raise if a name or value is malformed."""
    if headers is None:
        return ()
    if isinstance(headers, (str, bytes)):
        raise TypeError(
            f"headers must be a mapping or (name, value) pairs, not {type_name(headers)}"
        )
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    result = []
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError(
                f"headers must be a mapping or (name, value) pairs; got an item {type_name(pair)}"
            ) from None
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(
                "headers must map str names to str values, "
                f"not {type_name(name)} to {type_name(value)}"
            )
        if not _TOKEN.fullmatch(name):
            shown = escape_controls(name[:40]) + ("…" if len(name) > 40 else "")
            raise DOMSyntaxError(f"The header name '{shown}' is invalid: {_TOKEN_RULE}.")
        check_header_value(name, value)
        result.append((name, value))
    return tuple(result)


def check_optional_str(option: str, value: object, header: str) -> str | None:
    """Check an option sent as the header ``header`` (``origin``, ``user_agent``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{option} must be a str or None, not {type_name(value)}")
    check_header_value(f"{header} ({option}=)", value)
    return value


def check_seconds(option: str, value: object, *, zero: bool = False) -> float | None:
    """Check a duration in seconds: a finite number above 0 (or 0 when ``zero``), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{option} must be a number of seconds or None, not {type_name(value)}")
    least = "at least 0" if zero else "above 0"
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise ValueError(
            f"{option} must be a finite number of seconds {least} (or None), not {value!r}"
        )
    return float(value)


def check_count(option: str, value: object, *, none: bool = False) -> int:
    """Check a count (bytes, records): an int of at least 1 (None is checked by the caller)."""
    if isinstance(value, bool) or not isinstance(value, int):
        allowed = "an int or None" if none else "an int"
        raise TypeError(f"{option} must be {allowed}, not {type_name(value)}")
    if value < 1:
        raise ValueError(f"{option} must be at least 1{' (or None)' if none else ''}, not {value}")
    return value


def check_flag(option: str, value: object) -> bool:
    """Check a switch: True or False (``compression='no'`` must not read as True)."""
    if not isinstance(value, bool):
        raise TypeError(f"{option} must be True or False, not {type_name(value)}")
    return value


def check_engine(value: object) -> str | None:
    """Check ``engine``: one of `ENGINES`, or None for the default engine."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"engine must be a str or None, not {type_name(value)}")
    if value not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, not {value!r}")
    return value


def check_ssl(option: str, value: object, *, allow_true: bool = True) -> Any:
    """Check a TLS option: an `ssl.SSLContext`, False (no verification) or None."""
    if value is None or value is False or (value is True and allow_true):
        return value
    # Whoever made an SSLContext imported ssl; Pyodide cannot import it unless loaded.
    ssl_module = sys.modules.get("ssl")
    if ssl_module is not None and isinstance(value, ssl_module.SSLContext):
        return value
    allowed = (
        "an ssl.SSLContext, True, False or None"
        if allow_true
        else ("an ssl.SSLContext, False or None")
    )
    raise TypeError(f"{option} must be {allowed}, not {type_name(value)}")
