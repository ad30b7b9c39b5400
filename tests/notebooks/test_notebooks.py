"""Each notebook in ``notebooks/`` runs top to bottom in a real kernel and shows what it teaches."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

import nbformat
import pytest

from tests.notebooks.conftest import NOTEBOOKS, read_notebook

pytestmark = pytest.mark.kernel

RunNotebook = Callable[[str], nbformat.NotebookNode]

NOTEBOOK_NAMES = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    """Return the cell with id ``cell_id``."""
    for candidate in nb.cells:
        if candidate.get("id") == cell_id:
            assert isinstance(candidate, nbformat.NotebookNode), candidate
            return candidate
    raise AssertionError(f"no cell with id {cell_id!r}")


def text(nb: nbformat.NotebookNode, cell_id: str) -> str:
    """Return the stream text and ``text/plain`` results a cell showed, joined."""
    parts: list[str] = []
    for output in cell(nb, cell_id).outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def result(nb: nbformat.NotebookNode, cell_id: str) -> Any:
    """Return the ``text/plain`` of a cell's execute_result."""
    for output in cell(nb, cell_id).outputs:
        if output.output_type == "execute_result":
            return output.data["text/plain"]
    raise AssertionError(f"cell {cell_id!r} has no result")


def test_notebooks_are_stored_clean() -> None:
    """The notebooks are stored without outputs or execution counts, so diffs stay readable."""
    assert NOTEBOOK_NAMES == [
        "01-quickstart.ipynb",
        "02-websockets-tour.ipynb",
        "03-exploring-a-feed.ipynb",
        "04-magics.ipynb",
    ]
    for name in NOTEBOOK_NAMES:
        nb = read_notebook(NOTEBOOKS / name)
        nbformat.validate(nb)
        for code in (c for c in nb.cells if c.cell_type == "code"):
            assert code.outputs == [] and code.execution_count is None, (name, code.id)


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_notebook_runs_without_error(run_notebook: RunNotebook, name: str) -> None:
    """The notebook executes top to bottom with no error output outside cells meant to raise."""
    nb = run_notebook(name)
    for code in (c for c in nb.cells if c.cell_type == "code"):
        expected = "raises-exception" in code.metadata.get("tags", [])
        errors = [o for o in code.outputs if o.output_type == "error"]
        stderr = "".join(o.text for o in code.outputs if o.get("name") == "stderr")
        if not expected:
            assert not errors, (name, code.id, errors)
            assert "Traceback" not in stderr, (name, code.id, stderr)


def test_quickstart_connects_subscribes_and_closes(run_notebook: RunNotebook) -> None:
    """The quickstart shows CONNECTING, OPEN, the panel, the reply, ACME ticks and a clean close."""
    nb = run_notebook("01-quickstart.ipynb")
    assert result(nb, "connect") == "<ReadyState.CONNECTING: 0>"
    assert result(nb, "handler") == "<ReadyState.OPEN: 1>"
    panel = next(o for o in cell(nb, "panel").outputs if o.output_type == "execute_result")
    assert WIDGET_MIME in panel.data and "OPEN" in panel.data["text/plain"]
    assert result(nb, "send") == "{'type': 'subscribed', 'symbols': ['ACME']}"
    assert result(nb, "after-send").count("'ACME'") == 3
    assert result(nb, "close") == "<CloseEvent type='close' code=1000 reason='done' wasClean=True>"
    # What the handler printed under an earlier cell, an executed copy keeps in a later one.
    assert "the handler heard: [{'type': 'subscribed', 'symbols': ['ACME']}]" in text(nb, "stop")


def test_tour_shows_lifecycle_event_order_and_close_codes(run_notebook: RunNotebook) -> None:
    """The tour shows the four states, the event order and close codes 1000/1005/1006/1009/4000."""
    nb = run_notebook("02-websockets-tour.ipynb")
    # The first panel is exampleSocket's, which talks and stays open to the end: its saved
    # snapshot, redrawn after each cell that changed it, shows its message out and the echo.
    first_panel = "".join(
        output.data.get("text/html", "")
        for output in cell(nb, "create").outputs
        if output.output_type == "display_data"
    )
    assert "in: 1 message, 20 B · out: 1 message, 20 B" in first_panel
    assert first_panel.count("Hello from the tour!") == 2  # sent, then echoed
    assert result(nb, "lifecycle") == "['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']"
    assert "clean close: ['open (OPEN)', 'message (OPEN)', 'close (CLOSED)']" in text(nb, "events")
    assert "failed connection: ['error (CLOSED)', 'close (CLOSED)']" in text(nb, "events-failed")
    assert result(nb, "listener-order") == "['listener A', 'onopen', 'listener B']"
    assert text(nb, "create-errors").count("-> SyntaxError") == 5
    assert "InvalidStateError" in text(nb, "send-too-early")
    assert "code 1000, reason 'done', wasClean True" in text(nb, "close-codes")
    assert "code 1005, reason '', wasClean True" in text(nb, "close-codes")
    assert "code 4000, reason 'quota reached', wasClean True" in text(nb, "close-codes")
    assert text(nb, "close-invalid").count("InvalidAccessError") == 2
    assert "code=1009" in result(nb, "too-big") and "wasClean=True" in result(nb, "too-big")
    assert "['open (OPEN)', 'error (CLOSED)', 'close (CLOSED)']" in text(nb, "too-big-client")
    assert "bufferedAmount 10" in text(nb, "buffered-count")
    assert "16777216 True" in text(nb, "buffered-bulk")
    assert "drained: 0 after" in text(nb, "buffered-drain")
    expected, received = (
        line.split(":", 1)[1].strip() for line in text(nb, "accept").splitlines()[1:3]
    )
    assert expected == received
    assert "'chat.v2'" in text(nb, "subprotocol")
    assert "cause: keepalive ping timeout" in text(nb, "keepalive")
    assert "code=1001" in text(nb, "server-stops")
    assert "code=1006" in text(nb, "server-crash")
    room = result(nb, "chat")
    assert "Ada joined" in room and "Grace: Hello, Ada!" in room and "user-" not in room
    for line in text(nb, "close-invalid").splitlines():
        assert line.count("'") % 2 == 0, line
    assert all(len(line) <= 92 for line in text(nb, "subprotocol-fail").splitlines())
    assert "this server's choice" in text(nb, "subprotocol")
    retries = text(nb, "reconnect").splitlines()
    assert [line.split(" in ")[0] for line in retries[:3]] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]
    assert all(line.endswith("(the last close was 1006)") for line in retries[:3]), retries
    assert retries[3] == "giving up: close 1006, readyState CLOSED", retries
    assert "'back again' after " in text(nb, "reconnect-restart")
    summary = dict((line[:28].strip(), int(line[28:])) for line in text(nb, "summary").splitlines())
    assert {1000, 1001, 1005, 1006, 1009, 4000} == set(summary.values())
    # In a local kernel every cell runs: none prints its JupyterLite explanation.
    assert not [
        c.id
        for c in nb.cells
        if "JupyterLite cannot run" in "".join(map(str, c.get("outputs", [])))
    ]


def test_feed_notebook_builds_dataframes_and_reloads_the_transcript(
    run_notebook: RunNotebook,
) -> None:
    """The feed notebook aggregates, fills DataFrames, plots SVG and reloads what it saved."""
    nb = run_notebook("03-exploring-a-feed.ipynb")
    assert "{'type': 'subscribed', 'symbols': ['ACME', 'GLOBEX']}" in result(nb, "connect")
    stats = next(o for o in cell(nb, "collect").outputs if o.output_type == "execute_result")
    assert "text/html" in stats.data and "ACME" in stats.data["text/plain"]
    ticks = result(nb, "ticks")
    assert (
        "ACME" in ticks and "GLOBEX" in ticks
    )  # INITECH only if it ticked before the subscription
    snapshot = next(
        o for o in cell(nb, "plot-snapshot").outputs if o.output_type == "execute_result"
    )
    svg = snapshot.data["image/svg+xml"]
    assert "<polyline" in svg
    # The label sits in a band of its own above the curve: its baseline plus the descenders of
    # an 11 px font stay above the highest point of the line.
    label = re.search(r'<text x="[\d.]+" y="([\d.]+)" font-size="11"', svg)
    line = re.search(r'points="([^"]+)"', svg)
    assert label is not None and line is not None, svg
    highest = min(float(point.split(",")[1]) for point in line[1].split())
    assert float(label[1]) + 4 < highest, svg
    # The latency column is there; the ticker's microsecond stamps that make it finer than a
    # millisecond are tested with the demo servers (tests/loopback/test_demo.py).
    assert "latency_ms" in ticks
    # The live plot's display was redrawn from the snapshot cell's run, which nbclient keeps.
    live = next(o for o in cell(nb, "plot").outputs if o.output_type == "display_data")
    assert "<polyline" in live.data["image/svg+xml"]
    # opcode and size are nullable integers: the open record shows <NA>, not NaN and floats.
    table = result(nb, "dataframe")
    assert "<NA>" in table and not re.search(r"\s1\.0\s", table), table
    assert result(nb, "unsubscribe") == "['GLOBEX']"
    restart = text(nb, "restart")
    assert "reconnecting: attempt 1 in " in restart and "after close 1001" in restart
    assert "{'type': 'subscribed', 'symbols': ['GLOBEX']}" in restart
    assert "OPEN after 1 reconnect" in restart
    assert "records saved and loaded back, identical to the live transcript" in text(nb, "load")


def test_magics_notebook_runs_every_subcommand(run_notebook: RunNotebook) -> None:
    """The magics notebook shows each %ws subcommand doing its job."""
    nb = run_notebook("04-magics.ipynb")
    overview = text(nb, "overview")
    for subcommand in ("connect", "send", "close", "list", "log", "demo", "on", "off"):
        assert f"  {subcommand} " in overview
    assert any(WIDGET_MIME in o.get("data", {}) for o in cell(nb, "demo").outputs)
    assert result(nb, "send-text") == "'Hello from Ada!'"
    assert json.loads(ast.literal_eval(result(nb, "send-json"))) == {
        "op": "subscribe",
        "symbols": ["ACME", "GLOBEX"],
        "depth": 8,
    }
    assert result(nb, "send-hex") == "(b'Hello', b'World')"
    assert result(nb, "on-use") == "['one', 'two']"
    assert "Removed 1 %%ws on handler of echo." in text(nb, "off")
    assert result(nb, "off-check") == "['one', 'two']"
    assert "↑ text" in text(nb, "log") and "↓ text" in text(nb, "log")
    assert '"symbol": "GLOBEX"' in result(nb, "send-cell-check")
    listing = text(nb, "list")
    assert "echo" in listing and "feed" in listing
    assert "code=4000 reason='enough ticks for today' wasClean=True" in text(nb, "close")
    assert "UsageError" in text(nb, "errors")
