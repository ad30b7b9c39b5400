"""A saved or exported notebook shows a readable panel offline, in the socket's final state."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

from tests.notebooks.conftest import execute_notebook

pytestmark = pytest.mark.kernel

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
CELLS = [
    "from ipyws import WebSocket, demo\n"
    "server = demo.start('echo')\n"
    "ws = WebSocket(server.url)\n"
    "ws",
    "ws.wait_open(timeout=20)\nws.send('hello export')\nws.wait_message(timeout=20).data",
    "ws.close(1000, 'done')\nws.wait_closed(timeout=20)\nserver.stop()",
]


def executed_copy(folder: Path) -> nbformat.NotebookNode:
    """Execute a notebook that displays a socket, uses it and closes it; return the result."""
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]  # type: ignore[no-untyped-call]
    path = folder / "export.ipynb"
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]
    return execute_notebook(path)


def exported_html(nb: nbformat.NotebookNode) -> str:
    """Return ``jupyter nbconvert --to html`` of ``nb``, as a string."""
    body, _ = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
    assert isinstance(body, str)
    return body


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """The executed notebook, run once for this module's tests."""
    return executed_copy(tmp_path_factory.mktemp("export"))


def test_executed_copy_keeps_a_snapshot_in_the_final_state(
    executed: nbformat.NotebookNode,
) -> None:
    """The displayed socket has its widget view and a saved snapshot redrawn after it closed."""
    nb = executed
    outputs = nb.cells[0].outputs
    saved = [o for o in outputs if "ipyws-saved-snapshot" in o.get("data", {}).get("text/html", "")]
    assert len(saved) == 1 and any(WIDGET_MIME in o.get("data", {}) for o in outputs)
    snapshot = saved[0].data["text/html"]
    assert "CLOSED" in snapshot and "1000" in snapshot and "hello export" in snapshot


def test_nbconvert_html_shows_the_snapshot_next_to_the_widget_view(
    executed: nbformat.NotebookNode,
) -> None:
    """The exported HTML carries the saved snapshot (final state) as ordinary HTML output."""
    body = exported_html(executed)
    assert body.count('class="ipyws-saved-snapshot"') == 1
    start = body.index('class="ipyws-saved-snapshot"')
    assert "CLOSED" in body[start : start + 4000] and "hello export" in body[start : start + 4000]
