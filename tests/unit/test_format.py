"""One rule per kind of value shown: sizes, durations, close lines, event lines, previews."""

from __future__ import annotations

import pytest

from ipyws._format import (
    close_line,
    close_meaning,
    event_line,
    format_age,
    format_size,
    preview_bytes,
    preview_text,
)


@pytest.mark.parametrize(
    ("size", "written"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (64 * 1024**2, "64.0 MiB"),
        (5 * 1024**3, "5.0 GiB"),
    ],
)
def test_sizes_are_written_in_binary_units(size: int, written: str) -> None:
    """Byte counts are B below 1 KiB, then KiB, MiB, GiB with one decimal."""
    assert format_size(size) == written


@pytest.mark.parametrize(
    ("seconds", "written"),
    [(4.24, "4.2 s"), (42.0, "42 s"), (187.0, "3 min 07 s"), (7500.0, "2 h 05 min")],
)
def test_durations_use_their_two_largest_units(seconds: float, written: str) -> None:
    """A duration is seconds (a decimal under 10), then minutes and seconds, hours and minutes."""
    assert format_age(seconds) == written


def test_the_close_line_names_code_meaning_reason_and_clean() -> None:
    """A close reads ``code meaning · reason "…" · wasClean: …``, its reason escaped."""
    assert close_line(1000, "done", True) == '1000 Normal Closure · reason "done" · wasClean: true'
    assert close_line(4001, "", False) == "4001 Application-defined · wasClean: false"
    assert close_line(1006, "\x1b[2J", False).count("\\x1b[2J") == 1
    assert close_meaning(3500) == "Registered by a library or framework"


def test_event_lines_describe_each_lifecycle_record() -> None:
    """open, close, error, reconnect and ping records each read as one line."""
    assert event_line("open", {"protocol": "", "extensions": "permessage-deflate"}) == (
        "Connection opened · protocol: none · extensions: permessage-deflate"
    )
    closed = event_line("close", {"code": 1000, "reason": "", "wasClean": True})
    assert closed == "Connection closed · 1000 Normal Closure · wasClean: true"
    assert event_line("error", {"message": "refused\r\n"}) == "Error · refused\\r\\n"
    assert event_line("reconnect", {"attempt": 2, "delay": 1.5, "code": 1006}) == (
        "Reconnecting · attempt 2 in 1.5 s · after close 1006"
    )
    assert event_line("pong", {"direction": "received", "size": 4, "rtt": 0.0021}) == (
        "Pong received · 4 B · round trip 2.1 ms"
    )


def test_previews_are_one_escaped_line_cut_to_the_width() -> None:
    """Text previews escape line breaks and controls and cut with an ellipsis; bytes show hex."""
    assert preview_text("a\nb\u202ec") == "a\\nb\\u202ec"
    assert preview_text("x" * 200, limit=10) == "x" * 9 + "…"
    assert preview_text("short", truncated=True) == "short…"
    assert preview_bytes(bytes(range(30))).endswith("17 …")
