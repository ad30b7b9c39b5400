"""The backlog's room: how much a read may bring before the socket's backlog is full."""

from __future__ import annotations

from collections import deque

from ipyws._flow import Flow


def _received(flow: Flow, inbox: deque[str | bytes], messages: list[str]) -> None:
    """Count ``messages`` as the I/O thread does when a read brings them."""
    inbox.extend(messages)
    flow.received_bytes += sum(map(len, messages))
    flow.received_messages += len(messages)


def test_room_is_the_bytes_left_under_the_byte_limit() -> None:
    """With no message limit, the room is the byte limit minus what waits."""
    flow = Flow(None, 1000, drop_oldest=False)
    inbox: deque[str | bytes] = deque()
    assert flow.room(inbox) == 1000
    _received(flow, inbox, ["x" * 300])
    assert flow.room(inbox) == 700
    inbox.popleft()
    flow.handled_bytes += 300
    assert flow.room(inbox) == 1000


def test_room_turns_the_message_limit_into_bytes_at_the_mean_size() -> None:
    """Under a message limit the room is the messages left times the mean size so far."""
    flow = Flow(10, None, drop_oldest=False)
    inbox: deque[str | bytes] = deque()
    assert flow.room(inbox) == 0  # no message yet: nothing to size one by
    _received(flow, inbox, ["ab", "abcdef"])  # mean 4
    assert flow.room(inbox) == (10 - 2) * 4


def test_room_is_never_negative_and_unbounded_without_limits() -> None:
    """Past a limit the room is 0; without limits it is as large as can be asked."""
    flow = Flow(2, 1 << 20, drop_oldest=False)
    inbox: deque[str | bytes] = deque()
    _received(flow, inbox, ["a", "b", "c"])
    assert flow.room(inbox) == 0
    assert Flow(None, None, drop_oldest=False).room(deque()) >= 1 << 40
