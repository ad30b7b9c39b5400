"""Real-kernel test harness: start an ipykernel with this interpreter, run cells, attribute output.

A :class:`Kernel` starts ``[sys.executable, "-m", "ipykernel_launcher", "-f", ...]`` through
``jupyter_client.KernelManager`` with a private kernelspec and private Jupyter/IPython
directories, so no globally installed kernelspec or Jupyter config is involved. The repository
root is put on the kernel's ``PYTHONPATH``.

A background thread owns the iopub socket and records every message with its receive time, so
output that arrives after a cell has finished (handlers that run between cells) can still be
attributed to the cell whose ``execute_request`` is its parent. The shell socket is only used
under a lock from the calling threads; the iopub socket only from the collector thread.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import psutil
import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
"""The repository root (``tests/kernel/harness.py`` -> two levels up), importable in the kernel."""

KERNEL_NAME = "ipyws-test-python"
DEFAULT_TIMEOUT = 60.0
STARTUP_TIMEOUT = 90.0
SHUTDOWN_WAIT = 5.0
"""Seconds jupyter_client waits for a clean exit before SIGTERM/SIGKILL (half each)."""
PROCESS_EXIT_TIMEOUT = 10.0
TRANSPORT = "ipc"
"""How clients reach test kernels: Unix sockets, never TCP ports picked free beforehand."""
COMM_MSG_TYPES: tuple[str, ...] = ("comm_open", "comm_msg", "comm_close")

_POLL = 0.05
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TB_HEADER = "Traceback (most recent call last):"
_EXC_LINE_RE = re.compile(r"^(?P<ename>[A-Za-z_][\w.]*)(?::\s?(?P<evalue>.*))?$")


class KernelTimeoutError(TimeoutError):
    """A wait on the kernel did not finish within its timeout."""


class KernelLeakError(RuntimeError):
    """A kernel (or a child of it) was still running after shutdown and had to be killed."""


def strip_ansi(text: str) -> str:
    """Remove ANSI colour escapes (IPython colours its tracebacks)."""
    return _ANSI_RE.sub("", text)


@dataclass(frozen=True)
class Message:
    """One received Jupyter message, with the harness's receive time (``time.monotonic()``)."""

    index: int
    received: float
    channel: Literal["iopub", "shell"]
    msg_type: str
    parent_id: str | None
    content: dict[str, Any]
    header: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_msg(
        cls, msg: dict[str, Any], *, index: int, received: float, channel: Literal["iopub", "shell"]
    ) -> Message:
        """Wrap a deserialized jupyter_client message."""
        parent = msg.get("parent_header") or {}
        return cls(
            index=index,
            received=received,
            channel=channel,
            msg_type=msg["header"]["msg_type"],
            parent_id=parent.get("msg_id"),
            content=msg.get("content") or {},
            header=msg["header"],
            raw=msg,
        )


@dataclass(frozen=True)
class KernelError:
    """An exception seen from the kernel: an iopub ``error`` message or a traceback in a stream."""

    ename: str
    evalue: str
    traceback: list[str]
    source: Literal["error", "reply", "stream"]
    parent_id: str | None

    @property
    def text(self) -> str:
        """The traceback as plain text (ANSI colours removed)."""
        return strip_ansi("\n".join(self.traceback))

    @classmethod
    def from_content(
        cls, content: Mapping[str, Any], *, source: Literal["error", "reply"], parent_id: str | None
    ) -> KernelError:
        """Build from an ``error`` message or an error ``execute_reply`` content."""
        return cls(
            ename=str(content.get("ename", "")),
            evalue=str(content.get("evalue", "")),
            traceback=list(content.get("traceback") or []),
            source=source,
            parent_id=parent_id,
        )


def tracebacks_in_text(text: str, *, parent_id: str | None = None) -> list[KernelError]:
    """Find Python tracebacks printed as text (``traceback.print_exc``, asyncio, logging)."""
    lines = strip_ansi(text).splitlines()
    found: list[KernelError] = []
    i = 0
    while i < len(lines):
        start = lines[i].find(_TB_HEADER)
        if start < 0:
            i += 1
            continue
        block = [lines[i][start:]]
        ename, evalue = "", ""
        j = i + 1
        while j < len(lines):
            line = lines[j]
            block.append(line)
            j += 1
            if line and not line[0].isspace():
                match = _EXC_LINE_RE.match(line)
                if match:
                    ename, evalue = match["ename"], match["evalue"] or ""
                    break
        found.append(KernelError(ename, evalue, block, source="stream", parent_id=parent_id))
        i = j
    return found


def _stream_text(messages: Collection[Message], name: str) -> str:
    """Concatenate the text of the ``stream`` messages named ``name``."""
    return "".join(
        m.content.get("text", "")
        for m in messages
        if m.msg_type == "stream" and m.content.get("name") == name
    )


@dataclass
class Cell:
    """One executed cell: its reply and the iopub messages received by the time it idled."""

    msg_id: str
    code: str
    reply: dict[str, Any]
    sent: float
    finished: float
    iopub: list[Message]

    @property
    def status(self) -> str:
        """The ``execute_reply`` status: ``'ok'``, ``'error'`` or ``'aborted'``."""
        return str(self.reply.get("status"))

    @property
    def elapsed(self) -> float:
        """Seconds from sending the request to receiving its ``status: idle``."""
        return self.finished - self.sent

    @property
    def execution_count(self) -> int | None:
        """The execution count from the reply."""
        count = self.reply.get("execution_count")
        return count if isinstance(count, int) else None

    @property
    def stdout(self) -> str:
        """All stdout stream text of this cell up to its idle status."""
        return _stream_text(self.iopub, "stdout")

    @property
    def stderr(self) -> str:
        """All stderr stream text of this cell up to its idle status."""
        return _stream_text(self.iopub, "stderr")

    @property
    def errors(self) -> list[KernelError]:
        """The iopub ``error`` messages of this cell."""
        return [
            KernelError.from_content(m.content, source="error", parent_id=self.msg_id)
            for m in self.iopub
            if m.msg_type == "error"
        ]

    @property
    def error(self) -> KernelError | None:
        """The cell's exception (first iopub ``error``, else from the reply), or None."""
        errors = self.errors
        if errors:
            return errors[0]
        if self.status == "error":
            return KernelError.from_content(self.reply, source="reply", parent_id=self.msg_id)
        return None

    @property
    def display_data(self) -> list[dict[str, Any]]:
        """The ``data`` mime bundles of this cell's ``display_data`` messages."""
        return [
            dict(m.content.get("data") or {}) for m in self.iopub if m.msg_type == "display_data"
        ]

    @property
    def execute_result(self) -> dict[str, Any] | None:
        """The ``data`` mime bundle of the cell's ``execute_result``, or None."""
        for m in self.iopub:
            if m.msg_type == "execute_result":
                return dict(m.content.get("data") or {})
        return None

    def assert_ok(self) -> Cell:
        """Raise AssertionError with the traceback and output unless the cell's status is ok."""
        if self.status != "ok":
            err = self.error
            detail = err.text if err else json.dumps(self.reply)[:2000]
            raise AssertionError(
                f"cell failed with status {self.status!r}:\n{self.code}\n--- error ---\n{detail}"
                f"\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
            )
        return self


def _kernel_env(dirs: Mapping[str, Path], extra_env: Mapping[str, str] | None) -> dict[str, str]:
    """Environment for the kernel: ours, minus global Jupyter/IPython config, plus the repo root."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_", "JPY_")) and k not in {"IPYTHONDIR", "PYTHONSTARTUP"}
    }
    pythonpath = [str(REPO_ROOT)]
    if os.environ.get("PYTHONPATH"):
        pythonpath.append(os.environ["PYTHONPATH"])
    env.update(
        PYTHONPATH=os.pathsep.join(pythonpath),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_CONFIG_PATH=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_PATH=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        # Ignore every config dir; jupyter_core then makes a blank one under TMPDIR.
        JUPYTER_NO_CONFIG="1",
        JUPYTER_PLATFORM_DIRS="1",
        TMPDIR=str(dirs["tmp"]),
        # debugpy otherwise warns on stderr about frozen modules on Python 3.11+.
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    if extra_env:
        env.update(extra_env)
    return env


def _write_kernelspec(kernels_dir: Path) -> None:
    """Write a kernelspec whose argv runs ipykernel with this interpreter."""
    spec_dir = kernels_dir / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ipyws tests (this interpreter)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")


class Kernel:
    """A real ipykernel subprocess with a client, an iopub collector and per-cell accessors."""

    def __init__(
        self,
        *,
        extra_env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        """Prepare (but do not start) a kernel; ``cwd`` defaults to a fresh temp dir."""
        self._tmp = tempfile.TemporaryDirectory(prefix="ipyws-kernel-", ignore_cleanup_errors=True)
        root = Path(self._tmp.name)
        self.dirs: dict[str, Path] = {
            name: root / name
            for name in ("kernels", "config", "data", "runtime", "ipython", "tmp", "work")
        }
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        _write_kernelspec(self.dirs["kernels"])
        self.cwd = Path(cwd) if cwd is not None else self.dirs["work"]
        self.env = _kernel_env(self.dirs, extra_env)
        self.log_path = root / "kernel.log"
        self.startup_timeout = startup_timeout

        self._km: KernelManager | None = None
        self._kc: BlockingKernelClient | None = None
        self._log_file: IO[bytes] | None = None
        self._collector: threading.Thread | None = None
        self._stop = threading.Event()
        self._collector_error: BaseException | None = None
        self._shell_lock = threading.RLock()
        self._cond = threading.Condition()
        self._messages: list[Message] = []
        self._by_parent: dict[str, list[Message]] = {}
        self._state: dict[str, str] = {}
        self._replies: dict[str, Message] = {}
        self._requests: dict[str, tuple[str, float]] = {}
        self._pids: list[int] = []
        self._procs: dict[int, psutil.Process] = {}
        self._started = False
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Kernel:
        """Start the kernel process, the client channels and the collector; wait until ready."""
        if self._started:
            raise RuntimeError("kernel already started")
        self._started = True
        try:
            ksm = KernelSpecManager(
                kernel_dirs=[str(self.dirs["kernels"])],
                ensure_native_kernel=False,
                data_dir=str(self.dirs["data"]),
            )
            self._km = KernelManager(
                kernel_name=KERNEL_NAME,
                kernel_spec_manager=ksm,
                connection_file=str(self.dirs["runtime"] / f"kernel-{uuid.uuid4()}.json"),
                data_dir=str(self.dirs["data"]),
                shutdown_wait_time=SHUTDOWN_WAIT,
                # Unix sockets beside the connection file, not TCP ports: a port picked free
                # can be taken by another process before the kernel binds it (busy machines).
                transport=TRANSPORT,
            )
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in shutdown()
            self._km.start_kernel(
                env=self.env, cwd=str(self.cwd), stdout=self._log_file, stderr=self._log_file
            )
            self._track_process()
            self._kc = self._km.client()
            # stdin/hb are not needed (execute uses allow_stdin=False; liveness via the process).
            self._kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
            self._collector = threading.Thread(
                target=self._collect, name="ipyws-iopub-collector", daemon=True
            )
            self._collector.start()
            self._wait_ready(self.startup_timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                self.shutdown()
            raise
        return self

    def __enter__(self) -> Kernel:
        """Start the kernel if needed."""
        if not self._started:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Shut the kernel down."""
        self.shutdown()

    @property
    def pid(self) -> int:
        """The pid of the current kernel process."""
        if not self._pids:
            raise RuntimeError("kernel not started")
        return self._pids[-1]

    @property
    def pids(self) -> list[int]:
        """Pids of every kernel process this harness started (restarts add one)."""
        return list(self._pids)

    @property
    def connection_file(self) -> str:
        """Path of the kernel's connection file."""
        return self._manager.connection_file

    @property
    def manager(self) -> KernelManager:
        """The underlying ``jupyter_client.KernelManager``."""
        return self._manager

    @property
    def client(self) -> BlockingKernelClient:
        """The underlying client; use its shell channel only via this harness (it is locked)."""
        return self._client

    def is_alive(self) -> bool:
        """Whether the current kernel process is running."""
        return self._km is not None and self._km.is_alive()

    def kernel_log(self) -> str:
        """What the kernel process wrote to its own stdout/stderr (not iopub)."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def interrupt(self) -> None:
        """Send the kernel an interrupt (SIGINT), as the notebook's stop button does.

        Wait for output from inside the running cell first: ipykernel publishes ``busy`` before
        user code starts, and a SIGINT in that gap is swallowed without an ``execute_reply``.
        """
        self._manager.interrupt_kernel()

    def restart(self, timeout: float | None = None) -> None:
        """Restart the kernel process (same ports), wait until ready, check the old one exited."""
        old = self._procs.get(self.pid)
        self._manager.restart_kernel(now=False)
        if old is not None:
            self._reap([old], PROCESS_EXIT_TIMEOUT, what="restart")
        self._track_process()
        self._wait_ready(self.startup_timeout if timeout is None else timeout)

    def shutdown(self) -> None:
        """Stop the kernel, the collector and the client; verify no kernel process is left.

        Idempotent and bounded: jupyter_client escalates to SIGTERM/SIGKILL after
        ``SHUTDOWN_WAIT`` seconds, and any survivor is killed here and reported as KernelLeakError.
        """
        if self._closed:
            return
        self._closed = True
        problems: list[str] = []
        survivors: list[str] = []
        procs = list(self._procs.values())
        for proc in list(procs):
            with contextlib.suppress(psutil.Error):
                procs.extend(proc.children(recursive=True))
        try:
            if self._km is not None and self._km.has_kernel:
                try:
                    self._km.shutdown_kernel(now=False)
                except Exception as exc:  # fall back to a hard kill below
                    problems.append(f"clean shutdown failed: {exc!r}")
                    with contextlib.suppress(Exception):
                        self._km.shutdown_kernel(now=True)
            elif self._km is not None:
                # Start failed part-way: close the control socket and zmq context if any.
                with contextlib.suppress(Exception):
                    self._km.cleanup_resources()
        finally:
            self._stop.set()
            if self._collector is not None:
                self._collector.join(timeout=5)
                if self._collector.is_alive():
                    problems.append("iopub collector thread did not stop")
            if self._kc is not None:
                with self._shell_lock, contextlib.suppress(Exception):
                    self._kc.stop_channels()
            survivors = self._reap(procs, PROCESS_EXIT_TIMEOUT, what="shutdown", raise_=False)
            if self._log_file is not None:
                self._log_file.close()
            self._tmp.cleanup()
        if survivors:
            raise KernelLeakError(
                "processes left after kernel shutdown (killed): " + ", ".join(survivors)
            )
        if problems:
            raise RuntimeError("; ".join(problems))

    # ------------------------------------------------------------------ executing

    def submit(
        self,
        code: str,
        *,
        stop_on_error: bool = True,
        silent: bool = False,
        cell_id: str | None = None,
    ) -> str:
        """Send an ``execute_request`` without waiting; return its msg_id.

        ``cell_id`` puts the frontend's cell id in the request metadata, as JupyterLab and
        Notebook 7 do (``metadata.cellId``).
        """
        client = self._client
        content = {
            "code": code,
            "silent": silent,
            "store_history": not silent,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": stop_on_error,
        }
        metadata = {"cellId": cell_id} if cell_id is not None else {}
        msg = client.session.msg("execute_request", content, metadata=metadata)
        with self._shell_lock:
            client.shell_channel.send(msg)
            msg_id: str = msg["header"]["msg_id"]
            self._requests[msg_id] = (code, time.monotonic())
        return msg_id

    def wait(self, msg_id: str, timeout: float = DEFAULT_TIMEOUT) -> Cell:
        """Wait for the ``execute_reply`` of ``msg_id`` and its iopub ``status: idle``."""
        deadline = time.monotonic() + timeout
        reply = self._wait_reply(msg_id, deadline)
        self._wait_deadline(
            functools.partial(self._idle_seen, msg_id),
            deadline,
            f"iopub idle of {msg_id}",
            msg_id,
        )
        code, sent = self._requests.get(msg_id, ("", reply.received))
        with self._cond:
            idle = [
                m
                for m in self._by_parent.get(msg_id, [])
                if m.msg_type == "status" and m.content.get("execution_state") == "idle"
            ]
            iopub = list(self._by_parent.get(msg_id, []))
        finished = max(idle[-1].received, reply.received) if idle else reply.received
        return Cell(
            msg_id=msg_id,
            code=code,
            reply=reply.content,
            sent=sent,
            finished=finished,
            iopub=iopub,
        )

    def execute(
        self,
        code: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        stop_on_error: bool = True,
        cell_id: str | None = None,
    ) -> Cell:
        """Run a cell and wait for its reply and idle status; never raises for cell errors."""
        msg_id = self.submit(code, stop_on_error=stop_on_error, cell_id=cell_id)
        return self.wait(msg_id, timeout)

    def run_ok(
        self, code: str, timeout: float = DEFAULT_TIMEOUT, *, cell_id: str | None = None
    ) -> Cell:
        """Run a cell and raise AssertionError (with its traceback) unless it succeeded."""
        return self.execute(code, timeout, cell_id=cell_id).assert_ok()

    def send_comm_msg(
        self, comm_id: str, data: Mapping[str, Any], buffers: list[bytes] | None = None
    ) -> str:
        """Send a ``comm_msg`` from the 'frontend' (e.g. a widget event); return its msg_id."""
        client = self._client
        with self._shell_lock:
            msg = client.session.msg("comm_msg", {"comm_id": comm_id, "data": dict(data)})
            client.session.send(client.shell_channel.socket, msg, buffers=buffers or [])
        return str(msg["header"]["msg_id"])

    # ------------------------------------------------------------------ observing

    def messages(
        self, parent: str | None = None, msg_type: str | Collection[str] | None = None
    ) -> list[Message]:
        """Iopub messages so far, optionally only those with this parent and/or type(s)."""
        types = {msg_type} if isinstance(msg_type, str) else (set(msg_type) if msg_type else None)
        with self._cond:
            source = self._messages if parent is None else self._by_parent.get(parent, [])
            return [m for m in source if types is None or m.msg_type in types]

    def stream_of(self, msg_id: str, name: str = "stdout") -> str:
        """All text of stream ``name`` with parent ``msg_id`` received so far."""
        return _stream_text(self.messages(msg_id, "stream"), name)

    def stdout_of(self, msg_id: str) -> str:
        """All stdout text with parent ``msg_id`` received so far (including after it idled)."""
        return self.stream_of(msg_id, "stdout")

    def stderr_of(self, msg_id: str) -> str:
        """All stderr text with parent ``msg_id`` received so far."""
        return self.stream_of(msg_id, "stderr")

    def errors_of(self, msg_id: str) -> list[KernelError]:
        """Iopub ``error`` messages with this parent, then tracebacks printed on its streams."""
        msgs = self.messages(msg_id)
        errors = [
            KernelError.from_content(m.content, source="error", parent_id=msg_id)
            for m in msgs
            if m.msg_type == "error"
        ]
        for name in ("stderr", "stdout"):
            errors.extend(tracebacks_in_text(_stream_text(msgs, name), parent_id=msg_id))
        return errors

    def all_errors(self) -> list[KernelError]:
        """Errors (messages and printed tracebacks) under every parent, including none."""
        with self._cond:
            parents = list(self._by_parent)
        errors: list[KernelError] = []
        for parent in parents:
            errors.extend(self.errors_of(parent))
        orphans = [m for m in self.messages() if m.parent_id is None]
        errors.extend(
            KernelError.from_content(m.content, source="error", parent_id=None)
            for m in orphans
            if m.msg_type == "error"
        )
        for name in ("stderr", "stdout"):
            errors.extend(tracebacks_in_text(_stream_text(orphans, name)))
        return errors

    def comm_msgs(
        self,
        comm_id: str | None = None,
        *,
        parent: str | None = None,
        method: str | None = None,
        msg_types: Collection[str] = COMM_MSG_TYPES,
    ) -> list[Message]:
        """Comm open/msg/close messages so far, filtered by comm id, parent, ``data.method``."""
        return [
            m
            for m in self.messages(parent, msg_types)
            if (comm_id is None or m.content.get("comm_id") == comm_id)
            and (method is None or (m.content.get("data") or {}).get("method") == method)
        ]

    def state_of(self, msg_id: str) -> str | None:
        """The latest iopub ``execution_state`` with parent ``msg_id`` (busy/idle), or None."""
        with self._cond:
            return self._state.get(msg_id)

    def is_done(self, msg_id: str) -> bool:
        """Whether the request's reply and its idle status have both arrived."""
        with self._cond:
            return self._state.get(msg_id) == "idle" and msg_id in self._replies

    def wait_until(
        self,
        predicate: Callable[[], bool],
        timeout: float = DEFAULT_TIMEOUT,
        what: str = "condition",
    ) -> None:
        """Wait until ``predicate()`` is true; it is re-checked on every iopub message."""
        self._wait_deadline(predicate, time.monotonic() + timeout, what, None)

    def wait_for_status(self, msg_id: str, state: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait for an iopub ``status`` with parent ``msg_id`` and ``execution_state`` ``state``."""
        self._wait_deadline(
            lambda: any(
                m.content.get("execution_state") == state
                for m in self._by_parent.get(msg_id, [])
                if m.msg_type == "status"
            ),
            time.monotonic() + timeout,
            f"status {state!r} of {msg_id}",
            msg_id,
        )

    def wait_for_output(
        self,
        msg_id: str,
        substring: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        stream: str = "stdout",
    ) -> str:
        """Wait until the stream text under ``msg_id`` contains ``substring``; return all of it."""
        self._wait_deadline(
            lambda: substring in _stream_text(self._by_parent.get(msg_id, []), stream),
            time.monotonic() + timeout,
            f"{substring!r} in {stream} of {msg_id}",
            msg_id,
        )
        return self.stream_of(msg_id, stream)

    def wait_for_message(
        self,
        match: Callable[[Message], bool],
        timeout: float = DEFAULT_TIMEOUT,
        what: str = "message",
    ) -> Message:
        """Return the first iopub message (received earlier or later) for which ``match`` holds."""
        found: list[Message] = []

        def check() -> bool:
            for m in self._messages:
                if match(m):
                    found.append(m)
                    return True
            return False

        self._wait_deadline(check, time.monotonic() + timeout, what, None)
        return found[0]

    # ------------------------------------------------------------------ internals

    @property
    def _manager(self) -> KernelManager:
        """The manager, or an error if the kernel was never started."""
        if self._km is None:
            raise RuntimeError("kernel not started")
        return self._km

    @property
    def _client(self) -> BlockingKernelClient:
        """The client, or an error if it is not running."""
        if self._kc is None or self._closed:
            raise RuntimeError("kernel client not running")
        return self._kc

    def _track_process(self) -> None:
        """Remember the current kernel process (for leak checks)."""
        pid = getattr(self._manager.provisioner, "pid", None)
        if not isinstance(pid, int):
            raise RuntimeError("kernel provisioner has no pid")
        self._pids.append(pid)
        with contextlib.suppress(psutil.Error):
            self._procs[pid] = psutil.Process(pid)

    def _reap(
        self, procs: list[psutil.Process], timeout: float, *, what: str, raise_: bool = True
    ) -> list[str]:
        """Wait for ``procs`` to exit; kill and list survivors (raise KernelLeakError if asked)."""
        alive: list[psutil.Process] = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        if not alive:
            return []
        _gone, alive = psutil.wait_procs(alive, timeout=timeout)
        survivors: list[str] = []
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                survivors.append(f"pid {proc.pid} {' '.join(proc.cmdline())[:120]}")
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        if survivors and raise_:
            raise KernelLeakError(f"processes left after {what} (killed): " + ", ".join(survivors))
        return survivors

    def _collect(self) -> None:
        """Collector thread: the only user of the iopub socket; records every message."""
        assert self._kc is not None
        channel = self._kc.iopub_channel
        try:
            while not self._stop.is_set():
                try:
                    msg = channel.get_msg(timeout=_POLL)
                except queue.Empty:
                    continue
                self._record(msg, "iopub")
        except zmq.ZMQError as exc:
            if not self._stop.is_set():
                self._collector_error = exc
        except Exception as exc:  # surfaced by every wait
            self._collector_error = exc
        finally:
            with self._cond:
                self._cond.notify_all()

    def _record(self, msg: dict[str, Any], channel: Literal["iopub", "shell"]) -> Message:
        """Store a received message and wake waiters."""
        received = time.monotonic()
        with self._cond:
            message = Message.from_msg(
                msg, index=len(self._messages), received=received, channel=channel
            )
            if channel == "iopub":
                self._messages.append(message)
                if message.parent_id:
                    self._by_parent.setdefault(message.parent_id, []).append(message)
                    if message.msg_type == "status":
                        self._state[message.parent_id] = str(message.content.get("execution_state"))
            elif message.parent_id:
                self._replies[message.parent_id] = message
            self._cond.notify_all()
        return message

    def _wait_reply(self, msg_id: str, deadline: float) -> Message:
        """Read shell replies (buffering others) until the one for ``msg_id`` arrives."""
        client = self._client
        while True:
            with self._cond:
                if msg_id in self._replies:
                    return self._replies[msg_id]
            if time.monotonic() >= deadline:
                raise KernelTimeoutError(self._describe(f"shell reply to {msg_id}", msg_id))
            if not self.is_alive():
                raise RuntimeError(
                    self._describe(f"kernel died while waiting for {msg_id}", msg_id)
                )
            with self._shell_lock:
                with self._cond:
                    if msg_id in self._replies:
                        continue
                try:
                    msg = client.shell_channel.get_msg(
                        timeout=max(0.0, min(0.1, deadline - time.monotonic()))
                    )
                except queue.Empty:
                    continue
                self._record(msg, "shell")

    def _idle_seen(self, msg_id: str) -> bool:
        """Whether an iopub ``status: idle`` with parent ``msg_id`` was the latest status seen."""
        return self._state.get(msg_id) == "idle"

    def _wait_deadline(
        self, predicate: Callable[[], bool], deadline: float, what: str, msg_id: str | None
    ) -> None:
        """Wait on the message condition until ``predicate()`` (evaluated under the lock) holds."""
        with self._cond:
            while not predicate():
                if self._collector_error is not None:
                    raise RuntimeError(f"iopub collector failed: {self._collector_error!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise KernelTimeoutError(self._describe(what, msg_id))
                self._cond.wait(timeout=min(remaining, 0.25))

    def _wait_ready(self, timeout: float) -> None:
        """Wait until kernel_info is answered on shell *and* its status is seen on iopub."""
        deadline = time.monotonic() + timeout
        client = self._client
        while True:
            if not self.is_alive():
                raise RuntimeError(self._describe("kernel process exited during startup", None))
            with self._shell_lock:
                msg_id = client.kernel_info()
            try:
                self._wait_reply(msg_id, min(deadline, time.monotonic() + 10))
                # iopub is a SUB socket: early messages are lost until it has connected.
                self._wait_deadline(
                    functools.partial(self._idle_seen, msg_id),
                    min(deadline, time.monotonic() + 1),
                    "iopub idle of kernel_info",
                    msg_id,
                )
                return
            except KernelTimeoutError:
                if time.monotonic() >= deadline:
                    raise

    def _describe(self, what: str, msg_id: str | None) -> str:
        """A timeout/failure message with what the harness saw, for debugging."""
        failed = "died" in what or "exited" in what
        parts = [what if failed else f"timed out waiting for {what}"]
        if msg_id is not None:
            replied = "yes" if msg_id in self._replies else "no"
            parts.append(f"state={self._state.get(msg_id)!r} reply={replied}")
            msgs = self._by_parent.get(msg_id, [])
            parts.append(f"stdout={_stream_text(msgs, 'stdout')[-1500:]!r}")
            parts.append(f"stderr={_stream_text(msgs, 'stderr')[-1500:]!r}")
        parts.append(f"alive={self.is_alive()}")
        log = self.kernel_log()
        if log:
            parts.append(f"kernel log tail:\n{log[-3000:]}")
        return "\n".join(parts)


@contextlib.contextmanager
def start_kernel(
    *,
    extra_env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[Kernel]:
    """Start a kernel for the duration of the ``with`` block; shut it down afterwards."""
    kernel = Kernel(extra_env=extra_env, cwd=cwd, startup_timeout=startup_timeout)
    kernel.start()
    try:
        yield kernel
    finally:
        kernel.shutdown()


__all__ = [
    "COMM_MSG_TYPES",
    "DEFAULT_TIMEOUT",
    "REPO_ROOT",
    "TRANSPORT",
    "Cell",
    "Kernel",
    "KernelError",
    "KernelLeakError",
    "KernelTimeoutError",
    "Message",
    "start_kernel",
    "strip_ansi",
    "tracebacks_in_text",
]
