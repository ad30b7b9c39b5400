"""A reconnecting socket's panel as a person sees it: countdown, then OPEN again, same panel.

The ticker runs in its own process, outside the kernel: the test kills it (SIGKILL), reads the
RECONNECTING badge and its countdown twice, restarts the server on the same port, and sees the
same panel turn OPEN again and count new messages.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.harness import open_notebook, run_all_cells, wait_all_executed, write_notebook
from tests.faults.server_process import ServerProcess

COUNTDOWN = re.compile(r"attempt (\d+) · next try in (\d+\.\d) s")


@pytest.fixture
def ticker_process() -> Iterator[ServerProcess]:
    """A 20 msg/s ticker in its own process, to kill and restart on the same port."""
    with ServerProcess("ticker", "--rate", "20") as server:
        yield server


def messages_in(panel: Any) -> int:
    """Read the panel's received-messages counter."""
    text = panel.locator(".ipyws-stat-in .ipyws-value").inner_text()
    return int(text.split("·")[0].replace(",", "").strip())


def test_panel_counts_down_and_reopens_after_a_server_restart(
    jupyter_server: Any, tab: Any, artifacts: Path, ticker_process: ServerProcess
) -> None:
    """Kill the server: RECONNECTING with a live countdown; restart it: OPEN, new messages."""
    page = tab.page
    cells = [
        "from ipyws import Reconnect, WebSocket\n"
        "from ipyws.widgets import panel\n"
        f"feed = WebSocket({ticker_process.url!r}, reconnect=Reconnect(initial_delay=4.0, "
        "max_delay=4.0, jitter=0.0), ping_interval=0.5)\n"
        "panel(feed).add_class('t-feed')\n"
        "feed",
    ]
    name = f"reconnect-{uuid.uuid4().hex[:8]}.ipynb"
    write_notebook(jupyter_server.root / name, cells)
    open_notebook(page, jupyter_server, name)
    run_all_cells(page)
    wait_all_executed(page, len(cells))
    feed = page.locator(".t-feed .ipyws-panel").first
    expect(feed.locator(".ipyws-badge")).to_have_text("OPEN", timeout=20_000)
    expect(feed.locator(".ipyws-rtt")).to_have_text(re.compile(r"RTT [\d.]+ ms"), timeout=10_000)

    ticker_process.kill()
    expect(feed.locator(".ipyws-badge")).to_have_text("RECONNECTING", timeout=20_000)
    retry = feed.locator(".ipyws-retry")
    expect(retry).to_have_text(COUNTDOWN)
    first = COUNTDOWN.fullmatch(retry.inner_text())
    time.sleep(0.6)  # the check itself: the countdown read twice, over half a second apart
    second = COUNTDOWN.fullmatch(retry.inner_text())
    assert first and second, (first, second)
    if first.group(1) == second.group(1):
        assert float(second.group(2)) < float(first.group(2)), (first.group(0), second.group(0))
    expect(feed.locator(".ipyws-closeinfo")).to_contain_text("last close: 1006 Abnormal Closure")
    expect(feed.locator(".ipyws-rows .ipyws-row[data-type='reconnect']").first).to_be_attached()
    feed.screenshot(path=str(artifacts / f"reconnecting-{jupyter_server.app}.png"))

    before = messages_in(feed)
    ticker_process.start()
    expect(feed.locator(".ipyws-badge")).to_have_text("OPEN", timeout=20_000)
    expect(feed.locator(".ipyws-conn")).to_have_text(re.compile(r"connection #\d+"))
    expect(feed.locator(".ipyws-retry")).to_be_hidden()
    page.wait_for_function(
        "([before]) => { const v = document.querySelector('.t-feed .ipyws-stat-in .ipyws-value');"
        " return v && parseInt(v.textContent.split('·')[0].replace(/,/g, '')) > before + 5; }",
        arg=[before],
        timeout=20_000,
    )
    assert page.locator(".t-feed .ipyws-panel").count() == 1, "the same panel, not a new one"
    feed.screenshot(path=str(artifacts / f"reopened-{jupyter_server.app}.png"))
    assert tab.outside_loopback() == [], tab.outside_loopback()
    ours = [e for e in tab.console_errors if "blob:" in e or "ipyws" in e]
    assert ours == [], ours
