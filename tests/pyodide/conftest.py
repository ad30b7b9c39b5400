"""Fixtures for the pyodide tier: ipyws's wheel in Pyodide (npm package ``pyodide``) under Node.

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
    """One Pyodide in Node: :meth:`run` executes Python code there and returns its value."""

    def __init__(self, wheels: list[Path], log: IO[str]) -> None:
        self._process = subprocess.Popen(
            ["node", "--experimental-websocket", str(HERE / "runner.mjs"), *map(str, wheels)],
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

    def run(self, code: str, timeout: float = 60.0) -> str | None:
        """Run ``code`` (top-level ``await`` allowed); return its last expression as text.

        A Python exception there is raised here as AssertionError with its traceback.
        """
        assert self._process.stdin is not None
        self._next_id += 1
        self._process.stdin.write(json.dumps({"id": self._next_id, "code": code}) + "\n")
        self._process.stdin.flush()
        answer = self._answer(timeout)
        assert answer["id"] == self._next_id
        if not answer["ok"]:
            raise AssertionError(f"Pyodide raised:\n{answer['error']}")
        return answer["result"]  # type: ignore[no-any-return]

    def json(self, code: str, timeout: float = 60.0) -> Any:
        """Run ``code`` whose last expression is JSON text; return it decoded."""
        result = self.run(code, timeout)
        assert result is not None
        return json.loads(result)

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


@pytest.fixture(scope="session")
def pyodide(
    ipyws_wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PyodideSession]:
    """One Pyodide under Node with ipyws's wheel installed, and packaging (for markers)."""
    packaging = pypi_wheel("packaging", pyodide_lock()["packages"]["packaging"]["version"])
    log_path = tmp_path_factory.mktemp("pyodide") / "pyodide.log"
    with log_path.open("w") as log:
        session = PyodideSession([packaging, ipyws_wheel], log)
        try:
            session.run(_install_helpers())
            yield session
        finally:
            session.close()


def _install_helpers() -> str:
    """Python code that writes in_pyodide.py into Pyodide's file system, importable."""
    source = Path(in_pyodide.__file__).read_text()
    return (
        "import sys, pathlib\n"
        f"pathlib.Path('/helpers').mkdir(exist_ok=True)\n"
        f"pathlib.Path('/helpers/in_pyodide.py').write_text({source!r})\n"
        "sys.path.insert(0, '/helpers')\n"
    )
