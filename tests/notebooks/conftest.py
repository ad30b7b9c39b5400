"""Fixtures for executing the notebooks in ``notebooks/`` with nbclient in a real, hermetic kernel.

The kernel is set up the way the kernel tier's harness sets up its own
(``tests/kernel/harness.py``): a private kernelspec whose argv is this interpreter, private
Jupyter and IPython directories, no global configuration, and the repository root on
``PYTHONPATH``. Each notebook runs in a fresh temporary working directory, so files it writes
(a saved transcript) never land in the repo.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.kernel import harness

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
CELL_TIMEOUT = 120
"""Seconds one cell may run; the slowest cell (a keepalive timeout) needs a few."""
STARTUP_TIMEOUT = 90


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read the notebook at ``path`` as nbformat version 4."""
    # nbformat leaves read unannotated: the tests' one call of it sits behind a typed front.
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    assert isinstance(nb, nbformat.NotebookNode), nb
    return nb


def execute_notebook(path: Path) -> nbformat.NotebookNode:
    """Execute the notebook at ``path`` top to bottom in a fresh hermetic kernel; return it.

    Raises :class:`nbclient.exceptions.CellExecutionError` on the first cell that fails and
    :class:`nbclient.exceptions.CellTimeoutError` on one that runs longer than ``CELL_TIMEOUT``.
    """
    nb = read_notebook(path)
    with tempfile.TemporaryDirectory(prefix="ipyws-nb-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        dirs = {
            name: root / name
            for name in ("kernels", "config", "data", "runtime", "ipython", "tmp", "work")
        }
        for directory in dirs.values():
            directory.mkdir()
        harness._write_kernelspec(dirs["kernels"])
        env = harness._kernel_env(dirs, None)
        ksm = KernelSpecManager(
            kernel_dirs=[str(dirs["kernels"])],
            ensure_native_kernel=False,
            data_dir=str(dirs["data"]),
        )
        km = KernelManager(
            kernel_name=harness.KERNEL_NAME,
            kernel_spec_manager=ksm,
            connection_file=str(dirs["runtime"] / "kernel.json"),
            data_dir=str(dirs["data"]),
            shutdown_wait_time=harness.SHUTDOWN_WAIT,
            transport=harness.TRANSPORT,
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=CELL_TIMEOUT,
            startup_timeout=STARTUP_TIMEOUT,
            kernel_name=harness.KERNEL_NAME,
            resources={"metadata": {"path": str(dirs["work"])}},
        )
        try:
            client.execute(env=env, cwd=str(dirs["work"]))
            # A notebook leaves the folder it runs in (a checkout, for a reader) as it was.
            assert list(dirs["work"].iterdir()) == [], f"{path.name} wrote into its folder"
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=False)
            km.cleanup_resources()
    return nb


@pytest.fixture(scope="session")
def run_notebook() -> Iterator[Callable[[str], nbformat.NotebookNode]]:
    """Execute a notebook of ``notebooks/`` by file name, once per session; return the result."""
    done: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        """Return the executed notebook ``notebooks/<name>``."""
        if name not in done:
            done[name] = execute_notebook(NOTEBOOKS / name)
        return done[name]

    yield run
