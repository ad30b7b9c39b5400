"""Flow control: a bounded backlog between the I/O thread and a socket's handlers.

Messages arrive on the I/O thread and wait in the socket's inbox until a handler has run for
them on the dispatcher's thread. A handler slower than the feed makes that backlog grow;
unbounded, it grew the kernel by 70 MB in 16 s. So it is bounded in messages and in bytes.
Past the high-water mark the socket stops reading from its connection (TCP then slows the
server, as websockets' ``max_queue`` and WebSocketStream do) and reads again once the handlers
brought it under the low-water mark, half the high one: nothing is lost and order is kept.
With ``drop_oldest`` (a dashboard that only shows the newest values) it keeps reading and
drops the oldest unhandled messages instead, counting them.

Each counter has one writer, so no lock is needed: the I/O thread counts what arrives, what
it drops and whether reading is paused; the dispatcher's thread counts what it took out of
the inbox to handle. The backlog is the difference.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ._validation import check_count

__all__ = ["DEFAULT_MAX_BACKLOG", "DEFAULT_MAX_BACKLOG_BYTES", "Backlog", "Flow"]

#: Received messages that may wait for their handler before the socket stops reading.
DEFAULT_MAX_BACKLOG = 10_000
#: Payload bytes (text counted in characters) that may wait before the socket stops reading.
DEFAULT_MAX_BACKLOG_BYTES = 16 * 1024 * 1024

_UNBOUNDED = 1 << 62


class Backlog(NamedTuple):
    """What ``WebSocket.backlog`` reports: received messages whose handlers have not run yet.

    ``messages`` and ``bytes`` wait (text counted in characters); ``paused`` tells whether
    the socket stopped reading because they passed its limits; ``dropped`` counts the
    messages ``drop_oldest`` dropped unhandled since the socket was created.
    """

    messages: int
    bytes: int
    paused: bool
    dropped: int


class Flow:
    """The counters and limits of one socket's backlog (see the module docstring).

    The messages waiting are the socket's inbox (a deque: its length is read in O(1)), plus
    what an earlier connection's inbox still holds after a reconnect (``earlier``).
    """

    __slots__ = (
        "drop_oldest",
        "dropped",
        "dropped_bytes",
        "earlier",
        "handled_bytes",
        "high_bytes",
        "high_messages",
        "low_bytes",
        "low_messages",
        "max_bytes",
        "max_messages",
        "paused",
        "received_bytes",
        "received_messages",
        "resume_asked",
    )

    def __init__(self, max_messages: int | None, max_bytes: int | None, drop_oldest: bool) -> None:
        if max_messages is not None:
            check_count("max_backlog", max_messages, none=True)
        if max_bytes is not None:
            check_count("max_backlog_bytes", max_bytes, none=True)
        #: The limits as given (None: no limit).
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.high_messages = _UNBOUNDED if max_messages is None else max_messages
        self.high_bytes = _UNBOUNDED if max_bytes is None else max_bytes
        self.low_messages = self.high_messages // 2
        self.low_bytes = self.high_bytes // 2
        self.drop_oldest = drop_oldest
        self.earlier: deque[str | bytes] = deque()
        # Written on the I/O thread only.
        self.received_bytes = 0
        self.received_messages = 0
        self.dropped = 0
        self.dropped_bytes = 0
        self.paused = False
        # Written on the dispatcher's thread only (resume_asked is cleared by the I/O call
        # it asked for, once that runs).
        self.handled_bytes = 0
        self.resume_asked = False

    def waiting_bytes(self) -> int:
        """Payload bytes received and not yet handled nor dropped (text in characters)."""
        return self.received_bytes - self.handled_bytes - self.dropped_bytes

    def over(self, inbox: deque[str | bytes]) -> bool:
        """Tell whether the backlog of ``inbox`` is past either high-water mark."""
        return len(inbox) > self.high_messages or self.waiting_bytes() > self.high_bytes

    def room(self, inbox: deque[str | bytes]) -> int:
        """Return about how many bytes may arrive before the backlog passes a high-water mark.

        Reads are sized by it (see ``_engine_picows``). The message limit is turned into
        bytes at the mean size of the messages so far (0 before the first one).
        """
        room = self.high_bytes - self.waiting_bytes()
        if self.high_messages < _UNBOUNDED:
            count = self.received_messages
            mean = self.received_bytes // count if count else 0
            room = min(room, (self.high_messages - len(inbox) - len(self.earlier)) * mean)
        return max(0, room)

    def may_resume(self, inbox: deque[str | bytes]) -> bool:
        """Tell whether reading is paused and the backlog is back under both low-water marks."""
        return (
            self.paused
            and len(inbox) + len(self.earlier) <= self.low_messages
            and self.waiting_bytes() <= self.low_bytes
        )

    def drop_from(self, inbox: deque[str | bytes]) -> int:
        """Drop the oldest messages of ``inbox`` until within the limits; return how many.

        On the I/O thread. The newest message always stays: the dispatcher may be about to
        take one, and each message is either taken or dropped, never both.
        """
        count = 0
        while len(inbox) > 1 and self.over(inbox):
            data = inbox.popleft()
            self.dropped += 1
            self.dropped_bytes += len(data)
            count += 1
        return count

    def snapshot(self, inbox: deque[str | bytes]) -> Backlog:
        """Return the backlog as it is now (read from any thread)."""
        waiting = len(inbox) + len(self.earlier)
        return Backlog(waiting, max(0, self.waiting_bytes()), self.paused, self.dropped)
