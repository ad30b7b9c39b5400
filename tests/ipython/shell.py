"""Helpers for the IPython-tier tests: run cells, expect one-line UsageErrors, fetch sockets."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal

from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult, InteractiveShell

from ipyws import WebSocket

TIMEOUT = 10.0


def _run_cell(
    shell: InteractiveShell, source: str, *, cell_id: str | None = None
) -> ExecutionResult:
    """Run ``source`` as a cell with ``shell.run_cell`` and return its result, whatever it is."""
    # IPython leaves run_cell unannotated: the tests' one call of it sits behind a typed front.
    result = shell.run_cell(source, cell_id=cell_id)  # type: ignore[no-untyped-call]
    assert isinstance(result, ExecutionResult), result
    return result


def find_magic(
    shell: InteractiveShell, kind: Literal["line", "cell"], name: str
) -> Callable[..., Any] | None:
    """Return the ``kind`` magic ``name`` registered in ``shell``, or None if there is none."""
    # IPython leaves find_line_magic / find_cell_magic unannotated: one typed front for both.
    find = shell.find_line_magic if kind == "line" else shell.find_cell_magic
    magic: object = find(name)  # type: ignore[no-untyped-call]
    assert magic is None or callable(magic), magic
    return magic


def run(shell: InteractiveShell, source: str, *, cell_id: str | None = None) -> ExecutionResult:
    """Run ``source`` as a cell and fail the test on any error."""
    result = _run_cell(shell, source, cell_id=cell_id)
    if not result.success:
        error = result.error_in_exec or result.error_before_exec
        raise AssertionError(f"cell failed: {source!r}: {type(error).__name__}: {error}")
    return result


def usage_error(shell: InteractiveShell, source: str) -> str:
    """Run ``source`` as a cell, check it failed with a one-line UsageError, return the message."""
    result = _run_cell(shell, source)
    error = result.error_in_exec or result.error_before_exec
    assert type(error) is UsageError, f"{source!r} gave {error!r}"
    message = str(error)
    assert "\n" not in message, message
    return message


def socket_named(shell: InteractiveShell, name: str) -> WebSocket:
    """Return the WebSocket bound to ``name`` in the shell's namespace."""
    value: Any = shell.user_ns[name]
    assert isinstance(value, WebSocket), value
    return value


def settle(ws: WebSocket) -> None:
    """Return once every event already queued for ``ws`` has run its listeners.

    Outside a kernel the listeners run on the ipyws dispatch thread, and ``wait_message()`` /
    ``wait_open()`` on another thread can return before they finish; the dispatcher runs
    tasks in order, so a marker task posted now runs after them.
    """
    done = threading.Event()
    ws._dispatcher.post(lambda _: done.set(), None)
    assert done.wait(TIMEOUT), "the dispatcher did not run the marker task"
