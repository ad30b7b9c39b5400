"""``%ws list`` shows a handler that falls behind: the backlog, paused, and what was dropped."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyws import WebSocket
from ipyws._magics.inspection import SocketTable
from tests.ipython.shell import TIMEOUT, run
from tests.servers import TestServer
from tests.widgets.helpers import wait_for


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event the handlers wait on (set at the end, so the sockets can close)."""
    event = threading.Event()
    yield event
    event.set()


def backlog_cell(ip: InteractiveShell, name: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``%ws list`` and return the backlog column of the row of ``name``."""
    capsys.readouterr()
    run(ip, "%ws list")
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    start = header.index("backlog")
    end = header.index("age")
    row = next(line for line in lines[2:] if line.startswith(name + " "))
    return row[start:end].strip()


def test_list_shows_a_paused_backlog(
    ip: InteractiveShell,
    wpt: TestServer,
    gate: threading.Event,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A handler stuck behind a flood: the backlog column reads "N · paused"."""
    assert "backlog" in SocketTable.columns
    ws = WebSocket(wpt.url("/flood?size=100"), max_backlog=100, compression=False)
    ws.onmessage = lambda event: gate.wait(TIMEOUT)
    ip.user_ns["behind"] = ws
    wait_for(lambda: ws.backlog.paused, TIMEOUT, "a paused backlog")
    cell = backlog_cell(ip, "behind", capsys)
    assert re.fullmatch(r"[\d,]+ · paused", cell), cell
    # Reading stops at the limit (picows holds the rest of its read back) or within one
    # parsed slice past it (websockets).
    assert int(cell.split()[0].replace(",", "")) >= 100


def test_list_counts_dropped_messages(
    ip: InteractiveShell,
    wpt: TestServer,
    gate: threading.Event,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With --drop-oldest the backlog column counts what was dropped."""
    run(
        ip,
        f"%ws connect {wpt.url('/flood?size=100&n=5000')} --as dash --no-display "
        "--max-backlog 100 --drop-oldest --no-compression",
    )
    ws: WebSocket = ip.user_ns["dash"]
    ws.onmessage = lambda event: gate.wait(TIMEOUT)
    wait_for(lambda: ws.backlog.dropped > 1000, TIMEOUT, "dropped messages")
    cell = backlog_cell(ip, "dash", capsys)
    assert re.fullmatch(r"[\d,]+ · [\d,]+ dropped", cell), cell
