"""A handler slower than its feed, as a person sees it: the panel says it is behind, and paused.

A 3,000 msg/s ticker into a 2 ms handler, with a backlog of 300 messages: the header must
show "handler behind by N · paused" while the feed runs.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.harness import open_notebook, run_all_cells, wait_all_executed, write_notebook

CELLS = [
    "import time\n"
    "from ipyws import WebSocket, demo\n"
    "from ipyws.widgets import panel\n"
    "ticker = demo.start('ticker', rate=3000)",
    "def slow(event):\n"
    "    end = time.perf_counter() + 0.002\n"
    "    while time.perf_counter() < end:\n"
    "        pass\n"
    "feed = WebSocket(ticker.url, max_backlog=300, onmessage=slow)\n"
    "panel(feed).add_class('t-behind')\n"
    "feed",
]


def test_the_panel_shows_a_handler_behind_and_paused(
    jupyter_server: Any, tab: Any, artifacts: Path
) -> None:
    """The header reads "handler behind by N · paused" live, in JupyterLab and Notebook 7."""
    page = tab.page
    name = f"behind-{uuid.uuid4().hex[:8]}.ipynb"
    write_notebook(jupyter_server.root / name, CELLS)
    open_notebook(page, jupyter_server, name)
    run_all_cells(page)
    wait_all_executed(page, len(CELLS))
    behind = page.locator(".t-behind .ipyws-panel .ipyws-backlog")
    expect(behind).to_have_text(re.compile(r"^handler behind by [\d,]+ · paused$"), timeout=60_000)
    page.locator(".t-behind .ipyws-panel").screenshot(
        path=str(artifacts / f"backlog-{jupyter_server.app}.png")
    )
    expect(behind).to_have_attribute("data-paused", "true")
