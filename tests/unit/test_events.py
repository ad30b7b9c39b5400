"""Events and listeners: handler attributes, addEventListener order, dispatch (§5.1, §5.8-5.12)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import pytest

from ipyws import CloseEvent, Event, EventTarget, InvalidStateError, MessageEvent, WebSocket

Make = Callable[..., Any]

_HANDLERS = ["onopen", "onmessage", "onerror", "onclose"]


@pytest.fixture
def ws(make_socket: Make) -> WebSocket:
    """A CONNECTING socket on a fake transport (synthetic events need no network)."""
    socket, _ = make_socket()
    return socket  # type: ignore[no-any-return]


# -- event objects (§5.1, §5.6-5.8) -----------------------------------------------------------


def test_event_defaults() -> None:
    """Event(type) has the type, does not bubble, is not cancelable and is not trusted."""
    event = Event("open")
    assert event.type == "open"
    assert (event.bubbles, event.cancelable, event.defaultPrevented) == (False, False, False)
    assert event.isTrusted is False
    assert (event.target, event.currentTarget, event.eventPhase) == (None, None, Event.NONE)
    assert event.cause is None
    assert isinstance(event.timeStamp, float)


def test_event_phase_constants() -> None:
    """Event has the DOM phase constants NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE."""
    assert (Event.NONE, Event.CAPTURING_PHASE, Event.AT_TARGET, Event.BUBBLING_PHASE) == (
        0,
        1,
        2,
        3,
    )


def test_message_event_defaults() -> None:
    """MessageEvent(type) has data None, empty origin and lastEventId, no source, no ports."""
    event = MessageEvent("message")
    assert isinstance(event, Event)
    assert event.data is None
    assert (event.origin, event.lastEventId, event.source, event.ports) == ("", "", None, ())
    assert (event.bubbles, event.cancelable) == (False, False)


def test_message_event_init() -> None:
    """MessageEvent takes data, origin and lastEventId as keywords."""
    event = MessageEvent("message", data=b"\x00", origin="ws://h:1", lastEventId="7")
    assert (event.data, event.origin, event.lastEventId) == (b"\x00", "ws://h:1", "7")


def test_close_event_defaults() -> None:
    """CloseEvent("foo") has type foo, no bubbling/cancel, wasClean False, code 0, reason ""."""
    event = CloseEvent("foo")
    assert isinstance(event, Event)
    assert event.type == "foo"
    assert (event.bubbles, event.cancelable) == (False, False)
    assert (event.wasClean, event.code, event.reason) == (False, 0, "")


def test_close_event_init() -> None:
    """CloseEvent takes bubbles, cancelable, wasClean, code and reason as keywords."""
    event = CloseEvent(
        "close", bubbles=True, cancelable=True, wasClean=True, code=4000, reason="robot"
    )
    assert (event.bubbles, event.cancelable) == (True, True)
    assert (event.wasClean, event.code, event.reason) == (True, 4000, "robot")


def test_close_event_has_no_init_close_event() -> None:
    """There is no initCloseEvent on the class or on instances (historical)."""
    assert not hasattr(CloseEvent, "initCloseEvent")
    assert not hasattr(CloseEvent("close"), "initCloseEvent")


def test_event_init_is_keyword_only() -> None:
    """Event options are keywords: a positional second argument is a TypeError."""
    with pytest.raises(TypeError):
        CloseEvent("close", True)  # type: ignore[misc]


def test_event_reprs() -> None:
    """repr() names the class, type and the fields that matter."""
    assert repr(Event("open")) == "<Event type='open'>"
    assert repr(MessageEvent("message", data="hi")) == "<MessageEvent type='message' data='hi'>"
    long = repr(MessageEvent("message", data="x" * 100))
    assert long.endswith("...'>") and len(long) < 100
    assert repr(CloseEvent("close", code=1000, wasClean=True)) == (
        "<CloseEvent type='close' code=1000 reason='' wasClean=True>"
    )


def test_prevent_default_only_when_cancelable(ws: WebSocket) -> None:
    """preventDefault() cancels a cancelable event (dispatchEvent returns False), else nothing."""
    ws.addEventListener("x", lambda e: e.preventDefault())
    assert ws.dispatchEvent(Event("x")) is True
    cancelable = Event("x", cancelable=True)
    assert ws.dispatchEvent(cancelable) is False
    assert cancelable.defaultPrevented is True


# -- handler attributes (§2.6, §5.9) ------------------------------------------------------------


@pytest.mark.parametrize("name", _HANDLERS)
def test_handler_attribute_returns_function(ws: WebSocket, name: str) -> None:
    """A function assigned to onX is returned as-is; None clears it."""

    def handler(event: Event) -> None:
        pass

    setattr(ws, name, handler)
    assert getattr(ws, name) is handler
    setattr(ws, name, None)
    assert getattr(ws, name) is None


@pytest.mark.parametrize("name", _HANDLERS)
@pytest.mark.parametrize("value", [2, 1, ";", "print('no')", b"x", True, 0.5])
def test_handler_attribute_non_object_becomes_none(ws: WebSocket, name: str, value: Any) -> None:
    """Assigning a number, bool or string to onX gives None (the string is never run)."""
    setattr(ws, name, lambda e: None)
    setattr(ws, name, value)
    assert getattr(ws, name) is None


@pytest.mark.parametrize("kind", ["open", "message", "error", "close"])
def test_handler_attribute_non_callable_is_stored_not_called(ws: WebSocket, kind: str) -> None:
    """A non-callable object assigned to onX is returned but never called, not even handleEvent."""
    calls: list[Event] = []

    class Handler:
        def handleEvent(self, event: Event) -> None:
            calls.append(event)

    handler = Handler()
    setattr(ws, "on" + kind, handler)
    assert getattr(ws, "on" + kind) is handler
    ws.dispatchEvent(Event(kind))
    assert calls == []


@pytest.mark.parametrize("kind", ["open", "message", "error", "close"])
def test_synthetic_event_invokes_handler_synchronously(ws: WebSocket, kind: str) -> None:
    """dispatchEvent() of a synthetic event named open/message/error/close runs onX at once."""
    seen: list[Event] = []
    setattr(ws, "on" + kind, seen.append)
    event = Event(kind)
    assert ws.dispatchEvent(event) is True
    assert seen == [event]
    assert event.isTrusted is False


def test_handlers_do_not_see_other_types(ws: WebSocket) -> None:
    """An event of one type runs only that type's handler and listeners."""
    seen: list[str] = []
    ws.onopen = lambda e: seen.append("onopen")
    ws.addEventListener("close", lambda e: seen.append("close"))
    ws.dispatchEvent(Event("message"))
    assert seen == []


def test_dispatch_context(ws: WebSocket) -> None:
    """During dispatch target and currentTarget are the socket and eventPhase is AT_TARGET."""
    seen: list[tuple[Any, Any, int]] = []
    ws.onmessage = lambda e: seen.append((e.target, e.currentTarget, e.eventPhase))
    event = MessageEvent("message", data="x")
    ws.dispatchEvent(event)
    assert seen == [(ws, ws, Event.AT_TARGET)]
    assert (event.target, event.currentTarget, event.eventPhase) == (ws, None, Event.NONE)


def test_dispatching_an_event_twice_at_once_raises(ws: WebSocket) -> None:
    """Re-dispatching an event from its own listener raises InvalidStateError."""
    errors: list[BaseException] = []

    def listener(event: Event) -> None:
        try:
            ws.dispatchEvent(event)
        except InvalidStateError as exc:
            errors.append(exc)

    ws.addEventListener("x", listener)
    ws.dispatchEvent(Event("x"))
    assert len(errors) == 1


def test_dispatch_event_needs_an_event(ws: WebSocket) -> None:
    """dispatchEvent() of something that is not an Event raises TypeError."""
    with pytest.raises(TypeError, match="needs an Event"):
        ws.dispatchEvent("open")  # type: ignore[arg-type]


def test_handler_can_be_passed_to_constructor(make_socket: Make) -> None:
    """Handlers given as constructor keywords are the onX attributes."""

    def on_open(event: Event) -> None:
        pass

    socket, _ = make_socket("ws://example.test/", onopen=on_open)
    assert socket.onopen is on_open
    assert socket.onclose is None


# -- one ordered listener list (§5.11, §5.12) ----------------------------------------------------


@pytest.mark.parametrize("kind", ["open", "message", "error", "close"])
def test_handler_keeps_slot_where_first_set(ws: WebSocket, kind: str) -> None:
    """Listener A, then onX, then listener B run as A, onX, B; replacing onX keeps its slot."""
    order: list[str] = []
    ws.addEventListener(kind, lambda e: order.append("A"))
    setattr(ws, "on" + kind, lambda e: order.append("on1"))
    ws.addEventListener(kind, lambda e: order.append("B"))
    ws.dispatchEvent(Event(kind))
    setattr(ws, "on" + kind, lambda e: order.append("on2"))
    ws.dispatchEvent(Event(kind))
    assert order == ["A", "on1", "B", "A", "on2", "B"]


def test_cleared_handler_set_again_goes_last(ws: WebSocket) -> None:
    """A handler cleared with None and set again takes a new slot after existing listeners."""
    order: list[str] = []
    ws.onopen = lambda e: order.append("onopen")
    ws.addEventListener("open", lambda e: order.append("A"))
    ws.onopen = None
    ws.onopen = lambda e: order.append("onopen")
    ws.dispatchEvent(Event("open"))
    assert order == ["A", "onopen"]


def test_add_event_listener_ignores_duplicates(ws: WebSocket) -> None:
    """Adding the same listener twice calls it once."""
    calls: list[Event] = []
    ws.addEventListener("open", calls.append)
    ws.addEventListener("open", calls.append)
    ws.dispatchEvent(Event("open"))
    assert len(calls) == 1


def test_bound_method_listener_is_one_listener(ws: WebSocket) -> None:
    """``obj.method`` added twice runs once, and removeEventListener(obj.method) removes it."""

    class Feed:
        def __init__(self) -> None:
            self.calls = 0

        def on_message(self, event: Event) -> None:
            self.calls += 1

    feed = Feed()
    ws.addEventListener("message", feed.on_message)
    ws.addEventListener("message", feed.on_message)
    ws.dispatchEvent(Event("message"))
    ws.removeEventListener("message", feed.on_message)
    ws.dispatchEvent(Event("message"))
    assert feed.calls == 1


def test_same_function_as_handler_and_listener_runs_twice(ws: WebSocket) -> None:
    """A function set as onX and also added as a listener runs once for each registration."""
    calls: list[Event] = []
    ws.onopen = calls.append
    ws.addEventListener("open", calls.append)
    ws.dispatchEvent(Event("open"))
    assert len(calls) == 2


@pytest.mark.parametrize("kind", ["open", "message", "error", "close"])
def test_remove_event_listener(ws: WebSocket, kind: str) -> None:
    """A removed listener is not called; others still are."""
    calls: list[str] = []

    def removed(event: Event) -> None:
        calls.append("removed")

    ws.addEventListener(kind, removed)
    ws.addEventListener(kind, lambda e: calls.append("kept"))
    ws.removeEventListener(kind, removed)
    ws.dispatchEvent(Event(kind))
    assert calls == ["kept"]


def test_remove_unknown_listener_is_a_no_op(ws: WebSocket) -> None:
    """Removing a listener that was never added does nothing and raises nothing."""
    ws.removeEventListener("open", print)
    ws.removeEventListener("nothing", None)


def test_remove_event_listener_does_not_remove_handler(ws: WebSocket) -> None:
    """removeEventListener(type, f) leaves an onX handler that is the same function."""
    calls: list[Event] = []
    ws.onopen = calls.append
    ws.removeEventListener("open", calls.append)
    ws.dispatchEvent(Event("open"))
    assert len(calls) == 1
    assert ws.onopen == calls.append


def test_listener_removed_during_dispatch_is_not_called(ws: WebSocket) -> None:
    """A listener removed by an earlier listener in the same dispatch does not run."""
    calls: list[str] = []

    def second(event: Event) -> None:
        calls.append("second")

    ws.addEventListener("x", lambda e: ws.removeEventListener("x", second))
    ws.addEventListener("x", second)
    ws.dispatchEvent(Event("x"))
    assert calls == []


def test_listener_added_during_dispatch_runs_next_time(ws: WebSocket) -> None:
    """A listener added during a dispatch runs from the next dispatch on."""
    calls: list[str] = []

    def late(event: Event) -> None:
        calls.append("late")

    ws.addEventListener("x", lambda e: ws.addEventListener("x", late))
    ws.dispatchEvent(Event("x"))
    assert calls == []
    ws.dispatchEvent(Event("x"))
    assert calls == ["late"]


@pytest.mark.parametrize("once", [{"once": True}, "keyword"])
def test_once_listener_runs_once(ws: WebSocket, once: Any) -> None:
    """A listener added with once (option dict or keyword) runs for the first event only."""
    calls: list[Event] = []
    if once == "keyword":
        ws.addEventListener("message", calls.append, once=True)
    else:
        ws.addEventListener("message", calls.append, once)
    ws.dispatchEvent(Event("message"))
    ws.dispatchEvent(Event("message"))
    assert len(calls) == 1


def test_handle_event_object_listener(ws: WebSocket) -> None:
    """addEventListener accepts an object with handleEvent and calls that method."""
    calls: list[Event] = []

    class Listener:
        def handleEvent(self, event: Event) -> None:
            calls.append(event)

    ws.addEventListener("open", Listener())
    ws.dispatchEvent(Event("open"))
    assert len(calls) == 1


def test_add_event_listener_rejects_non_listener(ws: WebSocket) -> None:
    """addEventListener of a non-callable without handleEvent is a TypeError; None is ignored."""
    with pytest.raises(TypeError, match="needs a callable"):
        ws.addEventListener("open", 5)
    ws.addEventListener("open", None)
    assert ws.dispatchEvent(Event("open")) is True


def test_stop_immediate_propagation(ws: WebSocket) -> None:
    """stopImmediatePropagation() skips the remaining listeners of this dispatch only."""
    calls: list[str] = []

    def first(event: Event) -> None:
        calls.append("first")
        event.stopImmediatePropagation()

    ws.addEventListener("x", first)
    ws.addEventListener("x", lambda e: calls.append("second"))
    ws.dispatchEvent(Event("x"))
    ws.dispatchEvent(Event("x"))
    assert calls == ["first", "first"]


def test_raising_listener_does_not_stop_others(
    ws: WebSocket, reported_errors: list[BaseException]
) -> None:
    """A listener that raises is reported and the following listeners still run."""
    calls: list[str] = []
    boom = ValueError("boom")

    def bad(event: Event) -> None:
        raise boom

    ws.onmessage = bad
    ws.addEventListener("message", lambda e: calls.append("after"))
    assert ws.dispatchEvent(Event("message")) is True
    assert calls == ["after"]
    assert reported_errors == [boom]


def test_listener_runs_in_registration_context(ws: WebSocket) -> None:
    """Each listener runs in the contextvars context current when it was registered."""
    cell: contextvars.ContextVar[str] = contextvars.ContextVar("cell", default="none")
    seen: list[str] = []

    def register(name: str) -> None:
        cell.set(name)
        ws.addEventListener("x", lambda e: seen.append(cell.get()))

    contextvars.copy_context().run(register, "cell-1")
    contextvars.copy_context().run(register, "cell-2")
    ws.dispatchEvent(Event("x"))
    assert seen == ["cell-1", "cell-2"]
    assert cell.get() == "none"


def test_plain_event_target() -> None:
    """EventTarget works on its own, for user classes."""
    target = EventTarget()
    seen: list[Event] = []
    target.addEventListener("ping", seen.append)
    target.dispatchEvent(Event("ping"))
    assert seen[0].target is target


def test_listener_traceback_starts_in_the_listener(reported_errors: list[BaseException]) -> None:
    """A listener's reported traceback starts at the listener, without ipyws's own frames."""
    target = EventTarget()

    def failing_listener(event: Event) -> None:
        raise ValueError("boom")

    target.addEventListener("ping", failing_listener)
    target.dispatchEvent(Event("ping"))
    (error,) = reported_errors
    assert error.__traceback__ is not None
    assert error.__traceback__.tb_frame.f_code.co_name == "failing_listener"
