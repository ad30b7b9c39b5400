"""Events and EventTarget: the DOM event model the WebSocket object dispatches through."""

from __future__ import annotations

import contextvars
import time
import types
from collections.abc import Callable
from typing import Any, ClassVar

from ._cells import CellRun, current_run
from ._dispatch import report_exception
from ._text import type_name
from .exceptions import InvalidStateError

__all__ = [
    "CloseEvent",
    "Event",
    "EventHandler",
    "EventTarget",
    "MessageEvent",
    "ReconnectEvent",
]

_TIME_ORIGIN = time.monotonic()

Listener = Callable[[Any], Any]


def _now_ms() -> float:
    """Return milliseconds since the module was imported (the DOM's time origin)."""
    return (time.monotonic() - _TIME_ORIGIN) * 1000.0


class Event:
    """A DOM event: ``open`` and ``error`` are plain Events.

    ``Event(type)`` makes a synthetic event for
    [`EventTarget.dispatchEvent`][ipyws.EventTarget.dispatchEvent].
    """

    __slots__ = (
        "_dispatching",
        "_stop",
        "bubbles",
        "cancelable",
        "cause",
        "currentTarget",
        "defaultPrevented",
        "eventPhase",
        "isTrusted",
        "target",
        "timeStamp",
        "type",
    )

    NONE: ClassVar[int] = 0
    CAPTURING_PHASE: ClassVar[int] = 1
    AT_TARGET: ClassVar[int] = 2
    BUBBLING_PHASE: ClassVar[int] = 3

    def __init__(self, type: str, *, bubbles: bool = False, cancelable: bool = False) -> None:
        self.type = type
        self.bubbles = bubbles
        self.cancelable = cancelable
        self.defaultPrevented = False
        self.isTrusted = False
        self.target: EventTarget | None = None
        self.currentTarget: EventTarget | None = None
        self.eventPhase = Event.NONE
        self.timeStamp = _now_ms()
        #: Non-standard: on a WebSocket ``error`` event, the exception that failed the
        #: connection (``None`` on synthetic events).
        self.cause: BaseException | None = None
        self._dispatching = False
        self._stop = False

    def preventDefault(self) -> None:  # noqa: N802
        """Mark the event as canceled if it is cancelable."""
        if self.cancelable:
            self.defaultPrevented = True

    def stopImmediatePropagation(self) -> None:  # noqa: N802
        """Stop calling the remaining listeners for this event."""
        self._stop = True

    def stopPropagation(self) -> None:  # noqa: N802
        """Do nothing more than the browser does for an event at its target."""

    def composedPath(self) -> list[EventTarget]:  # noqa: N802
        """Return ``[target]`` while dispatching, else ``[]``."""
        return [self.currentTarget] if self.currentTarget is not None else []

    def _fields(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} type={self.type!r}{self._fields()}>"


class MessageEvent(Event):
    """A ``message`` event: ``data`` is a ``str``, a [`Blob`][ipyws.Blob] or ``bytes``."""

    __slots__ = ("data", "lastEventId", "origin", "ports", "source")

    def __init__(
        self,
        type: str,
        *,
        data: Any = None,
        origin: str = "",
        lastEventId: str = "",  # noqa: N803
        bubbles: bool = False,
        cancelable: bool = False,
    ) -> None:
        super().__init__(type, bubbles=bubbles, cancelable=cancelable)
        self.data = data
        self.origin = origin
        self.lastEventId = lastEventId
        self.source = None
        self.ports: tuple[()] = ()

    def _fields(self) -> str:
        data = self.data
        preview = repr(data if not isinstance(data, str) or len(data) <= 60 else data[:57] + "...")
        return f" data={preview}"


_new_object = object.__new__
_AT_TARGET = Event.AT_TARGET
_NONE = Event.NONE


class CloseEvent(Event):
    """A ``close`` event: ``code``, ``reason`` and whether the close was clean."""

    __slots__ = ("code", "reason", "wasClean")

    def __init__(
        self,
        type: str,
        *,
        wasClean: bool = False,  # noqa: N803
        code: int = 0,
        reason: str = "",
        bubbles: bool = False,
        cancelable: bool = False,
    ) -> None:
        super().__init__(type, bubbles=bubbles, cancelable=cancelable)
        self.wasClean = wasClean
        self.code = code
        self.reason = reason

    def _fields(self) -> str:
        return f" code={self.code} reason={self.reason!r} wasClean={self.wasClean}"


class ReconnectEvent(Event):
    """Non-standard: the ``reconnect`` event a socket made with ``reconnect=`` fires.

    It comes right after a ``close`` event when the socket will connect again, with
    ``readyState`` back at CONNECTING: ``attempt`` counts the attempts in a row (1, 2, ...),
    ``delay`` is the wait in seconds before it starts, and ``code``, ``reason`` and
    ``wasClean`` repeat the close that ended the previous connection.
    """

    __slots__ = ("attempt", "code", "delay", "reason", "wasClean")

    def __init__(
        self,
        type: str,
        *,
        attempt: int = 0,
        delay: float = 0.0,
        code: int = 0,
        reason: str = "",
        wasClean: bool = False,  # noqa: N803
        bubbles: bool = False,
        cancelable: bool = False,
    ) -> None:
        super().__init__(type, bubbles=bubbles, cancelable=cancelable)
        self.attempt = attempt
        self.delay = delay
        self.code = code
        self.reason = reason
        self.wasClean = wasClean

    def _fields(self) -> str:
        return f" attempt={self.attempt} delay={self.delay:.3g} code={self.code}"


class _Entry:
    """One registered listener: the callback, the context it runs in, its flags."""

    __slots__ = ("callback", "cell", "context", "entered", "is_attribute", "once", "removed")

    def __init__(
        self,
        callback: Any,
        context: contextvars.Context,
        once: bool = False,
        is_attribute: bool = False,
    ) -> None:
        self.callback = callback
        self.context = context
        self.once = once
        self.is_attribute = is_attribute
        self.removed = False
        self.entered = False
        #: The notebook cell run that added it, or None.
        self.cell: CellRun | None = None


def _listener_name(callback: Any) -> str:
    """Name a listener the way a re-run cell redefines it (``on_message``, ``<lambda>``)."""
    function = getattr(callback, "__func__", callback)
    return str(getattr(function, "__qualname__", None) or type(callback).__qualname__)


def _invoke(callback: Any, event: Event, is_attribute: bool) -> None:
    """Call one listener, reporting (not raising) what it raises."""
    try:
        if callable(callback):
            callback(event)
        elif not is_attribute:
            callback.handleEvent(event)
    except Exception as exc:
        report_exception(exc)


_BOUND_METHODS = (types.MethodType, types.BuiltinMethodType)


def _same_listener(entry: _Entry, callback: Any) -> bool:
    """Tell whether ``entry`` was added by addEventListener with ``callback``.

    Bound methods are compared with ``==``: ``obj.method`` makes a new object on each access,
    so an identity test would let ``addEventListener(t, self.on_message)`` register twice and
    ``removeEventListener(t, self.on_message)`` never match.
    """
    if entry.is_attribute:
        return False
    return entry.callback is callback or (
        isinstance(callback, _BOUND_METHODS) and entry.callback == callback
    )


class EventTarget:
    """The DOM ``EventTarget``: ordered listeners per event type.

    Listeners run in registration order; an ``onX`` handler attribute keeps the slot where it
    was first set. Each listener runs in the ``contextvars`` context that was current when
    it was registered, which is how its output lands under the notebook cell that added it.
    """

    def __init__(self) -> None:
        self._listeners: dict[str, tuple[_Entry, ...]] = {}

    def addEventListener(  # noqa: N802
        self,
        type: str,
        callback: Listener | Any | None,
        options: bool | dict[str, Any] | None = None,
        *,
        once: bool = False,
    ) -> None:
        """Call ``callback(event)`` for each event of ``type``; adding it twice has no effect.

        ``callback`` is a callable or an object with a ``handleEvent`` method. ``once=True``
        (or ``{"once": True}`` as in the browser) removes it after its first call.
        """
        if callback is None:
            return
        if not callable(callback) and not callable(getattr(callback, "handleEvent", None)):
            raise TypeError(
                "addEventListener() needs a callable or an object with a handleEvent method, "
                f"not {type_name(callback)}"
            )
        if isinstance(options, dict):
            once = bool(options.get("once", once))
        entries = self._listeners.get(type, ())
        for entry in entries:
            if _same_listener(entry, callback):
                return
        cell = current_run()
        if cell is not None:
            self._replace_rerun_listeners(type, callback, cell)
        entry = _Entry(callback, contextvars.copy_context(), once=once)
        entry.cell = cell
        self._listeners[type] = (*self._listeners.get(type, ()), entry)

    def _replace_rerun_listeners(self, type: str, callback: Any, cell: CellRun) -> None:
        """Remove the listeners an earlier run of this notebook cell added with this name.

        Re-running a cell must not make every event print twice; within one run, and
        without a frontend cell id, the browser's rules apply unchanged.
        """
        name = _listener_name(callback)
        for old in self._listeners.get(type, ()):
            if cell.reruns(old.cell) and _listener_name(old.callback) == name:
                self._remove_entry(type, old)

    def removeEventListener(  # noqa: N802
        self,
        type: str,
        callback: Listener | Any | None,
        options: bool | dict[str, Any] | None = None,
    ) -> None:
        """Stop calling ``callback`` for events of ``type`` (no error if it was not added)."""
        entries = self._listeners.get(type, ())
        for entry in entries:
            if _same_listener(entry, callback):
                self._remove_entry(type, entry)
                return

    def _remove_entry(self, type: str, entry: _Entry) -> None:
        entry.removed = True
        remaining = tuple(e for e in self._listeners.get(type, ()) if e is not entry)
        if remaining:
            self._listeners[type] = remaining
        else:
            self._listeners.pop(type, None)

    def dispatchEvent(self, event: Event) -> bool:  # noqa: N802
        """Run the listeners for ``event.type`` now; return False if the event was canceled."""
        if not isinstance(event, Event):
            raise TypeError(f"dispatchEvent() needs an Event, not {type_name(event)}")
        if event._dispatching:
            raise InvalidStateError("The event is already being dispatched.")
        return self._dispatch(event)

    def _dispatch(self, event: Event, trusted: bool = False) -> bool:
        """Dispatch ``event`` at this target (real and synthetic events alike)."""
        event.isTrusted = trusted
        event.target = self
        event.currentTarget = self
        event.eventPhase = _AT_TARGET
        event._dispatching = True
        return self._call_listeners(event)

    def _dispatch_message(self, data: Any, origin: str, now: float) -> MessageEvent:
        """Dispatch a received message, as ``_dispatch(MessageEvent("message", data=data,
        origin=origin), True)`` would at ``time.monotonic()`` ``now``; return the event.

        The per-message path of a socket: the constructor's chained ``__init__`` calls and
        keyword parsing cost about as much as the whole dispatch, so this sets the slots
        directly, at their values during dispatch (a test checks the event matches the
        constructor's, dispatched, attribute for attribute).
        """
        event = _new_object(MessageEvent)
        event.type = "message"
        event.bubbles = False
        event.cancelable = False
        event.defaultPrevented = False
        event.isTrusted = True
        event.target = self
        event.currentTarget = self
        event.eventPhase = _AT_TARGET
        event.timeStamp = (now - _TIME_ORIGIN) * 1000.0
        event.cause = None
        event._dispatching = True
        event._stop = False
        event.data = data
        event.origin = origin
        event.lastEventId = ""
        event.source = None
        event.ports = ()
        self._call_listeners(event)
        return event

    def _call_listeners(self, event: Event) -> bool:
        """Call the listeners of ``event`` (already at this target), then end its dispatch."""
        try:
            for entry in self._listeners.get(event.type, ()):
                if entry.removed:
                    continue
                if entry.once:
                    self._remove_entry(event.type, entry)
                callback = entry.callback
                if entry.entered:
                    # A listener dispatching to itself is already inside its context.
                    _invoke(callback, event, entry.is_attribute)
                    if event._stop:
                        break
                    continue
                entry.entered = True
                context = entry.context
                try:
                    if callable(callback):
                        # The common case without _invoke's extra call (this runs per
                        # message); what it raises is reported in the same context.
                        try:
                            context.run(callback, event)
                        except Exception as exc:  # a listener's error must not stop dispatch
                            context.run(report_exception, exc)
                    else:
                        context.run(_invoke, callback, event, entry.is_attribute)
                finally:
                    entry.entered = False
                if event._stop:
                    break
        finally:
            event._dispatching = False
            event._stop = False
            event.currentTarget = None
            event.eventPhase = _NONE
        return not event.defaultPrevented

    # -- handler attributes (onopen, onmessage, ...) ------------------------------------

    def _get_handler(self, type: str) -> Any:
        for entry in self._listeners.get(type, ()):
            if entry.is_attribute:
                return entry.callback
        return None

    def _set_handler(self, type: str, value: Any) -> None:
        # As in the browser, a non-object value (number, string, bool) clears the handler;
        # any other object is stored (a non-callable one is kept but never called).
        if value is None or isinstance(value, (str, bytes, int, float, bool)):
            value = None
        entries = self._listeners.get(type, ())
        for entry in entries:
            if entry.is_attribute:
                if value is None:
                    self._remove_entry(type, entry)
                else:
                    entry.callback = value
                    entry.context = contextvars.copy_context()
                return
        if value is not None:
            entry = _Entry(value, contextvars.copy_context(), is_attribute=True)
            self._listeners[type] = (*entries, entry)


class EventHandler:
    """A descriptor for an ``onX`` handler attribute that shares the ordered listener list."""

    def __init__(self, type: str) -> None:
        self.type = type

    def __set_name__(self, owner: type, name: str) -> None:
        self.__doc__ = f"The ``{self.type}`` event handler: a callable taking the event, or None."

    def __get__(self, obj: EventTarget | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._get_handler(self.type)

    def __set__(self, obj: EventTarget, value: Any) -> None:
        obj._set_handler(self.type, value)
