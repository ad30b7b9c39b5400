"""Waiting for a socket: awaitables for asyncio code, blocking helpers for sync cells.

A ``Waiter`` is resolved by the socket on its dispatcher's thread, right after the
event it waits for has been dispatched to the listeners. Async waiters live on the loop of
the coroutine that awaits them (resolved thread-safely when that is another thread); sync
waiters are polled by ``Dispatcher.wait_until``, which also runs pending handlers when
it is called on the dispatcher's own thread.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ._events import MessageEvent
from .exceptions import WebSocketClosedError  # defined with the others; imported from here before

__all__ = ["Waiter", "WebSocketClosedError"]


class Waiter:
    """One pending wait for ``open``, ``message`` (one or a stream of them) or ``close``."""

    __slots__ = ("_future", "_loop", "buffer", "done", "error", "kind", "result")

    def __init__(self, kind: str, *, stream: bool = False, asynchronous: bool = False) -> None:
        self.kind = kind
        self.done = False
        #: What the wait returns: the socket (open), a MessageEvent or the CloseEvent.
        self.result: object = None
        self.error: BaseException | None = None
        #: A message stream's events not yet read, with their running index.
        self.buffer: deque[tuple[int, MessageEvent]] | None = deque() if stream else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._future: asyncio.Future[None] | None = None
        if asynchronous:
            self._loop = asyncio.get_running_loop()

    @property
    def asynchronous(self) -> bool:
        """Tell whether a coroutine awaits this waiter (rather than a blocking call)."""
        return self._loop is not None

    def feed(self, item: tuple[int, MessageEvent]) -> None:
        """Hand one item to a streaming waiter and wake its reader."""
        assert self.buffer is not None
        self.buffer.append(item)
        self._wake()

    def resolve(self, result: object = None, error: BaseException | None = None) -> None:
        """Finish the wait with a result or an error (only the first call counts)."""
        if self.done:
            return
        self.done = True
        self.result = result
        self.error = error
        self._wake()

    def _wake(self) -> None:
        future, loop = self._future, self._loop
        if future is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _settle(future)
        else:
            loop.call_soon_threadsafe(_settle, future)

    async def wait_async(self, timeout: float | None) -> None:
        """Suspend until the waiter is fed or resolved, or ``timeout`` seconds pass."""
        if self.done or self.buffer:
            return
        assert self._loop is not None
        self._future = self._loop.create_future()
        try:
            await asyncio.wait_for(self._future, timeout)
        except TimeoutError:
            raise TimeoutError from None  # without wait_for's chained CancelledError
        finally:
            self._future = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
