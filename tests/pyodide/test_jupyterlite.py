"""JupyterLite end to end, offline: a notebook installs ipyws, connects, the panel turns OPEN.

The site is built here with ``jupyter lite build`` (jupyterlite-core and
jupyterlite-pyodide-kernel from PyPI). Its Pyodide is the npm package's files; the packages
the kernel loads from Pyodide's distribution, which the npm package does not ship (micropip,
packaging, IPython and its dependencies), are the same releases' wheels from PyPI, written
into a copy of ``pyodide-lock.json`` with their own file names and hashes. ipyws's wheel and
the widget packages are the site's piplite wheels. Chromium opens the notebook from a
loopback HTTP server; the notebook runs ``%pip install ipyws`` and connects to an echo server
on 127.0.0.1.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pyodide.conftest import (
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
    thread.join(KERNEL_TIMEOUT + 120)
    if errors:
        raise errors[0]
    assert result, "the browser did not finish in time"
    return result[0]


@pytest.fixture(scope="module")
def site(ipyws_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A JupyterLite site with echo.ipynb, served on loopback; yields (base URL, echo URL)."""
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
    with TestServer() as echo:
        url = echo.url("/echo")
        (lite / "files" / "echo.ipynb").write_text(json.dumps(notebook(url)))
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


def test_notebook_connects_and_panel_shows_the_echo(site: tuple[str, str], tmp_path: Path) -> None:
    """In JupyterLite, %pip install ipyws then a socket: the panel turns OPEN, shows the echo."""
    base, url = site

    def drive() -> list[str]:
        from playwright.sync_api import expect, sync_playwright

        from tests.browser import harness

        with sync_playwright() as playwright:
            context = harness.launch_chromium(playwright, tmp_path / "profile")
            try:
                page = context.new_page()
                requests: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                page.goto(f"{base}/lab/index.html?path=echo.ipynb")
                page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
                page.locator(".jp-Notebook .jp-Cell").first.click()
                page.keyboard.press("Shift+Enter")
                page.keyboard.press("Shift+Enter")
                panel = page.locator(".ipyws-panel").first
                timeout = KERNEL_TIMEOUT * 1000
                expect(panel.locator(".ipyws-badge")).to_have_text("OPEN", timeout=timeout)
                received = panel.locator(".ipyws-rows .ipyws-row[data-dir='received']")
                expect(received.first).to_contain_text("hello from JupyterLite", timeout=30_000)
                expect(panel).to_contain_text(url)
                return [r for r in requests if harness.leaves_loopback(r)]
            finally:
                context.close()

    assert in_thread(drive) == []  # no request left loopback
