"""A demo server in its own process, to kill (SIGKILL) and restart on the same port."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from types import TracebackType

__all__ = ["START_WAIT", "ServerProcess"]

START_WAIT = 30.0
"""Seconds a server process may take to start and print its URL (imports included)."""


class ServerProcess:
    """``python -m ipyws.demo NAME`` on 127.0.0.1: :meth:`kill` it, :meth:`start` it again.

    The first start takes any free port; later starts reuse it, so a client that reconnects
    finds the new process at the same URL.
    """

    def __init__(self, name: str = "echo", *args: str) -> None:
        self.name = name
        self.args = args
        self.port = 0
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the server (on the port of the previous start, if any); return its URL."""
        assert self._process is None, "the server is already running"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "ipyws.demo", self.name, "--port", str(self.port)]
        process = subprocess.Popen(
            [*command, *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self._process = process
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(START_WAIT):
                self.kill()
                raise AssertionError(f"the {self.name} server printed no URL in {START_WAIT} s")
        url = process.stdout.readline().strip()
        if not url.startswith("ws://"):
            self.kill()
            raise AssertionError(f"the {self.name} server did not start: {url!r}")
        self.url = url
        self.port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        return url

    def kill(self) -> None:
        """Kill the process with SIGKILL (no closing handshake) and wait until it is gone."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()
        process.wait(START_WAIT)
        if process.stdout is not None:
            process.stdout.close()

    @property
    def running(self) -> bool:
        """Tell whether the process is running."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()
