"""The hand-offs between threads: waking a loop, deferring the I/O thread's wake-ups."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import gc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator

import pytest

from ipyws import WebSocket
from ipyws._dispatch import LAZY_DELAY, Dispatcher, defer_wakeups
from ipyws._transport import IOThread
from ipyws._wakeup import LoopWaker
from tests.loopback.recording import WAIT
from tests.servers import TestServer


@pytest.fixture
def running_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An asyncio loop running in its own thread, stopped and closed after the test."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(WAIT)
    loop.close()


def _run_until(loop: asyncio.AbstractEventLoop, done: Callable[[], bool]) -> None:
    """Run ``loop`` until ``done()`` is true (failing after WAIT), then a few turns more."""

    async def wait() -> None:
        while not done():
            await asyncio.sleep(0.001)
        for _ in range(5):  # turns in which a wake-up that should not come would show
            await asyncio.sleep(0)

    loop.run_until_complete(asyncio.wait_for(wait(), WAIT))


def test_loop_waker_runs_its_callback_on_the_loop_thread(
    running_loop: asyncio.AbstractEventLoop,
) -> None:
    """wake() from another thread runs the callback on the loop's thread."""
    ran_on: list[int] = []
    done = threading.Event()
    created = threading.Event()
    wakers: list[LoopWaker] = []

    def on_wake() -> None:
        ran_on.append(threading.get_ident())
        done.set()

    def create() -> None:
        wakers.append(LoopWaker(running_loop, on_wake))
        created.set()

    loop_thread: list[int] = []
    running_loop.call_soon_threadsafe(lambda: loop_thread.append(threading.get_ident()))
    running_loop.call_soon_threadsafe(create)
    assert created.wait(WAIT)
    wakers[0].wake()
    assert done.wait(WAIT)
    assert ran_on == loop_thread


def test_loop_waker_coalesces_wakeups_made_before_the_callback_runs() -> None:
    """A hundred wake() calls before the loop runs make the callback run once."""
    loop = asyncio.new_event_loop()
    try:
        calls: list[None] = []
        waker = LoopWaker(loop, lambda: calls.append(None))
        for _ in range(100):
            waker.wake()
        _run_until(loop, lambda: len(calls) >= 1)
        assert len(calls) == 1
        waker.wake()
        _run_until(loop, lambda: len(calls) >= 2)
        assert len(calls) == 2
    finally:
        loop.close()


_CELL: contextvars.ContextVar[str] = contextvars.ContextVar("cell", default="none")


@pytest.mark.parametrize("eventfd", [True, False], ids=["eventfd", "call_soon_threadsafe"])
def test_loop_waker_callback_runs_in_an_empty_context(
    eventfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callback does not see the context variables of the code that created the waker."""
    if not eventfd:
        monkeypatch.delattr(os, "eventfd", raising=False)
    seen: list[str] = []

    def create_and_wake() -> None:
        _CELL.set("cell A")
        loop = asyncio.new_event_loop()
        try:
            waker = LoopWaker(loop, lambda: seen.append(_CELL.get()))
            waker.wake()
            _run_until(loop, lambda: bool(seen))
        finally:
            loop.close()

    contextvars.Context().run(create_and_wake)
    assert seen == ["none"]


def test_io_thread_logs_about_a_connection_in_the_context_that_created_it(
    wpt: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure the I/O thread logs for a socket is logged in the socket creator's context."""
    seen: list[str] = []
    logged = threading.Event()

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "stopped reading" in record.getMessage():
                seen.append(_CELL.get())
                logged.set()

    def broken(self: WebSocket, data: object) -> None:
        raise RuntimeError("ipyws bug")

    monkeypatch.setattr(WebSocket, "_io_message", broken)
    monkeypatch.setattr(WebSocket, "_io_messages", broken)
    handler = Recorder()
    logger = logging.getLogger("ipyws")
    logger.addHandler(handler)
    try:

        def create() -> WebSocket:
            _CELL.set("cell A")
            return WebSocket(wpt.url("/burst?n=1"))

        ws = contextvars.Context().run(create)
        assert logged.wait(WAIT)
        ws.wait_closed(timeout=WAIT)
    finally:
        logger.removeHandler(handler)
    assert seen == ["cell A"]


def test_loop_waker_on_a_closed_loop_raises_runtime_error() -> None:
    """wake() on a closed loop raises RuntimeError, as call_soon_threadsafe does."""
    loop = asyncio.new_event_loop()
    waker = LoopWaker(loop, lambda: None)
    loop.close()
    with pytest.raises(RuntimeError):
        waker.wake()


def test_loop_waker_without_eventfd_still_wakes_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where os has no eventfd (macOS, Windows) the waker wakes the loop all the same."""
    monkeypatch.delattr(os, "eventfd", raising=False)
    loop = asyncio.new_event_loop()
    try:
        calls: list[None] = []
        waker = LoopWaker(loop, lambda: calls.append(None))
        threading.Thread(target=waker.wake).start()
        _run_until(loop, lambda: bool(calls))
        assert calls == [None]
    finally:
        loop.close()


def _on_thread(fn: Callable[[], None]) -> None:
    """Run ``fn`` on a new thread and wait for it."""
    errors: list[BaseException] = []

    def main() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(WAIT)
    assert not errors, errors


Flush = Callable[[], float | None]
"""What :func:`defer_wakeups` hands ``on_idle``: run it, get how long the thread may wait."""


def _defer_into(flushes: list[Flush]) -> None:
    """Defer the calling thread's wake-ups; keep each flush in ``flushes``, for the test to run."""

    def keep(flush: Flush) -> bool:
        flushes.append(flush)
        return True

    defer_wakeups(keep)


def test_deferred_wakeups_wait_for_the_threads_flush() -> None:
    """A post from a deferring thread runs only once that thread flushes."""
    dispatcher = Dispatcher(None)
    ran = threading.Event()
    flushes: list[Flush] = []

    def deferring_thread() -> None:
        _defer_into(flushes)
        dispatcher.post(lambda _: ran.set(), None)
        assert not ran.wait(0.2)
        flushes[0]()
        assert ran.wait(WAIT)

    _on_thread(deferring_thread)


def test_declined_deferral_leaves_wakeups_immediate() -> None:
    """When on_idle declines (no idle moment), posts wake the dispatcher at once."""
    dispatcher = Dispatcher(None)
    ran = threading.Event()

    def thread() -> None:
        defer_wakeups(lambda flush: False)
        dispatcher.post(lambda _: ran.set(), None)
        assert ran.wait(WAIT)

    _on_thread(thread)


def test_lazy_post_waits_for_the_delay() -> None:
    """A lazy post from a deferring thread wakes no one until a flush after LAZY_DELAY."""
    dispatcher = Dispatcher(None)
    ran = threading.Event()
    flushes: list[Flush] = []

    def deferring_thread() -> None:
        _defer_into(flushes)
        dispatcher.post_lazy(lambda _: ran.set(), None)
        wait = flushes[0]()
        assert wait is not None and 0 < wait <= LAZY_DELAY
        assert not ran.wait(0.2)  # no flush past the deadline yet: nobody woke the dispatcher
        assert flushes[0]() is None
        assert ran.wait(WAIT)

    _on_thread(deferring_thread)


def test_lazy_post_runs_with_the_next_wakeup_in_order() -> None:
    """A lazy task runs, first, with the next post's run, before its own delay is up."""
    dispatcher = Dispatcher(None)
    ran: list[str] = []
    done = threading.Event()
    flushes: list[Flush] = []

    def deferring_thread() -> None:
        _defer_into(flushes)
        dispatcher.post_lazy(ran.append, "lazy")
        dispatcher.post(ran.append, "posted")
        dispatcher.post(lambda _: done.set(), None)
        flushes[0]()
        assert done.wait(WAIT)
        assert ran == ["lazy", "posted"]
        time.sleep(LAZY_DELAY)
        assert flushes[0]() is None  # the delay is up; the task already ran: nothing to wake

    _on_thread(deferring_thread)


def test_lazy_post_without_deferral_is_a_post() -> None:
    """On a thread that does not defer its wake-ups, a lazy post runs at once."""
    dispatcher = Dispatcher(None)
    ran = threading.Event()
    dispatcher.post_lazy(lambda _: ran.set(), None)
    assert ran.wait(WAIT)


def test_io_thread_waits_no_longer_than_a_hook_asks() -> None:
    """An idle hook that returns a wait runs again after it, with no traffic at all."""
    io = IOThread()
    try:
        calls: list[float] = []
        enough = threading.Event()

        def hook() -> float:
            calls.append(time.monotonic())
            if len(calls) >= 5:
                enough.set()
            return 0.01

        io.call(io.on_idle, hook)
        assert enough.wait(WAIT)
    finally:
        io.shutdown()


def test_io_thread_runs_idle_hooks_and_survives_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Idle hooks run before the I/O loop waits; one that raises is logged and the loop goes on."""
    io = IOThread()
    try:
        counted = threading.Event()
        still_running = threading.Event()

        def failing() -> None:
            raise ValueError("hook failed")

        def register() -> None:
            assert io.on_idle(failing)
            assert io.on_idle(counted.set)

        with caplog.at_level(logging.ERROR, logger="ipyws"):
            io.call(register)
            assert counted.wait(WAIT)
            io.call(still_running.set)
            assert still_running.wait(WAIT)
        assert "idle hook failed" in caplog.text
    finally:
        io.shutdown()


def _open_fds() -> collections.Counter[str]:
    """Return what this process's open file descriptors point to, counted."""
    targets: collections.Counter[str] = collections.Counter()
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            targets[os.readlink(f"/proc/self/fd/{name}")] += 1
    return targets


RUNS = 20
"""asyncio.run() programs the descriptor test runs."""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_finished_asyncio_programs_leave_no_loop_or_file_descriptor_behind(
    wpt: TestServer,
) -> None:
    """Each asyncio.run() that used a socket frees its loop and the fds ipyws opened for it."""
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        ws = WebSocket(wpt.url("/echo"))
        await asyncio.wait_for(ws.opened, WAIT)
        ws.close()
        await asyncio.wait_for(ws.closed, WAIT)

    asyncio.run(main())
    gc.collect()
    before = _open_fds()
    for _ in range(RUNS):
        asyncio.run(main())
    gc.collect()
    assert [ref for ref in loops if ref() is not None] == []

    def opened_since() -> collections.Counter[str]:
        """Return the descriptors open now that were not open before the runs."""
        return _open_fds() - before

    # The server's side of the last connection, and sockets other threads are closing, go
    # shortly after: wait for them. What other tests' threads open meanwhile (a loop's
    # selector, a server's socket) may stay: a few. A leak of the code under test leaves one
    # or more per run: at least RUNS.
    deadline = time.monotonic() + WAIT
    while sum(opened_since().values()) >= RUNS // 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    left = opened_since()
    assert sum(left.values()) < RUNS // 4, f"{RUNS} runs left {left}"


def test_a_burst_in_one_read_is_handled_in_one_turn_of_the_loop(wpt: TestServer) -> None:
    """500 messages arriving in one read are all handled before the loop runs anything else."""

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        handled: list[str] = []
        handled_when_loop_resumed: list[int] = []
        done = asyncio.Event()

        def on_message(event: object) -> None:
            handled.append(event.data)  # type: ignore[attr-defined]
            if len(handled) == 1:
                loop.call_soon(lambda: handled_when_loop_resumed.append(len(handled)))
            if len(handled) == 500:
                done.set()

        ws = WebSocket(wpt.url("/burst?n=500"), onmessage=on_message)
        try:
            await asyncio.wait_for(done.wait(), WAIT)
        finally:
            ws.close()
        assert handled == [str(i) for i in range(500)]
        return handled_when_loop_resumed[0], len(handled)

    resumed_at, total = asyncio.run(main())
    assert resumed_at == total
