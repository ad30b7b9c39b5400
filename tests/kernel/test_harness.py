"""The kernel harness itself, proven on plain Python in a real ipykernel (no ipyws involved)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from tests.kernel.harness import REPO_ROOT, Kernel, KernelTimeoutError

ROUTING_CELL = """
import asyncio, contextvars, threading
_loop = asyncio.get_running_loop()
_ctx_a = contextvars.copy_context()
_go = threading.Event()

def _feeder():
    if _go.wait(60):
        _loop.call_soon_threadsafe(print, "pinned to A", context=_ctx_a)
        _loop.call_soon_threadsafe(print, "unpinned")

threading.Thread(target=_feeder, daemon=True).start()
print("A registered")
"""


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (a reaped or zombie process counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_threadsafe_callback_with_captured_context_prints_under_its_cell(kernel: Kernel) -> None:
    """A thread's call_soon_threadsafe(print, context=ctx of cell A) prints under A after B ran."""
    a = kernel.run_ok(ROUTING_CELL)
    assert a.stdout == "A registered\n"
    b = kernel.run_ok('print("B ran")\n_go.set()')

    kernel.wait_for_output(a.msg_id, "pinned to A", timeout=30)
    kernel.wait_for_output(b.msg_id, "unpinned", timeout=30)

    assert kernel.stdout_of(a.msg_id) == "A registered\npinned to A\n"
    assert kernel.stdout_of(b.msg_id) == "B ran\nunpinned\n"
    assert "pinned to A" not in a.stdout  # arrived after A's idle: only the live log has it
    (pinned,) = [
        m for m in kernel.messages(a.msg_id, "stream") if "pinned to A" in m.content["text"]
    ]
    (b_ran,) = [m for m in kernel.messages(b.msg_id, "stream") if "B ran" in m.content["text"]]
    assert pinned.index > b_ran.index and pinned.received >= b_ran.received


def test_submitted_blocking_cell_is_seen_busy_until_it_finishes(kernel: Kernel) -> None:
    """submit() returns at once; the harness sees the cell busy, then wait() returns its result."""
    msg_id = kernel.submit("import time\ntime.sleep(3)\nprint('slept')")
    kernel.wait_for_status(msg_id, "busy", timeout=30)
    assert kernel.state_of(msg_id) == "busy"
    assert not kernel.is_done(msg_id)

    cell = kernel.wait(msg_id, timeout=60)
    assert cell.status == "ok"
    assert cell.stdout == "slept\n"
    assert kernel.state_of(msg_id) == "idle" and kernel.is_done(msg_id)
    assert cell.elapsed >= 2.9  # a lower bound only: the cell slept 3 s


def test_cell_error_is_captured_with_name_value_and_traceback(shared_kernel: Kernel) -> None:
    """A cell raising ValueError gives status 'error', ename ValueError, its value and traceback."""
    cell = shared_kernel.execute("raise ValueError('bad value 42')")
    assert cell.status == "error"
    assert cell.error is not None
    assert (cell.error.ename, cell.error.evalue) == ("ValueError", "bad value 42")
    assert "raise ValueError" in cell.error.text
    assert [(e.ename, e.source) for e in shared_kernel.errors_of(cell.msg_id)] == [
        ("ValueError", "error")
    ]
    with pytest.raises(AssertionError, match="ValueError"):
        cell.assert_ok()


def test_traceback_printed_on_stderr_after_the_cell_is_found(shared_kernel: Kernel) -> None:
    """A traceback printed by a loop callback after its cell ended is reported by errors_of()."""
    cell = shared_kernel.run_ok(
        "import asyncio, traceback\n"
        "def _boom():\n"
        "    try:\n"
        "        raise KeyError('late')\n"
        "    except KeyError:\n"
        "        traceback.print_exc()\n"
        "asyncio.get_running_loop().call_soon(_boom)\n"
    )
    shared_kernel.wait_for_output(cell.msg_id, "KeyError: 'late'", timeout=30, stream="stderr")
    errors = shared_kernel.errors_of(cell.msg_id)
    assert [(e.ename, e.evalue, e.source) for e in errors] == [("KeyError", "'late'", "stream")]
    assert "raise KeyError('late')" in errors[0].text


def test_wait_for_output_returns_late_output_and_times_out_otherwise(kernel: Kernel) -> None:
    """wait_for_output() returns once a later print lands under the cell; it raises on timeout."""
    cell = kernel.run_ok(
        "import asyncio\nasyncio.get_running_loop().call_later(0.3, print, 'late hello')"
    )
    assert kernel.wait_for_output(cell.msg_id, "late hello", timeout=30) == "late hello\n"
    with pytest.raises(KernelTimeoutError, match="never printed"):
        kernel.wait_for_output(cell.msg_id, "never printed", timeout=0.5)


def test_interrupt_stops_a_blocking_cell(kernel: Kernel) -> None:
    """interrupt() turns a running time.sleep(600) into a KeyboardInterrupt error."""
    msg_id = kernel.submit("import time\nprint('sleeping', flush=True)\ntime.sleep(600)")
    # 'busy' is published before user code runs; a SIGINT in that gap is swallowed by ipykernel
    # ("KeyboardInterrupt caught in kernel", no execute_reply), so wait until the cell runs.
    kernel.wait_for_output(msg_id, "sleeping", timeout=30)
    kernel.interrupt()
    cell = kernel.wait(msg_id, timeout=30)
    assert cell.status == "error"
    assert cell.error is not None and cell.error.ename == "KeyboardInterrupt"
    kernel.run_ok("x = 1")


def test_restart_gives_a_fresh_process_and_namespace(kernel: Kernel) -> None:
    """restart() replaces the process (old one gone) and forgets variables."""
    kernel.run_ok("survivor = 1")
    old_pid = kernel.pid
    kernel.restart()
    assert kernel.pid != old_pid and _gone(old_pid)
    cell = kernel.execute("survivor")
    assert cell.error is not None and cell.error.ename == "NameError"


def test_shutdown_during_a_blocking_cell_leaves_no_process() -> None:
    """shutdown() ends a kernel stuck in a cell, leaves no process and is idempotent."""
    k = Kernel()
    try:
        k.start()
        pid = k.pid
        msg_id = k.submit("import time\ntime.sleep(600)")
        k.wait_for_status(msg_id, "busy", timeout=30)
    finally:
        k.shutdown()
    assert _gone(pid)
    assert not k.is_alive()
    k.shutdown()


def test_kernel_runs_this_interpreter_with_repo_root_and_private_config(kernel: Kernel) -> None:
    """The kernel uses sys.executable, can import from the repo root and uses temp Jupyter dirs."""
    cell = kernel.run_ok(
        "import os, sys\n"
        "print(sys.executable)\n"
        f"print({str(REPO_ROOT)!r} in sys.path)\n"
        "for k in ('IPYTHONDIR', 'JUPYTER_CONFIG_DIR', 'JUPYTER_DATA_DIR',\n"
        "          'JUPYTER_RUNTIME_DIR'):\n"
        "    print(os.environ[k])\n"
        "print(get_ipython().profile_dir.location)\n"
    )
    lines = cell.stdout.splitlines()
    assert Path(lines[0]).resolve() == Path(sys.executable).resolve()
    assert lines[1] == "True"
    root = Path(kernel.dirs["work"]).parent
    for path in lines[2:]:
        assert Path(path).is_relative_to(root), path
    assert Path(__file__).resolve().parents[2] == REPO_ROOT
    assert os.environ.get("IPYTHONDIR") != lines[2]


def test_display_data_and_comm_messages_are_collected(shared_kernel: Kernel) -> None:
    """display() shows up in Cell.display_data; comm open/msg and a frontend comm_msg round-trip."""
    cell = shared_kernel.run_ok(
        "from IPython.display import display\n"
        "display({'text/plain': 'shown'}, raw=True)\n"
        "from comm import create_comm\n"
        "c = create_comm(target_name='ipyws-harness-test', data={'hello': 1})\n"
        "c.on_msg(lambda msg: print('got', msg['content']['data']))\n"
        "c.send({'method': 'update', 'n': 2})\n"
    )
    assert cell.display_data == [{"text/plain": "shown"}]
    (opened,) = shared_kernel.comm_msgs(parent=cell.msg_id, msg_types=("comm_open",))
    comm_id = opened.content["comm_id"]
    assert opened.content["data"] == {"hello": 1}
    (update,) = shared_kernel.comm_msgs(comm_id, method="update")
    assert update.content["data"]["n"] == 2

    sent = shared_kernel.send_comm_msg(comm_id, {"clicked": True})
    assert shared_kernel.wait_for_output(sent, "got", timeout=30) == "got {'clicked': True}\n"
