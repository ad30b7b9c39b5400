"""The benchmark command runs end to end on a tiny size and prints its tables.

Nothing here is timed: the figures of a tiny run on a shared machine mean nothing. The tests
only check that every client, workload and table still works, so the command in
docs/performance.md does not rot.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.chromium_client import available as chromium_available
from benchmarks.run import ENGINE_CLIENTS, Server
from ipyws._options import ENGINES

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


def _run(args: list[str], out: Path) -> tuple[str, list[dict[str, Any]]]:
    """Run ``python -m benchmarks.run ARGS --out OUT``; return its stdout and its records."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args, "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return result.stdout, records


def _summarize(files: list[Path]) -> str:
    """Run ``python -m benchmarks.run --summarize FILES``; return its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--summarize", *map(str, files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


#: What each workload measures, and the bounds any real measurement lies within.
SANE = {
    "feed100": ("msg_s", 100.0, 1e8),
    "feed4k": ("msg_s", 100.0, 1e8),
    "memory": ("msg_s", 100.0, 1e8),
    "big": ("mib_s", 1.0, 1e6),
    "echo": ("p50_us", 1.0, 1e6),
}


def _assert_sane(records: list[dict[str, Any]]) -> None:
    """Each measurement received every message and its figure is a real one (not a speed test)."""
    for record in records:
        key, low, high = SANE[record["workload"]]
        assert record["count"] == record["n"], record
        assert low < record[key] < high, record
        assert record["peak_rss_mib"] > 5, record
    workloads = {(r["client"], r["workload"]) for r in records}
    clients = {client for client, _ in workloads}
    assert {(c, w) for c in clients for w in ("feed100", "feed4k", "echo", "big")} <= workloads


def test_tiny_run_prints_every_table(tmp_path: Path) -> None:
    """A tiny run of every client-side workload completes and prints its tables and targets."""
    args = ["--quick", "--scale", "0.05", "--workloads", "feed100,feed4k,echo,big,memory"]
    if not chromium_available():
        args.append("--no-chromium")
    stdout, records = _run(args, tmp_path / "tiny.jsonl")
    failures = [r for r in records if "error" in r]
    assert failures == []
    clients = {r["client"] for r in records if r["workload"] == "feed100"}
    per_engine = [f"{mode}[{engine}]" for mode in ("ipyws", "ipyws-asyncio") for engine in ENGINES]
    expected = {"ws-async", "wsc-app", "ipyws", "ipyws-asyncio", "ipyws+panel", *ENGINE_CLIENTS}
    assert expected | set(per_engine) <= clients
    _assert_sane([r for r in records[1:] if r["client"] in (*ENGINE_CLIENTS, *per_engine)])
    # The I/O thread's share of the CPU time is read for every ipyws feed.
    ipyws_feeds = [r for r in records[1:] if r["workload"] in ("feed100", "feed4k")]
    ipyws_feeds = [r for r in ipyws_feeds if r["client"].startswith("ipyws")]
    assert all(0 < r["io_us_msg"] < r["cpu_us_msg"] for r in ipyws_feeds)
    # Each ipyws[ENGINE] ran on that engine, not on a fallback.
    for record in records[1:]:
        if record["client"] in per_engine:
            assert record["engine"] == record["client"].partition("[")[2][:-1], record
    assert records[0]["workload"] == "machine" and records[0]["python"]
    for heading in (
        "### Throughput and latency",
        "### Where an ipyws feed's time goes",
        "### With the live panel attached",
        "### Memory: one socket, default log size",
        "### Targets",
    ):
        assert heading in stdout
    assert "| ipyws | " in stdout and "Failed measurements" not in stdout
    assert "Command: `python -m benchmarks.run" in stdout


def test_summarize_reprints_a_run(tmp_path: Path) -> None:
    """``--summarize`` prints the same tables from a run's JSON lines."""
    out = tmp_path / "echo.jsonl"
    _run(["--quick", "--scale", "0.05", "--workloads", "echo", "--no-chromium"], out)
    stdout = _summarize([out])
    assert "echo p50, µs" in stdout and "| ipyws | " in stdout


def test_summarize_counts_several_runs_as_more_repetitions(tmp_path: Path) -> None:
    """``--summarize`` of two one-repetition runs prints two repetitions and says so."""
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for out in files:
        _run(["--quick", "--scale", "0.05", "--workloads", "echo", "--no-chromium"], out)
    stdout = _summarize(files)
    assert "(2 repetitions;" in stdout
    assert "(2 runs, summarized with `--summarize`)" in stdout
    assert "--out" not in stdout


@pytest.mark.kernel
def test_tiny_kernel_run(tmp_path: Path) -> None:
    """The kernel part runs: cells during a feed with the panel, and many sockets at once."""
    stdout, records = _run(
        ["--quick", "--scale", "0.05", "--workloads", "kernel", "--no-chromium"],
        tmp_path / "kernel.jsonl",
    )
    (kernel,) = [r for r in records if r["workload"] == "kernel"]
    assert "error" not in kernel, kernel
    assert kernel["sockets"]["all_delivered"] is True
    assert kernel["sockets"]["threads_all_sockets"]["io"] == 1
    assert "### In a real kernel" in stdout


@pytest.mark.parametrize("client", ["ipyws", "ipyws-asyncio"])
def test_ipyws_client_without_a_server_fails_at_once(client: str) -> None:
    """An ipyws measurement whose connection closes early says so instead of waiting."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.clients",
            client,
            "feed100",
            f"ws://127.0.0.1:{port}",
            "10",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "the connection closed after 0 of 10 messages" in result.stderr


def test_reconnect_benchmark_quick_run() -> None:
    """``python -m benchmarks.reconnect --quick`` restarts its server and prints every client."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.reconnect", "--quick", "--down", "0.1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "### Reconnect after a server restart" in result.stdout
    for client in ("ipyws", "ipyws-fast", "ws-async"):
        assert f"| {client} | " in result.stdout


@pytest.fixture(scope="module")
def bench_server() -> Iterator[str]:
    """The benchmark server, in its own process; yields its base URL."""
    server = Server()
    try:
        yield server.url
    finally:
        server.close()


@pytest.mark.parametrize("client", [*ENGINE_CLIENTS, "ws-async"])
def test_engine_client_joins_fragmented_messages(bench_server: str, client: str) -> None:
    """A client that receives each 100 B message in 3 frames hands over 100 B messages."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.clients", client, "fragmented", bench_server, "50"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.splitlines()[-1])
    assert (record["count"], record["bytes"]) == (50, 5000)
