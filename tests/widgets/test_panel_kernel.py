"""The panel in a real ipykernel: display data, updates while a cell blocks, frontend actions."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipyws import demo
from tests.kernel import harness

pytestmark = pytest.mark.kernel
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel() -> Iterator[Any]:
    """A fresh kernel, always shut down."""
    with harness.start_kernel() as k:
        yield k


@pytest.fixture
def ticker() -> Iterator[demo.DemoServer]:
    """A 50 msg/s ticker in the test process."""
    with demo.start("ticker", rate=50) as server:
        yield server


@pytest.fixture
def echo() -> Iterator[demo.DemoServer]:
    """An echo server in the test process."""
    with demo.start("echo") as server:
        yield server


def show(kernel: Any, url: str) -> str:
    """Connect in the kernel and display the socket as a cell's value; return the model id."""
    cell = kernel.run_ok(f"from ipyws import WebSocket\nws = WebSocket({url!r})\nws")
    result = cell.execute_result
    assert result is not None and WIDGET_MIME in result, result
    assert result["text/plain"].startswith("<WebSocket ")
    assert "ipyws-snapshot" in result["text/html"]
    return str(result[WIDGET_MIME]["model_id"])


def states(kernel: Any, model_id: str, types: tuple[str, ...] = ("comm_msg",)) -> list[Any]:
    """Return (receive time, state) of the panel's comm_open and/or update messages so far."""
    return [
        (m.received, m.content["data"]["state"])
        for m in kernel.comm_msgs(model_id, msg_types=types)
        if m.msg_type == "comm_open" or m.content["data"].get("method") == "update"
    ]


def new_rows(kernel: Any, model_id: str) -> list[dict[str, Any]]:
    """Return every row the panel's updates carried."""
    return [row for _, state in states(kernel, model_id) for row in state.get("new_rows", [])]


def test_panel_updates_while_a_cell_blocks(
    kernel: Any, ticker: demo.DemoServer, tmp_path: Path
) -> None:
    """Updates go out while another cell blocks in time.sleep, at most about 20 a second."""
    model_id = show(kernel, ticker.url)
    # The cell blocks until the test has seen the updates (not for a fixed time a busy machine
    # could fill with nothing): at most a minute.
    release = tmp_path / "release"
    sleeper = kernel.submit(
        "import os, time\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(release)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
    )
    kernel.wait_for_status(sleeper, "busy", timeout=30)
    busy = kernel.messages(sleeper, "status")[0].received

    def updates_since_busy() -> int:
        return sum(1 for when, _ in states(kernel, model_id, ("comm_msg",)) if when > busy)

    # Two updates at least (the rows may have come in one), and rows in them.
    kernel.wait_until(
        lambda: updates_since_busy() >= 2 and len(new_rows(kernel, model_id)) > 50,
        timeout=60,
        what="updates while the cell blocks",
    )
    assert not kernel.is_done(sleeper), "the updates came only after the cell"
    release.touch()
    kernel.wait(sleeper, timeout=30)
    status = kernel.messages(sleeper, "status")
    start, end = status[0].received, status[-1].received
    everything = states(kernel, model_id, ("comm_open", "comm_msg"))
    during = [state for when, state in everything if start < when < end]
    assert any(state.get("state") == "OPEN" for _, state in everything)
    assert len(during) / (end - start) <= 22, f"{len(during)} updates in {end - start:.2f} s"
    assert all("rows" not in state for state in during), "an update re-sent the whole log"


def test_frontend_actions_reach_the_socket(kernel: Any, echo: demo.DemoServer) -> None:
    """Send and close pressed in the panel act on the socket in the kernel."""
    model_id = show(kernel, echo.url)
    kernel.run_ok("ws.wait_open(timeout=20)")
    send = {"action": "send", "text": "ping <b>x</b>"}
    kernel.send_comm_msg(model_id, {"method": "custom", "content": send})
    kernel.wait_until(
        lambda: any(
            r["dir"] == "received" and r["preview"] == "ping <b>x</b>"
            for r in new_rows(kernel, model_id)
        ),
        timeout=20,
        what="the echoed row",
    )
    close = {"action": "close", "code": 1000, "reason": "bye"}
    kernel.send_comm_msg(model_id, {"method": "custom", "content": close})

    def closed() -> dict[str, Any] | None:
        """The update that says CLOSED, if it came."""
        found = [s for _, s in states(kernel, model_id) if s.get("state") == "CLOSED"]
        return found[0] if found else None

    kernel.wait_until(lambda: closed() is not None, timeout=20, what="CLOSED")
    final = closed()
    assert final is not None
    assert (final["close_code"], final["close_reason"], final["was_clean"]) == (1000, "bye", True)
    check = kernel.run_ok("print(ws.readyState.name, ws.transcript.messages_out)")
    assert "CLOSED 1" in check.stdout
    assert kernel.all_errors() == []


SAVED_CELLS = [
    "from ipyws import WebSocket, demo\n"
    "from ipyws.widgets import panel\n"
    "echo = demo.start('echo')\n"
    "ws = WebSocket(echo.url)\n"
    "ws",
    # The final push must go out while a cell runs: nbclient records messages by parent.
    "import time\n"
    "ws.wait_open(20)\n"
    "ws.send('saved <b>state</b>')\n"
    "ws.wait_message(20)\n"
    "ws.close(1000, 'the end')\n"
    "ws.wait_closed(20)\n"
    "view = panel(ws)\n"
    "deadline = time.monotonic() + 20\n"
    "while not view.rows and time.monotonic() < deadline:\n"
    "    time.sleep(0.02)\n"
    "time.sleep(0.3)",
]


def test_executed_notebook_keeps_the_last_state(tmp_path: Any) -> None:
    """A notebook run by nbclient saves the panel's final state, rows included, and snapshots."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    spec = tmp_path / "kernels" / "ipyws-panel-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ipyws", "language": "python"})
    )
    specs = KernelSpecManager(kernel_dirs=[str(spec.parent)], ensure_native_kernel=False)
    manager = KernelManager(
        kernel_name="ipyws-panel-test",
        kernel_spec_manager=specs,
        connection_file=str(tmp_path / "kernel.json"),
        transport=harness.TRANSPORT,
    )
    # nbformat leaves its v4 builders unannotated.
    cells = [nbformat.v4.new_code_cell(source) for source in SAVED_CELLS]  # type: ignore[no-untyped-call]
    notebook = nbformat.v4.new_notebook(cells=cells)  # type: ignore[no-untyped-call]
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython"), "JUPYTER_PLATFORM_DIRS": "1"}
    client = NotebookClient(notebook, km=manager, timeout=60, store_widget_state=True)
    client.execute(env=env, cwd=str(tmp_path), cleanup_kc=True)  # also shuts the kernel down
    saved_snapshot, output = (o["data"] for o in notebook.cells[0].outputs)
    model_id = output[WIDGET_MIME]["model_id"]
    assert "ipyws-snapshot" in output["text/html"]
    # The saved snapshot, for exporters, was redrawn after the socket closed in a later cell.
    assert "ipyws-saved-snapshot" in saved_snapshot["text/html"]
    assert "CLOSED" in saved_snapshot["text/html"] and "the end" in saved_snapshot["text/html"]
    saved = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    state = saved[model_id]["state"]
    assert state["state"] == "CLOSED"
    assert (state["close_code"], state["close_reason"]) == (1000, "the end")
    previews = [row["preview"] for row in state["rows"]]
    assert previews.count("saved <b>state</b>") == 2  # sent, then received
    assert previews[-1].startswith("Connection closed · 1000 Normal Closure")
    assert "panel.js" not in state["_esm"] and "export default" in state["_esm"]
