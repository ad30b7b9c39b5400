"""JupyterLite end to end, offline: a notebook installs ipyws, connects, the panel turns OPEN;
the tour notebook runs there, against the demo servers it tells its reader to start.

The site is built here with ``jupyter lite build`` (jupyterlite-core and
jupyterlite-pyodide-kernel from PyPI). Its Pyodide is the npm package's files; the packages
the kernel loads from Pyodide's distribution, which the npm package does not ship (micropip,
packaging, IPython and its dependencies), are the same releases' wheels from PyPI, written
into a copy of ``pyodide-lock.json`` with their own file names and hashes. ipyws's wheel and
the widget packages are the site's piplite wheels. Chromium opens the notebooks from a
loopback HTTP server; a small one runs ``%pip install ipyws`` and connects to an echo server
on 127.0.0.1. The tour (``notebooks/02-websockets-tour.ipynb``) goes into the site with its
server URLs pointed at the ``python -m ipyws.demo`` commands it prints, each run here (on a
free port instead of the printed one, as a reader whose port is taken would do).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.server_process import ServerProcess
from tests.pyodide.conftest import (
    REPO,
    StaticHandler,
    chromium_missing,
    extra_wheels,
    install_pyodide,
    pyodide_lock,
    pypi_wheel,
)
from tests.servers import TestServer

#: Seconds for the kernel to start, install ipyws and open the socket (Pyodide loads ~10 MB).
KERNEL_TIMEOUT = 240.0
#: Seconds the whole tour may take in JupyterLite, kernel start included.
TOUR_TIMEOUT = 600.0
TOUR = REPO / "notebooks" / "02-websockets-tour.ipynb"
#: What the tour's cells show in JupyterLite, by cell id: what each section teaches.
TOUR_SHOWS = {
    # The setup cell says which servers to start, and how.
    "setup": [
        "This kernel runs in your browser, which cannot start servers.",
        "python -m ipyws.demo echo --port 8765",
    ],
    "lifecycle": ["['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']"],
    "events": ["clean close: ['open (OPEN)', 'message (OPEN)', 'close (CLOSED)']"],
    "events-failed": ["failed connection: ['error (CLOSED)', 'close (CLOSED)']"],
    "listener-order": ["['listener A', 'onopen', 'listener B']"],
    "send-too-early": ["InvalidStateError"],
    "send-onopen": ["urgently awaiting"],
    "chat": ["Grace: Hello, Ada!", "Grace left"],
    "close-codes": ["code 1000, reason 'done'", "code 1005, reason ''", "code 4000, reason 'quota"],
    "too-big": ["code=1009", "wasClean=True"],
    "binary-send": ["sent Blob       -> received bytes b'a blob'"],
    "binary-blob": ["<Blob size=16> -> ("],
    "subprotocol": ["'chat.v2' (this server's choice)"],
    "buffered-count": ["bufferedAmount 10"],
    "buffered-bulk": ["16777216 True"],
    "buffered-drain": ["drained: 0 after"],
    "answer-3": ["code=4001 reason='enough' wasClean=True> after 3 messages"],
    "answer-4": ["min "],
}
#: The tour's cells that only a kernel on the reader's machine can run.
LOCAL_ONLY = [
    "too-big-client",
    "handshake",
    "accept",
    "extensions",
    "hung-server",
    "keepalive",
    "server-stops",
    "server-crash",
    "reconnect-restart",
]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lite_pyodide(folder: Path) -> list[Path]:
    """Lay out Pyodide for the site in ``folder/pyodide``; return the wheels left for piplite.

    Every wheel whose package Pyodide's lock file lists is put beside Pyodide under the
    lock's entry (its file name, version and sha256 rewritten); the others are returned.
    """
    dist = folder / "pyodide" / "pyodide"
    shutil.copytree(install_pyodide(), dist, ignore=shutil.ignore_patterns("*.map", "*.html"))
    lock = pyodide_lock()
    packages = lock["packages"]
    wheels = [
        *extra_wheels(),
        pypi_wheel("micropip", packages["micropip"]["version"]),
        pypi_wheel("packaging", packages["packaging"]["version"]),
        pypi_wheel("six", packages["six"]["version"]),
    ]
    entries = {_canonical(entry["name"]): entry for entry in packages.values()}
    rest = []
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        entry = entries.get(_canonical(name))
        if entry is None:
            rest.append(wheel)
            continue
        shutil.copy(wheel, dist / wheel.name)
        entry.update(
            file_name=wheel.name,
            version=version,
            sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        )
    (dist / "pyodide-lock.json").write_text(json.dumps(lock))
    return rest


def notebook(url: str) -> dict[str, Any]:
    """The notebook a student would run: install ipyws, connect, show the socket."""
    cells = [
        "%pip install ipyws",
        f"import ipyws\nws = ipyws.WebSocket({url!r})\n"
        "ws.onopen = lambda event: ws.send('hello from JupyterLite')\nws",
    ]
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{index}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for index, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {
                "display_name": "Python (Pyodide)",
                "language": "python",
                "name": "python",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread of its own (Playwright's sync API, kept off this thread)."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TOUR_TIMEOUT + 120)
    if errors:
        raise errors[0]
    assert result, "the browser did not finish in time"
    return result[0]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tour_for_this_machine(stack: contextlib.ExitStack) -> dict[str, Any]:
    """Start the servers the tour's setup cell tells its reader to start; return the tour.

    Each ``python -m ipyws.demo ...`` command the setup cell prints runs here with
    ``--port 0``, and the URL the cell sets for the printed port becomes the URL it printed.
    """
    tour = json.loads(TOUR.read_text())
    setup = next(cell for cell in tour["cells"] if cell["id"] == "setup")
    source = "".join(setup["source"])
    commands = re.findall(r"python -m ipyws\.demo ([^\"\\]+)", source)
    assert len(commands) == 5, commands
    for command in commands:
        name, *args = shlex.split(command)
        port = args.pop(args.index("--port") + 1)
        args.remove("--port")
        server = stack.enter_context(ServerProcess(name, *args))
        printed = f'"ws://127.0.0.1:{port}/"'
        assert source.count(printed) == 1, printed
        source = source.replace(printed, repr(server.url))
    unused = "unused_port = 8770"
    assert source.count(unused) == 1
    source = source.replace(unused, f"unused_port = {free_port()}")
    setup["source"] = source
    return tour  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def site(ipyws_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A JupyterLite site with echo.ipynb and the tour, served on loopback, with the servers
    they use; yields (base URL, echo URL)."""
    missing = chromium_missing()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("jupyterlite")
    lite = folder / "lite"
    (lite / "pypi").mkdir(parents=True)
    (lite / "files").mkdir()
    for wheel in [ipyws_wheel, *lite_pyodide(folder)]:
        if not wheel.name.startswith("widgetsnbextension-"):  # the kernel ships its own
            shutil.copy(wheel, lite / "pypi" / wheel.name)
    # The tests read the notebook's state from the application object, as the browser tier does.
    config = {"exposeAppInBrowser": "true"}
    (lite / "jupyter-lite.json").write_text(
        json.dumps({"jupyter-lite-schema-version": 0, "jupyter-config-data": config})
    )
    with TestServer() as echo, contextlib.ExitStack() as servers:
        url = echo.url("/echo")
        (lite / "files" / "echo.ipynb").write_text(json.dumps(notebook(url)))
        (lite / "files" / TOUR.name).write_text(json.dumps(tour_for_this_machine(servers)))
        jupyter = Path(sys.executable).with_name("jupyter")
        subprocess.run(
            [
                str(jupyter),
                "lite",
                "build",
                "--output-dir",
                str(folder / "site"),
                "--pyodide",
                str(folder / "pyodide"),
            ],
            cwd=lite,
            check=True,
            capture_output=True,
            timeout=600,
        )
        handler = functools.partial(StaticHandler, directory=str(folder / "site"))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}", url
        finally:
            httpd.shutdown()
            httpd.server_close()


def in_chromium(profile: Path, url: str, steps: Callable[[Any], Any]) -> tuple[Any, list[str]]:
    """Open ``url`` in Chromium and run ``steps(page)`` once a cell shows (in a thread of its
    own); return what ``steps`` returned and the requests that left loopback."""

    def drive() -> tuple[Any, list[str]]:
        from playwright.sync_api import sync_playwright

        from tests.browser import harness

        with sync_playwright() as playwright:
            context = harness.launch_chromium(playwright, profile)
            try:
                page = context.new_page()
                requests: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                page.on("websocket", lambda ws: requests.append(ws.url))
                page.goto(url)
                page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
                result = steps(page)
                return result, [r for r in requests if harness.leaves_loopback(r)]
            finally:
                context.close()

    return in_thread(drive)  # type: ignore[no-any-return]


def test_notebook_connects_and_panel_shows_the_echo(site: tuple[str, str], tmp_path: Path) -> None:
    """In JupyterLite, %pip install ipyws then a socket: the panel turns OPEN, shows the echo."""
    base, url = site

    def steps(page: Any) -> None:
        from playwright.sync_api import expect

        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Shift+Enter")
        panel = page.locator(".ipyws-panel").first
        timeout = KERNEL_TIMEOUT * 1000
        expect(panel.locator(".ipyws-badge")).to_have_text("OPEN", timeout=timeout)
        received = panel.locator(".ipyws-rows .ipyws-row[data-dir='received']")
        expect(received.first).to_contain_text("hello from JupyterLite", timeout=30_000)
        expect(panel).to_contain_text(url)

    _, outside = in_chromium(tmp_path / "profile", f"{base}/lab/index.html?path=echo.ipynb", steps)
    assert outside == []  # no request left loopback


# What the run of the current notebook has come to, read from the application object: the
# code cells not executed yet, and the ids of cells with an error output.
_PROGRESS_JS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) return null;
  const cells = panel.content.model.toJSON().cells.filter(c => c.cell_type === 'code');
  return {
    pending: cells.filter(c => c.execution_count === null).length,
    errors: cells.filter(c => c.outputs.some(o => o.output_type === 'error')).map(c => c.id),
  };
}"""


def cell_text(cell: dict[str, Any]) -> str:
    """Return the streams and ``text/plain`` results a cell showed, joined."""
    parts = []
    for output in cell["outputs"]:
        if output["output_type"] == "stream":
            parts.append("".join(output["text"]))
        elif output["output_type"] in ("execute_result", "display_data"):
            parts.append("".join(output["data"].get("text/plain", "")))
    return "".join(parts)


def test_tour_runs_in_jupyterlite(site: tuple[str, str], tmp_path: Path) -> None:
    """The tour runs all cells in JupyterLite against the demo servers it says to start."""
    base, _ = site

    def steps(page: Any) -> Any:
        from playwright.sync_api import expect

        from tests.browser import harness

        page.wait_for_function(_PROGRESS_JS, timeout=120_000)
        harness.run_all_cells(page)
        # The socket of section 1 shows its panel OPEN, and the echo of its greeting.
        panel = page.locator(".ipyws-panel").first
        expect(panel.locator(".ipyws-badge")).to_have_text("OPEN", timeout=KERNEL_TIMEOUT * 1000)
        received = panel.locator(".ipyws-rows .ipyws-row[data-dir='received']")
        expect(received.first).to_contain_text("Hello from the tour!", timeout=30_000)
        page.wait_for_function(
            f"() => {{ const p = ({_PROGRESS_JS})(); "
            "return p && (p.pending === 0 || p.errors.length > 0); }",
            timeout=TOUR_TIMEOUT * 1000,
            polling=500,
        )
        # The last cell closes it.
        expect(panel.locator(".ipyws-badge")).to_have_text("CLOSED", timeout=30_000)
        return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.model.toJSON()")

    executed, outside = in_chromium(
        tmp_path / "profile", f"{base}/lab/index.html?path={TOUR.name}", steps
    )
    assert outside == []  # no request left loopback
    cells = {cell["id"]: cell for cell in executed["cells"] if cell["cell_type"] == "code"}
    for cell in cells.values():
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        stderr = "".join("".join(o["text"]) for o in cell["outputs"] if o.get("name") == "stderr")
        assert not errors, (cell["id"], errors)
        assert "Traceback" not in stderr, (cell["id"], stderr)
        assert cell["execution_count"] is not None, cell["id"]
    text = {cell_id: cell_text(cell) for cell_id, cell in cells.items()}
    for cell_id, shown in TOUR_SHOWS.items():
        for line in shown:
            assert line in text[cell_id], (cell_id, line, text[cell_id])
    assert text["json"] == "True"
    assert text["create-errors"].count("-> SyntaxError") == 5
    assert text["close-invalid"].count("InvalidAccessError") == 2
    assert text["subprotocol-fail"].count("code 1006, wasClean False") == 2
    retries = text["reconnect"].splitlines()
    assert [line.split(" in ")[0] for line in retries[:3]] == [f"attempt {n}" for n in (1, 2, 3)]
    assert retries[3] == "giving up: close 1006, readyState CLOSED", retries
    # The cells only a local kernel can run say so, and why.
    for cell_id in LOCAL_ONLY:
        assert text[cell_id].startswith("JupyterLite cannot run this cell: "), cell_id
    assert [cell_id for cell_id, said in text.items() if "cannot run this cell" in said] == (
        LOCAL_ONLY
    )
