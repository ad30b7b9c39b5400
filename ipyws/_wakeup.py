"""Waking an asyncio loop from another thread: the hand-off under every ipyws event.

``loop.call_soon_threadsafe`` writes a byte to the loop's self-pipe, which the loop drains
with two more system calls, and wraps each call in a Handle with a copied context. Every
message ipyws delivers, and every message a handler sends, crosses such a hand-off; in a VM,
where a system call costs microseconds, that was a tenth of an echo's round trip. An
eventfd registered with the loop's selector wakes it with one write and one read.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import weakref
from collections.abc import Callable

__all__ = ["LoopWaker"]


class LoopWaker:
    """Run one callback on a loop's thread soon after ``wake``, from any thread.

    Wake-ups coalesce: however many arrive before the callback starts, it runs once, in an
    empty ``contextvars`` context. Create it on the loop's thread, or before the loop
    runs. Where there is no eventfd (macOS, Windows) or the loop has no selector (uvloop,
    proactor), it falls back on ``call_soon_threadsafe``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        # Weak: a closed loop must not be kept alive by whoever keeps its waker.
        self._loop = weakref.ref(loop)
        self._callback = callback
        self._armed = False  # the eventfd was written and the callback has not started
        self._fd = -1
        eventfd = getattr(os, "eventfd", None)
        if eventfd is None or not isinstance(loop, asyncio.SelectorEventLoop):
            return
        fd = eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            # Registered from an empty context, which the loop copies into the reader's
            # handle: the callback must not run in its creator's (a notebook cell's).
            contextvars.Context().run(loop.add_reader, fd, self._ready)
        except (NotImplementedError, RuntimeError):
            os.close(fd)
            return
        self._fd = fd
        # A closing loop unregisters the fd; it is closed when the waker goes, but not at
        # exit, where the I/O thread still wakes its loop to close connections with 1001.
        weakref.finalize(self, os.close, fd).atexit = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the callback runs on, or None once it is gone."""
        return self._loop()

    def wake(self) -> None:
        """Have the callback run on the loop soon; raise RuntimeError if the loop is closed."""
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the event loop is gone")
        if self._fd < 0:
            loop.call_soon_threadsafe(self._callback, context=contextvars.Context())
            return
        if loop.is_closed():
            raise RuntimeError("the event loop is closed")
        if not self._armed:
            self._armed = True
            os.eventfd_write(self._fd, 1)

    def _ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self._fd)
        # Cleared before the callback runs: a wake() from now on must wake the loop again.
        self._armed = False
        self._callback()
