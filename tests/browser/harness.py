"""Drive JupyterLab 4 and Notebook 7 in Debian's Chromium, offline and on loopback only.

:func:`start_jupyter` runs ``jupyter lab`` or ``jupyter notebook`` on 127.0.0.1 with a port the
OS picks, a random token, and every Jupyter/IPython directory in a temporary folder, so no user
or system config, kernelspec or extension setting leaks in. The only kernelspec it sees is one
written here for this interpreter. :func:`launch_chromium` starts ``/usr/bin/chromium`` through
Playwright (``playwright install`` is never needed) with a fresh profile and a host resolver that
resolves nothing but 127.0.0.1. The page helpers open a notebook, run all cells the way a user
does (the Run menu) and wait on the application object, not on status text that lies early.

The worked recipe this follows is ``research/browser-testing.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

CHROMIUM = os.environ.get("IPYWS_CHROMIUM", "/usr/bin/chromium")

# Playwright adds --headless itself; the rest keep Chromium quiet and offline on a machine
# with no GPU, no sandbox support and no network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    # No host name resolves, so nothing can leave loopback whatever a page asks for; the rule
    # covers IP literals too, hence the exclusion of the server's own address.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

# User settings that keep the front end offline and free of toasts over the outputs.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    # Every cell stays in the DOM, so a selector never misses an output scrolled out of view.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}

SERVER_TIMEOUT = 90.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def leaves_loopback(url: str) -> bool:
    """Tell whether a request to ``url`` would go anywhere but this machine."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return False
    return parts.hostname not in LOOPBACK_HOSTS


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` or ``jupyter notebook`` and what a test needs to reach it."""

    app: str
    proc: subprocess.Popen[bytes]
    root: Path
    log_path: Path
    token: str
    base_url: str = ""
    started_at: float = 0.0
    startup_s: float = 0.0
    kernel_procs: list[psutil.Process] = field(default_factory=list)

    def url(self, path: str) -> str:
        """Return the server URL of ``path`` with the token."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path.lstrip('/')}{sep}token={self.token}"

    def notebook_url(self, name: str) -> str:
        """Return the URL that opens notebook ``name`` in this app."""
        if self.app == "lab":
            # ?reset: an empty workspace, else Lab reopens an earlier test's notebook too.
            return self.url(f"lab/tree/{name}?reset")
        return self.url(f"notebooks/{name}")

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the REST API and return the decoded JSON (None for an empty answer)."""
        request = urllib.request.Request(
            self.base_url + path.lstrip("/"),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        """Return the end of the server's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _remember_kernels(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                if child not in self.kernel_procs:
                    self.kernel_procs.append(child)

    def shutdown_kernels(self) -> None:
        """Shut every kernel down through the REST API."""
        if self.proc.poll() is not None:
            return
        self._remember_kernels()
        with contextlib.suppress(OSError, ValueError):
            for kernel in self.api("api/kernels") or []:
                self.api(f"api/kernels/{kernel['id']}", method="DELETE")

    def stop(self, timeout: float = 20.0) -> None:
        """Stop kernels and server; kill whatever outlived them (kernels run in own sessions)."""
        if self.proc.poll() is None:
            self.shutdown_kernels()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for process in self.kernel_procs:
            with contextlib.suppress(psutil.Error):
                process.kill()  # psutil checks the pid still names the same process
                process.wait(5)


def _write_kernelspec(kernels: Path) -> None:
    """Write the one kernelspec the server sees: ipykernel on this interpreter."""
    spec = kernels / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "metadata": {"debugger": False},
            },
            indent=1,
        )
    )


def _server_args(app: str) -> list[str]:
    args = [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",  # the OS picks a free port: no find-then-bind race
        "--ServerApp.port_retries=0",
        # Kernels on Unix sockets, not TCP ports picked free first (another process can take
        # one before the kernel binds it).
        "--KernelManager.transport=ipc",
        # Lab's handlers load in both apps: no news feed, no PyPI update check or listing.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # window.jupyterapp, which the waits read.
        "--LabApp.expose_app_in_browser=True"
        if app == "lab"
        else "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    return args


def start_jupyter(app: str, workdir: Path, timeout: float = SERVER_TIMEOUT) -> JupyterServer:
    """Start ``jupyter lab`` (app="lab") or ``jupyter notebook``; return once its API answers."""
    if app not in ("lab", "notebook"):
        raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
    dirs = {
        name: workdir / name
        for name in ("root", "config", "data", "runtime", "ipython", "settings", "workspaces")
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    for name, content in LAB_SETTINGS.items():
        target = dirs["settings"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(content))
    _write_kernelspec(dirs["data"] / "kernels")
    token = secrets.token_hex(16)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "JPY_")) and k not in ("IPYTHONDIR", "PYTHONSTARTUP")
    }
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_CONFIG_PATH=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_PATH=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_PLATFORM_DIRS="1",
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    module = "jupyterlab" if app == "lab" else "notebook"
    command = [
        sys.executable,
        "-m",
        module,
        *_server_args(app),
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={dirs['root']}",
        f"--LabServerApp.user_settings_dir={dirs['settings']}",
        f"--LabServerApp.workspaces_dir={dirs['workspaces']}",
    ]
    log_path = workdir / f"jupyter-{app}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=dirs["root"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the test terminal must not reach it
        )
    server = JupyterServer(app, proc, dirs["root"], log_path, token, started_at=started)
    deadline = started + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter {app} exited ({proc.returncode}):\n{server.log_tail()}")
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(f"jupyter {app} not ready in {timeout} s:\n{server.log_tail()}")
        # The runtime dir is private to this server: its jpserver-<pid>.json is ours.
        if not server.base_url:
            for info_file in dirs["runtime"].glob("jpserver-*.json"):
                with contextlib.suppress(ValueError, KeyError, OSError):
                    info = json.loads(info_file.read_text())
                    server.base_url = f"http://127.0.0.1:{info['port']}{info['base_url']}"
        if server.base_url:
            with contextlib.suppress(OSError, urllib.error.URLError):
                server.api("api/status")
                break
        time.sleep(0.1)
    server.startup_s = time.monotonic() - started
    return server


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a v4 notebook of code cells with the python3 kernelspec (no kernel picker)."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


def launch_chromium(playwright: Any, profile: Path) -> Any:
    """Start Debian's Chromium with a fresh profile; return the Playwright browser context."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 1100},
    )


# The kernel state of the notebook in the main area, read from the application object.
_KERNEL_STATUS_JS = """(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return 'no-app';
  const w = app.shell.currentWidget;
  if (!w || !w.sessionContext || !w.context) return 'no-notebook';
  if (path && w.context.path !== path) return 'other';
  const sc = w.sessionContext;
  if (!sc.isReady) return 'not-ready';
  const k = sc.session && sc.session.kernel;
  return k ? k.status : 'no-kernel';
}"""

_PROMPTS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.node;
  return [...nb.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
    .map(e => e.textContent.trim());
}"""


def open_notebook(page: Any, server: JupyterServer, name: str, timeout: float = 90_000) -> None:
    """Open notebook ``name`` and wait until it is current and its kernel is idle."""
    page.goto(server.notebook_url(name), wait_until="domcontentloaded")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(
        state="visible", timeout=timeout
    )
    page.wait_for_function(
        f"(p) => ({_KERNEL_STATUS_JS})(p) === 'idle'", arg=name, timeout=timeout, polling=100
    )


def run_all_cells(page: Any) -> None:
    """Run every cell from the Run menu, as a user does."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    # exact: the same menu has "Restart Kernel and Run All Cells…", which opens a dialog.
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def prompts(page: Any) -> list[str]:
    """Return the execution prompts of the current notebook's code cells ("[3]:", "[*]:")."""
    return list(page.evaluate(_PROMPTS_JS))


def wait_cell_running(page: Any, index: int, timeout: float = 60_000) -> None:
    """Wait until code cell ``index`` of the current notebook runs (its prompt is [*])."""
    page.wait_for_function(
        f"(i) => ({_PROMPTS_JS})()[i] === '[*]:'", arg=index, timeout=timeout, polling=50
    )


def wait_all_executed(page: Any, cells: int, timeout: float = 60_000) -> None:
    """Wait until every code cell has an execution count and the kernel is idle again."""
    page.wait_for_function(
        f"""(n) => {{
          const p = ({_PROMPTS_JS})();
          return p.length === n && p.every(t => /^\\[\\d+\\]/.test(t));
        }}""",
        arg=cells,
        timeout=timeout,
        polling=100,
    )
    page.wait_for_function(
        f"() => ({_KERNEL_STATUS_JS})(null) === 'idle'", timeout=timeout, polling=100
    )


def kernel_status(page: Any, name: str | None = None) -> str:
    """Return the current notebook's kernel status ('idle', 'busy', ...)."""
    return str(page.evaluate(_KERNEL_STATUS_JS, name))
