"""Fixtures for the browser tier: Jupyter servers (Lab, Notebook 7), Chromium, recorded pages.

Every test here needs Debian's Chromium at /usr/bin/chromium; without it they skip and say how
to install it. Screenshots go to ``artifacts/browser/`` (gitignored).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import harness

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"


def _missing() -> str | None:
    """Say what the browser tier lacks on this machine, or None."""
    if not Path(harness.CHROMIUM).exists() and shutil.which(harness.CHROMIUM) is None:
        return (
            f"Debian's Chromium is not installed ({harness.CHROMIUM} is missing): "
            "apt-get install chromium (never `playwright install`)"
        )
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed: pip install playwright"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``browser``; skip them, saying why, if Chromium is missing."""
    missing = _missing()
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for screenshots, without the failure shots of an earlier run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("FAILED-*.png"):
        old.unlink()
    return ARTIFACTS


# Module scope: Playwright's sync API keeps its asyncio loop "running" on the main thread (in a
# greenlet) while it is active, so it must stop before other tiers create sockets here.
@pytest.fixture(scope="module", params=["lab", "notebook"])
def jupyter_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """One JupyterLab and one Notebook 7 server for the session, on loopback."""
    server = harness.start_jupyter(
        request.param, tmp_path_factory.mktemp(f"jupyter-{request.param}")
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's Chromium through Playwright, one fresh profile for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = harness.launch_chromium(playwright, tmp_path_factory.mktemp("chromium"))
        try:
            yield context
        finally:
            context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell that a test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class RecordedPage:
    """A browser tab plus every URL it requested (HTTP and WebSocket) and its console errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("websocket", lambda ws: self.requests.append(ws.url))
        page.on(
            "console",
            lambda m: self.console_errors.append(m.text) if m.type == "error" else None,
        )

    def outside_loopback(self) -> list[str]:
        """Return the requested URLs that would leave this machine."""
        return [url for url in self.requests if harness.leaves_loopback(url)]


@pytest.fixture
def tab(
    request: pytest.FixtureRequest, browser: Any, jupyter_server: Any, artifacts: Path
) -> Iterator[RecordedPage]:
    """A new tab that records its requests; on failure a screenshot and the server log."""
    recorded = RecordedPage(browser.new_page())
    recorded.page.set_default_timeout(30_000)
    try:
        yield recorded
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
            recorded.page.screenshot(path=str(artifacts / f"FAILED-{name}.png"))
            print(f"server log tail:\n{jupyter_server.log_tail()}")
            print(f"console errors: {recorded.console_errors}")
        recorded.page.close()
        jupyter_server.shutdown_kernels()
