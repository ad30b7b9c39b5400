"""An executed notebook exported with nbconvert shows a readable panel in Chromium, offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.notebooks.test_export import executed_copy, exported_html


# Module scope, and requested before ``browser``: nbclient drives its kernel with asyncio, which
# cannot start while Playwright's sync API holds this thread's loop.
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``jupyter nbconvert --to html`` of an executed notebook whose socket closed, on disk."""
    folder = tmp_path_factory.mktemp("export")
    path = folder / "export.html"
    path.write_text(exported_html(executed_copy(folder)), encoding="utf-8")
    return path


@pytest.fixture
def offline_page(browser: Any) -> Iterator[Any]:
    """A tab that may load local files only: every network request is refused, and recorded."""
    page = browser.new_page()
    page.refused = []

    def route(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            page.refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    try:
        yield page
    finally:
        page.close()


def test_exported_notebook_shows_the_final_snapshot_offline(
    exported: Path, offline_page: Any
) -> None:
    """Opened from disk with no network, the export shows the socket CLOSED with its messages."""
    from playwright.sync_api import expect

    offline_page.goto(exported.as_uri(), wait_until="load")
    snapshot = offline_page.locator(".ipyws-saved-snapshot").first
    expect(snapshot).to_be_visible()
    expect(snapshot).to_contain_text("CLOSED")
    expect(snapshot).to_contain_text("hello export")
    # nbconvert's page asks CDNs for require.js, MathJax and the widget renderer: all refused
    # here, and none is needed to read the panel.
    assert offline_page.refused, "the page should have tried the network and been refused"
