"""Fixtures for the pyodide tier: ipyws's wheel in Pyodide (npm package ``pyodide``).

Every test runs twice, through the ``pyodide`` fixture: in Pyodide under Node, and in
Pyodide in Debian's Chromium on a page served from loopback (``page.html``, Pyodide loaded
from the npm package's files, driven by Playwright from a thread of its own).

Node runs Pyodide offline from ``tests/pyodide/node_modules`` (``npm ci`` here installs it
from package-lock.json on first use); ``--experimental-websocket`` gives it a real
``WebSocket``, which ``js.WebSocket`` is. The project's wheel is built from this checkout and
unpacked into Pyodide's site-packages with nothing else, except ``packaging`` (the version
Pyodide's lock file names, fetched from PyPI into ``tests/pyodide/.cache`` once) to evaluate
its environment markers there. One Pyodide instance serves the whole session.

(micropip is not used: installing a wheel with it in a bare Pyodide makes Pyodide try to load
IPython and its dependencies from its CDN, which a test must not reach.)
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.pyodide import in_pyodide

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYODIDE = HERE / "node_modules" / "pyodide"
CACHE = HERE / ".cache"
START_TIMEOUT = 180.0
"""Seconds Pyodide may take to load (about 10 on a busy 2-core machine)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``pyodide``; skip them, saying why, if Node is missing."""
    node = shutil.which("node")
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.pyodide)
            if node is None:
                item.add_marker(
                    pytest.mark.skip(reason="Node.js is not installed: apt-get install nodejs npm")
                )


def install_pyodide() -> Path:
    """Install the npm package ``pyodide`` (pinned by package-lock.json) if it is missing."""
    if not (PYODIDE / "pyodide.asm.wasm").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)
    return PYODIDE


def pyodide_lock() -> dict[str, Any]:
    """Return the npm package's pyodide-lock.json (the Python version, the packages)."""
    return json.loads((install_pyodide() / "pyodide-lock.json").read_text())  # type: ignore[no-any-return]


def pypi_wheel(name: str, version: str) -> Path:
    """Return a pure-Python wheel of ``name==version`` from PyPI, cached in ``.cache/wheels``."""
    wheels = CACHE / "wheels"
    found = sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if found:
        return found[0]
    python = pyodide_lock()["info"]["python"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            python,
            "-d",
            str(wheels),
            f"{name}=={version}",
        ],
        check=True,
        timeout=300,
    )
    return sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))[0]


def extra_wheels() -> list[Path]:
    """IPython and the widget packages (requirements-extras.txt), from PyPI, cached."""
    extras = CACHE / "extras"
    pins = [
        line.split("==")
        for line in (HERE / "requirements-extras.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]

    def found() -> list[Path]:
        return [w for name, version in pins for w in extras.glob(f"{name}-{version}-*.whl")]

    if len(found()) != len(pins):
        python = pyodide_lock()["info"]["python"]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                python,
                "--platform",
                "any",
                "--implementation",
                "py",
                "-d",
                str(extras),
                "-r",
                str(HERE / "requirements-extras.txt"),
            ],
            check=True,
            timeout=600,
        )
    wheels = found()
    assert len(wheels) == len(pins), f"missing extras: {pins} vs {wheels}"
    return wheels


def build_wheel(directory: Path) -> Path:
    """Build ipyws's wheel from this checkout into ``directory`` (hatchling, no network)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(directory),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    return next(directory.glob("ipyws-*.whl"))


class PyodideSession:
    """One Pyodide: :meth:`run` executes Python code there and returns its value."""

    #: "node" or "chromium".
    kind = ""

    def _execute(self, code: str, timeout: float) -> dict[str, Any]:
        """Run ``code``; answer ``{"ok": True, "result": ...}`` or ``{"ok": False, "error"}``."""
        raise NotImplementedError

    def run(self, code: str, timeout: float = 60.0) -> str | None:
        """Run ``code`` (top-level ``await`` allowed); return its last expression as text.

        A Python exception there is raised here as AssertionError with its traceback.
        """
        answer = self._execute(code, timeout)
        if not answer["ok"]:
            raise AssertionError(f"Pyodide ({self.kind}) raised:\n{answer['error']}")
        return answer["result"]  # type: ignore[no-any-return]

    def json(self, code: str, timeout: float = 60.0) -> Any:
        """Run ``code`` whose last expression is JSON text; return it decoded."""
        result = self.run(code, timeout)
        assert result is not None
        return json.loads(result)

    def close(self) -> None:
        """Stop the runtime."""


class NodeSession(PyodideSession):
    """Pyodide under ``node --experimental-websocket`` (runner.mjs), over stdin and stdout."""

    kind = "node"

    def __init__(self, wheels: list[Path], extras: list[Path], log: IO[str]) -> None:
        arguments = [*map(str, wheels), *(f"extra:{wheel}" for wheel in extras)]
        self._process = subprocess.Popen(
            ["node", "--experimental-websocket", str(HERE / "runner.mjs"), *arguments],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0
        ready = self._answer(START_TIMEOUT)
        #: The Pyodide version the runner loaded.
        self.version: str = ready["ready"]

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put("")

    def _answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"Pyodide gave no answer within {timeout} s") from None
        if not line:
            raise RuntimeError(f"the Pyodide runner exited ({self._process.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def _execute(self, code: str, timeout: float) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._next_id += 1
        self._process.stdin.write(json.dumps({"id": self._next_id, "code": code}) + "\n")
        self._process.stdin.flush()
        answer = self._answer(timeout)
        assert answer["id"] == self._next_id
        return answer

    def close(self) -> None:
        """Stop Node."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(10)
        if self._process.stdout is not None:
            self._process.stdout.close()


@pytest.fixture(scope="session")
def ipyws_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ipyws's wheel, built from this checkout for the session."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the page's folder with the types Pyodide needs, quietly."""

    extensions_map = {  # noqa: RUF012 - http.server's own class attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".mjs": "text/javascript",
        ".whl": "application/octet-stream",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ChromiumSession(PyodideSession):
    """Pyodide on a loopback page in Debian's Chromium, driven by Playwright in its own thread.

    Playwright's sync API leaves a greenlet loop registered on the thread that uses it; on a
    thread of its own it cannot disturb the asyncio state of the tests that follow.
    """

    kind = "chromium"

    def __init__(self, wheels: list[Path], extras: list[Path], root: Path, profile: Path) -> None:
        (root / "pyodide").symlink_to(install_pyodide(), target_is_directory=True)
        shutil.copy(HERE / "page.html", root / "page.html")
        for wheel in [*wheels, *extras]:
            shutil.copy(wheel, root / wheel.name)
        listing = [[w.name, False] for w in wheels] + [[w.name, True] for w in extras]
        (root / "wheels.json").write_text(json.dumps(listing))
        handler = functools.partial(StaticHandler, directory=str(root))
        self._http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/page.html"
        self.requests: list[str] = []
        self._profile = profile
        self._calls: queue.Queue[tuple[str, float] | None] = queue.Queue()
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._drive, daemon=True)
        self._thread.start()
        ready = self._answers.get(timeout=START_TIMEOUT + 30)
        if not ready["ok"]:
            self.close()
            raise RuntimeError(f"Pyodide did not start in Chromium: {ready['error']}")
        self.version: str = ready["result"]

    def _drive(self) -> None:
        from playwright.sync_api import sync_playwright

        from tests.browser import harness

        with sync_playwright() as playwright:
            context = harness.launch_chromium(playwright, self._profile)
            try:
                page = context.new_page()
                page.on("request", lambda request: self.requests.append(request.url))
                page.on("websocket", lambda ws: self.requests.append(ws.url))
                try:
                    page.goto(self.url)
                    version = page.evaluate("() => window.ready", None)
                    self._answers.put({"ok": True, "result": version})
                except Exception as exc:  # reported to the fixture, which fails with it
                    self._answers.put({"ok": False, "error": repr(exc)})
                    return
                while (call := self._calls.get()) is not None:
                    code, timeout = call
                    try:
                        answer = page.evaluate(
                            "([code, ms]) => window.runPython(code, ms)", [code, timeout * 1000]
                        )
                    except Exception as exc:
                        answer = {"ok": False, "error": repr(exc)}
                    self._answers.put(answer)
            finally:
                context.close()

    def _execute(self, code: str, timeout: float) -> dict[str, Any]:
        self._calls.put((code, timeout))
        return self._answers.get(timeout=timeout + 30)  # the page itself times out first

    def outside_loopback(self) -> list[str]:
        """Return the requested URLs that would leave this machine."""
        from tests.browser import harness

        return [url for url in self.requests if harness.leaves_loopback(url)]

    def close(self) -> None:
        """Close Chromium and stop serving the page."""
        self._calls.put(None)
        self._thread.join(30)
        self._http.shutdown()
        self._http.server_close()


def chromium_missing() -> str | None:
    """Say what the Chromium variant lacks on this machine, or None."""
    from tests.browser import harness

    if not Path(harness.CHROMIUM).exists() and shutil.which(harness.CHROMIUM) is None:
        return (
            f"Debian's Chromium is not installed ({harness.CHROMIUM} is missing): "
            "apt-get install chromium (never `playwright install`)"
        )
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed: pip install playwright"
    return None


@pytest.fixture(scope="session", params=["node", "chromium"])
def pyodide(
    request: pytest.FixtureRequest, ipyws_wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PyodideSession]:
    """One Pyodide (under Node, then in Chromium) with ipyws's wheel and packaging installed.

    IPython and the widget packages wait in /extras, off sys.path (see ``with_ipython``).
    """
    packaging = pypi_wheel("packaging", pyodide_lock()["packages"]["packaging"]["version"])
    wheels = [packaging, ipyws_wheel]
    extras = extra_wheels()
    folder = tmp_path_factory.mktemp(f"pyodide-{request.param}")
    with contextlib.ExitStack() as stack:
        session: PyodideSession
        if request.param == "node":
            log = stack.enter_context((folder / "pyodide.log").open("w"))
            session = NodeSession(wheels, extras, log)
        else:
            missing = chromium_missing()
            if missing:
                pytest.skip(missing)
            (folder / "site").mkdir()
            session = ChromiumSession(wheels, extras, folder / "site", folder / "profile")
        stack.callback(session.close)
        session.run(_install_helpers())
        yield session
        if isinstance(session, ChromiumSession):
            assert session.outside_loopback() == []


@pytest.fixture
def with_ipython(pyodide: PyodideSession) -> Iterator[PyodideSession]:
    """The session with /extras (IPython, ipywidgets, anywidget) on sys.path, for one test."""
    pyodide.run("import sys; sys.path.insert(0, '/extras')")
    try:
        yield pyodide
    finally:
        pyodide.run("import sys; sys.path.remove('/extras')")


def _install_helpers() -> str:
    """Python code that writes in_pyodide.py into Pyodide's file system, importable."""
    source = Path(in_pyodide.__file__).read_text()
    return (
        "import sys, pathlib\n"
        f"pathlib.Path('/helpers').mkdir(exist_ok=True)\n"
        f"pathlib.Path('/helpers/in_pyodide.py').write_text({source!r})\n"
        "sys.path.insert(0, '/helpers')\n"
    )
