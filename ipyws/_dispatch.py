"""Where handlers run: on the loop that created the socket, one task at a time, in order.

The I/O thread never calls user code. It posts *tasks* (open, message, close, ...) to the
``Dispatcher`` of the socket, which runs them where the socket was created:

* in a Jupyter kernel, on the kernel's main asyncio loop, so handlers run between cells and
  during top-level ``await``, never in the middle of a running cell;
* in an asyncio program, on that program's loop;
* in plain Python (no running loop), on one ``ipyws-dispatch`` thread.

A burst of messages costs one wake-up: tasks queue in a deque and the loop is woken only
when no run is pending, and a socket posts one *batch task* per burst that dispatches its
messages one by one. Blocking helpers called on the dispatcher's own thread (a sync
notebook cell waiting for ``open``) run the pending tasks inline while they wait.

Below the magics and the panel, this and ``_cells`` (which notebook cell runs) are the only
modules that know about IPython.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from ._repeats import should_show
from ._wakeup import LoopWaker

__all__ = [
    "LAZY_DELAY",
    "RUN_COUNT",
    "RUN_TIME",
    "Dispatcher",
    "current_dispatcher",
    "defer_wakeups",
    "report_exception",
]

Task = tuple[Callable[[Any], None], Any]

#: Longest a dispatch run goes on before it yields to its loop, in seconds. In a browser each
#: message is a task of its own, interleaved with other work; here a run handles a burst, so
#: it is bounded: a feed faster than its handler must not keep cells, comm messages and
#: timers of the kernel's loop waiting (the rest runs after they had their turn).
RUN_TIME = 0.005
#: Most tasks and messages one dispatch run handles before it yields to its loop.
RUN_COUNT = 1000


def report_exception(exc: BaseException) -> None:
    """Show an exception raised by a listener the way the environment shows errors.

    In IPython the shell renders the traceback; in a kernel it lands under the cell whose
    context the listener runs in. Elsewhere it goes to ``sys.excepthook``. An error that
    repeats (a handler failing on every message) is shown in full a few times, then
    summarized (see ``ipyws._repeats``).
    """
    shell = None
    if "IPython" in sys.modules:
        from IPython.core.interactiveshell import InteractiveShell

        if InteractiveShell.initialized():
            shell = InteractiveShell.instance()
    traceback = _user_frames(exc.__traceback__)
    if not should_show(exc, traceback):
        return
    exc = exc.with_traceback(traceback)
    if shell is not None:
        shell.showtraceback((type(exc), exc, traceback))
    else:
        sys.excepthook(type(exc), exc, traceback)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_frames(traceback: TracebackType | None) -> TracebackType | None:
    """Drop the leading ipyws frames (the dispatch machinery) from a listener's traceback."""
    start = traceback
    while start is not None and start.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        start = start.tb_next
    return start or traceback


class Dispatcher:
    """Runs posted tasks in order on one asyncio loop, or on its own thread if ``loop`` is None."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._queue: deque[Task] = deque()
        self._scheduled = False
        self._lazy = False  # waiting in a deferring thread's lazy list (see post_lazy)
        # Wake-ups cost a thread switch each; their Python-level part runs while the other
        # thread waits for the GIL (an echo's round trip crosses two). So the dispatch thread
        # sleeps on a C-level queue, and the Event and Condition below are only signalled
        # when someone waits on them.
        self._wakeups: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._signal = threading.Event()  # for a wait_until() running tasks inline
        self._inline_waits = 0
        self._progress = threading.Condition()  # for wait_until() on other threads
        self._progress_waits = 0
        #: The stop condition of the run in progress (see run_pending), for batch tasks.
        self.stop: Callable[[], bool] | None = None
        # The turn of the run in progress: when it ends and what it may still handle.
        self._deadline = 0.0
        self._budget = 0
        self._batches: list[Task] = []  # batch tasks running, innermost last
        # It holds the loop weakly: _loop_dispatchers maps each loop to its dispatcher, and a
        # value that held its key would keep every loop an asyncio.run() ever made alive.
        self._waker = LoopWaker(loop, self.run_pending) if loop is not None else None
        self._thread_id = threading.get_ident() if loop is not None else 0
        if loop is None:
            thread = threading.Thread(target=self._thread_main, name="ipyws-dispatch", daemon=True)
            thread.start()
            self._thread_id = thread.ident or 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop handlers run on (None for the dispatch thread, or once the loop is gone)."""
        return self._waker.loop if self._waker is not None else None

    def on_own_thread(self) -> bool:
        """Tell whether the caller runs on the thread where this dispatcher runs tasks."""
        return threading.get_ident() == self._thread_id

    def post(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Queue ``fn(arg)`` to run on the dispatcher's loop; callable from any thread.

        On a thread that defers its wake-ups (see ``defer_wakeups``) the wake-up waits
        for that thread's next flush.
        """
        self._queue.append((fn, arg))
        if not self._scheduled:
            self._scheduled = True
            deferral: _Deferral | None = getattr(_deferring, "state", None)
            if deferral is None:
                self._wake()
            else:
                deferral.dispatchers.append(self)

    def post_lazy(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Queue ``fn(arg)`` to run with the next run, or within about ``LAZY_DELAY``.

        For bookkeeping no one waits for (the bytes a write sent, for ``bufferedAmount``):
        on a deferring thread it wakes no one unless nothing else does within the delay.
        An echo's reply, ~100 µs after the write, brings it along; waking the handler's
        thread for it alone cost 3-5 % of the round trip. Elsewhere it is ``post``.
        """
        deferral: _Deferral | None = getattr(_deferring, "state", None)
        if deferral is None:
            self.post(fn, arg)
            return
        self._queue.append((fn, arg))
        if not self._scheduled and not self._lazy:
            self._lazy = True
            if not deferral.lazy:
                deferral.lazy_since = time.monotonic()
            deferral.lazy.append(self)

    def _wake_lazy(self) -> None:
        # On the deferring thread, at the lazy deadline: a run may have taken the task since.
        self._lazy = False
        if self._queue and not self._scheduled:
            self._scheduled = True
            self._wake()

    def _wake(self) -> None:
        if self._inline_waits:
            self._signal.set()
        waker = self._waker
        if waker is None:
            self._wakeups.put(None)
            return
        try:
            waker.wake()
        except RuntimeError:
            # The loop is closed (an asyncio.run() program ended): go on in a thread.
            self._waker = None
            thread = threading.Thread(target=self._thread_main, name="ipyws-dispatch", daemon=True)
            thread.start()
            self._thread_id = thread.ident or 0
            self._wakeups.put(None)

    def turn_over(self) -> bool:
        """Count one task of the run in progress; tell whether its turn is over.

        A run's turn lasts ``RUN_TIME`` seconds or ``RUN_COUNT`` tasks.
        """
        self._budget -= 1
        return self._budget <= 0 or time.monotonic() >= self._deadline

    @property
    def deadline(self) -> float:
        """When the turn of the run in progress ends (``time.monotonic()``).

        A batch task checks it after each message (and counts ``RUN_COUNT`` of them); once
        over, it is requeued first in line and calls ``end_turn()``.
        """
        return self._deadline

    def end_turn(self) -> None:
        """End the turn of the run in progress after the current task (a batch used it up)."""
        self._budget = 0

    def run_pending(self, stop: Callable[[], bool] | None = None) -> None:
        """Run the queued tasks, in order, on the calling thread, for one turn.

        The turn ends after ``RUN_TIME`` seconds or ``RUN_COUNT`` tasks and messages: the
        rest stays queued and a new run is scheduled, so the loop runs its other callbacks
        (a cell, a comm message) in between. With ``stop``, return as soon as it is true and
        leave the rest queued (and scheduled): a sync cell that waits for one message at a
        time must see each message of a burst.
        """
        # _scheduled stays true while tasks run, so what is posted meanwhile joins this run
        # instead of costing a wake-up (on a VM, waking a sleeping thread costs the waker
        # ~20 µs). It is cleared once the queue is empty, then the queue is checked again:
        # a post in between saw it still true and woke no one.
        self._scheduled = True
        queue = self._queue
        popleft = queue.popleft
        # Restored after: a wait may run tasks inside a task.
        outer = self.stop, self._deadline, self._budget
        self.stop = stop
        self._deadline = time.monotonic() + RUN_TIME
        self._budget = RUN_COUNT
        try:
            while True:
                while queue:
                    fn, arg = popleft()
                    try:
                        fn(arg)
                    except Exception as exc:
                        report_exception(exc)
                    if queue and ((stop is not None and stop()) or self.turn_over()):
                        self._wake()  # the rest stays queued, and scheduled
                        break
                else:
                    self._scheduled = False
                    if queue and not self._scheduled:
                        self._scheduled = True
                        continue
                break
        finally:
            self.stop, self._deadline, self._budget = outer
        if self._progress_waits:
            with self._progress:
                self._progress.notify_all()

    def requeue(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Queue ``fn(arg)`` first in line (a batch task that stopped before its end)."""
        self._queue.appendleft((fn, arg))

    def batch_started(self, fn: Callable[[Any], None], arg: Any = None) -> None:
        """Note that the batch task ``fn(arg)`` runs (see ``wait_until``); pair with
        ``batch_ended``."""
        self._batches.append((fn, arg))

    def batch_ended(self) -> None:
        """Note that the innermost running batch task has returned."""
        self._batches.pop()

    def _thread_main(self) -> None:
        wait = self._wakeups.get
        while True:
            wait()
            self.run_pending()

    def wait_until(self, done: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``done()`` is true or ``timeout`` seconds pass; return ``done()``.

        On the dispatcher's own thread (a sync cell in a kernel) pending tasks run inline
        while waiting, so handlers fire and the awaited state can change. On any other
        thread this just waits for the dispatcher to make progress.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.on_own_thread():
            # Counted before the first run: a task posted from now on sets the signal, and
            # one posted before is already in the queue that run_pending drains.
            self._inline_waits += 1
            # A handler waiting in the middle of a batch (a burst of messages): the rest of
            # the batch must be able to run in this wait, first, as it would have run next.
            for batch in reversed(self._batches):
                self._queue.appendleft(batch)
            try:
                while True:
                    self._signal.clear()
                    self.run_pending(done)
                    if done():
                        return True
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._signal.wait(remaining)
            finally:
                self._inline_waits -= 1
        with self._progress:
            # Counted (under the lock: several threads may wait) before done() is first
            # checked, so a run that sees no waiter finished before that check.
            self._progress_waits += 1
            try:
                return self._progress.wait_for(
                    done, None if deadline is None else max(0.0, deadline - time.monotonic())
                )
            finally:
                self._progress_waits -= 1


#: How long a lazy post (see Dispatcher.post_lazy) may wait for another wake-up, in seconds.
LAZY_DELAY = 0.001


class _Deferral:
    """The wake-ups a deferring thread holds back until it is about to wait (see defer_wakeups)."""

    __slots__ = ("dispatchers", "lazy", "lazy_since")

    def __init__(self) -> None:
        self.dispatchers: list[Dispatcher] = []  # woken at the next flush
        self.lazy: list[Dispatcher] = []  # woken at the first flush LAZY_DELAY after lazy_since
        self.lazy_since = 0.0

    def flush(self) -> float | None:
        """Wake what is due; return how long the thread may wait before the next flush."""
        dispatchers = self.dispatchers
        while dispatchers:
            dispatchers.pop(0)._wake()
        lazy = self.lazy
        if not lazy:
            return None
        wait = self.lazy_since + LAZY_DELAY - time.monotonic()
        if wait > 0:
            return wait
        while lazy:
            lazy.pop(0)._wake_lazy()
        return None


_deferring = threading.local()


def defer_wakeups(on_idle: Callable[[Callable[[], float | None]], bool]) -> None:
    """Hold back the wake-ups of the calling thread's posts until the flush ``on_idle`` runs.

    ``on_idle`` registers a flush to run each time the thread is about to wait (the flush
    returns how long the thread may wait before it must run again, or None); if it returns
    False, wake-ups stay immediate. The I/O thread defers: so each loop iteration wakes each
    dispatcher once, however many messages its reads held, and the woken thread finds the
    GIL free. Woken earlier, it would wait for the I/O thread to end its iteration and be
    woken a second time, by the GIL; and an asyncio loop woken at a read's first message
    took the GIL to run that one message, then the next: a wake-up every few messages.
    """
    deferral = _Deferral()
    if on_idle(deferral.flush):
        _deferring.state = deferral


_loop_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dispatcher] = (
    weakref.WeakKeyDictionary()
)
_thread_dispatcher: Dispatcher | None = None
_lock = threading.Lock()


def _hold(released: threading.Event) -> None:
    """A task that keeps its dispatch thread waiting until ``released`` is set (see held)."""
    released.wait()


@contextlib.contextmanager
def held(dispatcher: Dispatcher) -> Iterator[None]:
    """Keep ``dispatcher`` from running the tasks posted during the block until it ends.

    Where handlers run on another thread (plain Python, plain IPython), an event could
    otherwise fire before the code that made the socket is done with it: before its
    constructor returns, before ``%ws connect`` attaches NAME's handlers. A browser never
    runs a handler before the script that made the socket finishes. On the dispatcher's own
    thread (a kernel's cell, an asyncio task) nothing can run meanwhile: no hold is needed.
    """
    if dispatcher.on_own_thread():
        yield
        return
    released = threading.Event()
    dispatcher.post(_hold, released)
    try:
        yield
    finally:
        released.set()


def current_dispatcher() -> Dispatcher:
    """Return the dispatcher for the caller: its running loop's, else the dispatch thread's."""
    global _thread_dispatcher
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None and (loop.is_closed() or not loop.is_running()):
        # A loop can stay registered as "running" after it stopped (greenlet bridges such
        # as Playwright's sync API leave it so); posting to it would never run anything.
        loop = None
    if loop is None and sys.platform == "emscripten":
        # Pyodide has one thread and no dispatch thread to start: its loop (JavaScript's)
        # always runs, even when no coroutine does.
        loop = asyncio.get_event_loop()
    with _lock:
        if loop is None:
            if _thread_dispatcher is None:
                _thread_dispatcher = Dispatcher(None)
            return _thread_dispatcher
        dispatcher = _loop_dispatchers.get(loop)
        if dispatcher is None:
            dispatcher = _loop_dispatchers[loop] = Dispatcher(loop)
        return dispatcher
