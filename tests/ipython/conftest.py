"""Fixtures for the IPython tier: one InteractiveShell, ipyws loaded per test, loopback servers."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from ipyws import demo, sockets

CLOSE_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def shell() -> Iterator[InteractiveShell]:
    """The process's InteractiveShell, with a private IPython dir and history in memory."""
    with tempfile.TemporaryDirectory(prefix="ipyws-ipython-") as ipython_dir:
        saved = os.environ.get("IPYTHONDIR")
        os.environ["IPYTHONDIR"] = ipython_dir
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        config.InteractiveShell.colors = "nocolor"
        try:
            yield InteractiveShell.instance(config=config)
        finally:
            InteractiveShell.clear_instance()
            if saved is None:
                os.environ.pop("IPYTHONDIR", None)
            else:
                os.environ["IPYTHONDIR"] = saved


@pytest.fixture
def ip(shell: InteractiveShell) -> Iterator[InteractiveShell]:
    """The shell after ``%load_ext ipyws``; then unloaded, sockets closed, names dropped."""
    names = set(shell.user_ns)
    shell.run_line_magic("load_ext", "ipyws")
    try:
        yield shell
    finally:
        assert shell.extension_manager is not None  # %load_ext above used it
        if "ipyws" in shell.extension_manager.loaded:
            shell.run_line_magic("unload_ext", "ipyws")
        # %config writes into the shell's config, which the next load would inherit.
        shell.config.pop("WSMagics", None)
        for name in set(shell.user_ns) - names:
            del shell.user_ns[name]
        for ws in sockets():
            ws.close()
            ws.wait_closed(CLOSE_TIMEOUT)


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """The URL of an echo demo server on 127.0.0.1 for the module."""
    with demo.start("echo") as server:
        yield server.url


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A ws:// URL whose TCP port accepts connections but never answers the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()
