"""Repeated handler errors: the first tracebacks in full, then a count, as consoles group them.

A handler that raises on every message of a 10k msg/s feed wrote 50,000 tracebacks (4.9 MB)
into a notebook in 5 s. A browser's console groups repeats of one message under a counter;
here the first ``FULL_TRACEBACKS`` of one error (same exception type, raised at the same line)
are shown in full, the rest only counted, and a one-line summary (how many more, when the last
one was) follows ``SUMMARY_INTERVAL`` seconds after the first one held back, and every
``SUMMARY_INTERVAL`` seconds while they go on. After an interval without any, the error counts
as new again. The socket goes on either way.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from ._format import format_time, plural

__all__ = ["FULL_TRACEBACKS", "SUMMARY_INTERVAL", "forget", "should_show"]

#: Tracebacks of one repeated error shown in full before its repeats are only counted.
FULL_TRACEBACKS = 3
#: Seconds between two summaries of an error that goes on repeating.
SUMMARY_INTERVAL = 5.0

_Key = tuple[type, str, int]


@dataclass
class _Repeat:
    description: str
    shown: int = 0
    held: int = 0  # repeats not shown since the last summary
    last: float = 0.0  # when the latest one was raised (epoch seconds)
    summary_due: bool = False


_repeats: dict[_Key, _Repeat] = {}
_lock = threading.Lock()


def _key(exc: BaseException, traceback: TracebackType | None) -> tuple[_Key, str]:
    """Identify an error by its type and the line that raised it; describe it in one line."""
    frame = traceback
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = ("", 0) if frame is None else (frame.tb_frame.f_code.co_filename, frame.tb_lineno)
    place = f" (line {where[1]} of {where[0]})" if frame is not None else ""
    text = str(exc).splitlines()[0] if str(exc) else ""
    description = f"{type(exc).__name__}{': ' + text if text else ''}{place}"
    return (type(exc), *where), description


def should_show(exc: BaseException, traceback: TracebackType | None) -> bool:
    """Count one occurrence of ``exc``; tell whether its traceback is to be shown in full.

    When it is not, a summary is scheduled in the caller's context (so in a kernel it lands
    under the same cell as the tracebacks).
    """
    key, description = _key(exc, traceback)
    with _lock:
        repeat = _repeats.get(key)
        if repeat is None:
            repeat = _repeats[key] = _Repeat(description)
        repeat.last = time.time()
        full = repeat.shown < FULL_TRACEBACKS
        if full:
            repeat.shown += 1
            announce = repeat.shown == FULL_TRACEBACKS
            schedule = False
        else:
            repeat.held += 1
            announce = False
            schedule = not repeat.summary_due
            repeat.summary_due = True
    if announce:
        _write(
            f"ipyws: {description} was raised {FULL_TRACEBACKS} times; further repeats are "
            f"counted, with a summary every {SUMMARY_INTERVAL:g} s while they go on.\n"
        )
    if schedule:
        _schedule(key)
    return full


def _schedule(key: _Key) -> None:
    context = contextvars.copy_context()
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        # Pyodide has no threads; its one loop runs the handlers (called from the browser).
        loop = asyncio.get_event_loop() if sys.platform == "emscripten" else None
    if loop is not None:
        loop.call_later(SUMMARY_INTERVAL, _summarize, key, context=context)
        return
    timer = threading.Timer(SUMMARY_INTERVAL, context.run, (_summarize, key))
    timer.daemon = True
    timer.start()


def _summarize(key: _Key) -> None:
    """Write how many repeats were held back; forget the error after a quiet interval."""
    with _lock:
        repeat = _repeats.get(key)
        if repeat is None:
            return
        held, repeat.held = repeat.held, 0
        if not held:
            del _repeats[key]  # quiet for an interval: the next one is shown in full
            return
    _write(
        f"ipyws: {repeat.description} repeated {plural(held, 'more time')}, "
        f"the last at {format_time(repeat.last)}.\n"
    )
    _schedule(key)  # once more: either the next summary, or the end of the error


def forget() -> None:
    """Count every error as new again (what a fresh interpreter would do)."""
    with _lock:
        _repeats.clear()


def _write(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # no stderr left (interpreter exiting)
        pass
