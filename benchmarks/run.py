"""Run the ipyws benchmarks against their baselines and print the tables.

``python -m benchmarks.run`` (about 6 minutes) or ``python -m benchmarks.run --quick`` (under
one minute). A loopback server (:mod:`benchmarks.server`) runs in its own process for the
whole run; every measurement runs in a fresh client process (:mod:`benchmarks.clients`,
:mod:`benchmarks.chromium_client`, :mod:`benchmarks.kernel`). Repetitions interleave the
clients, in an order that rotates each repetition, so a machine that slows down for a while
slows every client alike; ratios are computed within each repetition, then summarized.

Nothing here asserts a speed: the tables end with the targets and whether this run met them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .chromium_client import CHROMIUM
from .chromium_client import available as chromium_available

__all__ = ["Plan", "main", "summarize"]

REPO = Path(__file__).resolve().parents[1]
BASELINE = "ws-async"
CLIENT_TIMEOUT = 300.0

#: Python clients on other engines: baselines the ipyws targets are weighed against.
ENGINE_CLIENTS = ("aiohttp", "picows", "picows-uvloop", "picows-compat", "ws-sansio")
#: picows' own clients: the engine under ipyws with nothing between it and the handler (the
#: bare frame listener, and the compiled message layer picows ships). The target "ahead of
#: every Python client" excepts them.
ENGINE_OWN = ("picows", "picows-uvloop", "picows-compat")

FEED_CLIENTS = (
    "ws-async",
    "ipyws",
    "ipyws-asyncio",
    "ipyws+panel",
    "ipyws-asyncio+panel",
    *ENGINE_CLIENTS,
    "wsc-app",
    "chromium",
)
OTHER_CLIENTS = ("ws-async", "ipyws", "ipyws-asyncio", *ENGINE_CLIENTS, "wsc-app", "chromium")
MEMORY_CLIENTS = ("ws-async", "ipyws", "ipyws+panel", "aiohttp", "picows", "picows-compat")


def ipyws_engines() -> tuple[str, ...]:
    """Return the engines ipyws lets a socket choose (``engine=``), none before it had any."""
    from ipyws import _options

    return tuple(getattr(_options, "ENGINES", ()))


def engine_clients(names: Sequence[str], engines: Sequence[str]) -> list[str]:
    """Return ``names`` with ``ipyws[ENGINE]`` and ``ipyws-asyncio[ENGINE]`` after each ipyws."""
    out: list[str] = []
    for name in names:
        out.append(name)
        if name in ("ipyws", "ipyws-asyncio"):
            out += [f"{name}[{engine}]" for engine in engines]
    return out


#: Message counts of a full run (--quick and --scale shrink them).
FULL_COUNTS = {"feed100": 200_000, "feed4k": 20_000, "echo": 5_000, "big": 200, "memory": 1_000_000}
QUICK_COUNTS = {"feed100": 20_000, "feed4k": 4_000, "echo": 1_000, "big": 20, "memory": 100_000}

#: Slow clients get fewer messages, so a run stays within minutes; msg/s does not depend on
#: the count once the handshake is a small part of the time.
CLIENT_SHARE = {
    ("wsc-app", "feed100"): 0.25,
    ("wsc-app", "feed4k"): 0.05,  # ~1,000 msg/s: websocket-client checks UTF-8 in pure Python
    ("chromium", "feed100"): 0.25,
    ("chromium", "feed4k"): 0.5,
}

WORKLOAD_TITLES = {
    "feed100": "feed 100 B",
    "feed4k": "feed 4 KiB",
    "big": "1 MiB binary",
    "echo": "echo 32 B",
    "memory": "memory",
}


@dataclass
class Plan:
    """What one run measures: workloads, clients, counts, repetitions."""

    reps: int = 5
    memory_reps: int = 2
    counts: dict[str, int] = field(default_factory=lambda: dict(FULL_COUNTS))
    workloads: tuple[str, ...] = ("feed100", "feed4k", "echo", "big", "memory", "kernel")
    clients: tuple[str, ...] | None = None  # None: every client of each workload
    chromium: bool = True
    kernel_cells: int = 100
    kernel_rate: int = 20_000
    engines: tuple[str, ...] = field(default_factory=ipyws_engines)
    sockets: int = 200
    per_socket: int = 1000
    socket_seconds: float = 10.0

    def clients_for(self, workload: str) -> list[str]:
        """Return the clients measured for ``workload``, baseline first."""
        if workload in ("feed100", "feed4k"):
            names: Sequence[str] = FEED_CLIENTS
        elif workload == "memory":
            names = MEMORY_CLIENTS
        else:
            names = OTHER_CLIENTS
        names = engine_clients(names, self.engines)
        chosen = [c for c in names if self.clients is None or c in self.clients or c == BASELINE]
        return [c for c in chosen if c != "chromium" or self.chromium]

    def count_for(self, client: str, workload: str) -> int:
        """Return the number of messages ``client`` receives in ``workload``."""
        return max(10, int(self.counts[workload] * CLIENT_SHARE.get((client, workload), 1.0)))


# -- running ------------------------------------------------------------------------------------


class Server:
    """The benchmark server in its own process; it exits when its stdin closes."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server", "--until-stdin-closes"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "READY":
            self.close()
            raise RuntimeError(f"the benchmark server did not start: {line}")
        self.url = line[1]

    def close(self) -> None:
        """Stop the server."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _measure(command: list[str], timeout: float) -> dict[str, Any]:
    """Run one client process; return its JSON result or an ``error``."""
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: {' | '.join(tail)}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _client_command(client: str, workload: str, url: str, n: int) -> list[str]:
    if client == "chromium":
        return [sys.executable, "-m", "benchmarks.chromium_client", workload, url, str(n)]
    return [sys.executable, "-m", "benchmarks.clients", client, workload, url, str(n)]


def _rotated(items: Sequence[str], shift: int) -> list[str]:
    if not items:
        return []
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def run_plan(plan: Plan, url: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run every measurement of ``plan`` against the server at ``url``; return the results."""
    results: list[dict[str, Any]] = []
    for rep in range(plan.reps):
        for workload in plan.workloads:
            if workload == "kernel" or (workload == "memory" and rep >= plan.memory_reps):
                continue
            for client in _rotated(plan.clients_for(workload), rep):
                n = plan.count_for(client, workload)
                started = time.monotonic()
                result = _measure(_client_command(client, workload, url, n), CLIENT_TIMEOUT)
                result.update(client=client, workload=workload, rep=rep, n=n)
                results.append(result)
                log(
                    f"rep {rep + 1}/{plan.reps} {workload:<8} {client:<20} {_brief(result)} "
                    f"({time.monotonic() - started:.1f} s)"
                )
    if "kernel" in plan.workloads:
        started = time.monotonic()
        command = [
            sys.executable,
            "-m",
            "benchmarks.kernel",
            url,
            "--cells",
            str(plan.kernel_cells),
            "--rate",
            str(plan.kernel_rate),
            "--sockets",
            str(plan.sockets),
            "--per-socket",
            str(plan.per_socket),
            "--socket-seconds",
            str(plan.socket_seconds),
        ]
        result = _measure(command, 900.0)
        result.update(client="kernel", workload="kernel", rep=0)
        results.append(result)
        log(f"kernel {_brief(result)} ({time.monotonic() - started:.1f} s)")
    return results


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"FAILED {result['error']}"
    if result.get("workload") == "kernel":
        feed = result.get("feed", {})
        return f"trivial cell p95 {feed.get('p95_ms', 0):.1f} ms during the feed"
    if "p50_us" in result:
        return f"p50 {result['p50_us']:.0f} µs"
    if "growth_mib" in result:
        return f"{result['growth_mib']:.1f} MiB growth"
    if "mib_s" in result:
        return f"{result['mib_s']:,.0f} MiB/s"
    return f"{result.get('msg_s', 0):,.0f} msg/s"


# -- summarizing --------------------------------------------------------------------------------


def _spread(values: Iterable[float | None], fmt: str) -> str:
    data = [v for v in values if v is not None]
    if not data:
        return "–"
    if len(data) == 1:
        return fmt.format(data[0])
    return (
        f"{fmt.format(statistics.median(data))} ({fmt.format(min(data))}–{fmt.format(max(data))})"
    )


def _median(values: Iterable[float]) -> float | None:
    data = [v for v in values if v is not None]
    return statistics.median(data) if data else None


class Results:
    """Measurements indexed by (workload, client) and by repetition."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.all = results
        self.ok = [r for r in results if "error" not in r]

    def values(self, workload: str, client: str, key: str) -> list[float]:
        """Return ``key`` of every repetition of ``client`` in ``workload``."""
        return [
            r[key]
            for r in self.ok
            if r["workload"] == workload and r["client"] == client and r.get(key) is not None
        ]

    def ratios(self, workload: str, client: str, key: str, against: str = BASELINE) -> list[float]:
        """Return ``client / against`` for ``key``, repetition by repetition."""
        by_rep = {
            r["rep"]: r[key]
            for r in self.ok
            if r["workload"] == workload and r["client"] == against and r.get(key)
        }
        return [
            r[key] / by_rep[r["rep"]]
            for r in self.ok
            if r["workload"] == workload
            and r["client"] == client
            and r.get(key) is not None
            and r["rep"] in by_rep
        ]

    def failures(self) -> list[dict[str, Any]]:
        """Return the measurements that failed."""
        return [r for r in self.all if "error" in r]

    def kernel(self) -> dict[str, Any] | None:
        """Return the kernel measurement, if it ran and succeeded."""
        return next((r for r in self.ok if r["workload"] == "kernel"), None)

    def clients(self, workload: str) -> list[str]:
        """Return the clients measured in ``workload``, in first-seen order."""
        seen: list[str] = []
        for r in self.all:
            if r["workload"] == workload and r["client"] not in seen:
                seen.append(r["client"])
        return seen


def _order(clients: Iterable[str]) -> list[str]:
    unique = set(clients)
    engines = sorted({c.partition("[")[2].rstrip("]") for c in unique if "[" in c})
    rank = {name: i for i, name in enumerate(engine_clients(FEED_CLIENTS, engines))}
    return sorted(unique, key=lambda c: rank.get(c, len(rank)))


Column = tuple[str, str, str, str]  # workload, result key, format, title

FEED_COLUMNS: list[Column] = [
    ("feed100", "msg_s", "{:,.0f}", "feed 100 B, msg/s"),
    ("feed100", "cpu_us_msg", "{:.1f}", "CPU µs/msg"),
    ("feed4k", "msg_s", "{:,.0f}", "feed 4 KiB, msg/s"),
    ("feed4k", "cpu_us_msg", "{:.1f}", "CPU µs/msg"),
]
OTHER_COLUMNS: list[Column] = [
    ("big", "mib_s", "{:,.0f}", "1 MiB binary, MiB/s"),
    ("echo", "p50_us", "{:,.0f}", "echo p50, µs"),
]


def _main_table(res: Results, columns: list[Column], p99: bool = False) -> list[str]:
    """Return one table of values and per-repetition ratios to ws-async, a row per client."""
    clients = _order(c for w, *_ in columns for c in res.clients(w) if "+panel" not in c)
    head = ["client"]
    for _, _, _, title in columns:
        head += [title, "× ws-async"]
    if p99:
        head += ["echo p99, µs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for client in clients:
        row = [client]
        for workload, key, fmt, _ in columns:
            row.append(_spread(res.values(workload, client, key), fmt))
            row.append(
                _spread(res.ratios(workload, client, key), "{:.2f}") if client != BASELINE else "1"
            )
        if p99:
            row.append(_spread(res.values("echo", client, "p99_us"), "{:,.0f}"))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _threads_table(res: Results) -> list[str]:
    """Return where an ipyws feed's time goes: CPU per message, the I/O thread's share, wall."""
    head = ["client"]
    for workload in ("feed100", "feed4k"):
        title = WORKLOAD_TITLES[workload]
        head += [
            f"{title}: wall µs/msg",
            "CPU µs/msg",
            "I/O thread µs/msg",
            "CPU / wall",
        ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    clients = _order(
        c for w in ("feed100", "feed4k") for c in res.clients(w) if res.values(w, c, "io_us_msg")
    )
    for client in [BASELINE, *clients]:
        row = [client]
        for workload in ("feed100", "feed4k"):
            runs = [r for r in res.ok if r["workload"] == workload and r["client"] == client]
            row += [
                _spread((1e6 / r["msg_s"] for r in runs if r.get("msg_s")), "{:.1f}"),
                _spread((r.get("cpu_us_msg") for r in runs), "{:.1f}"),
                _spread((r.get("io_us_msg") for r in runs), "{:.1f}"),
                _spread((r["cpu_s"] / r["seconds"] for r in runs if r.get("seconds")), "{:.2f}"),
            ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _panel_table(res: Results) -> list[str]:
    head = [
        "client",
        "feed 100 B, msg/s",
        "× without panel",
        "× ws-async",
        "feed 4 KiB, msg/s",
        "× without panel",
        "frontend updates/s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for client in _order(c for w in ("feed100", "feed4k") for c in res.clients(w) if "+panel" in c):
        plain = client.replace("+panel", "")
        updates = res.values("feed100", client, "updates_s") + res.values(
            "feed4k", client, "updates_s"
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    client,
                    _spread(res.values("feed100", client, "msg_s"), "{:,.0f}"),
                    _spread(res.ratios("feed100", client, "msg_s", plain), "{:.2f}"),
                    _spread(res.ratios("feed100", client, "msg_s"), "{:.2f}"),
                    _spread(res.values("feed4k", client, "msg_s"), "{:,.0f}"),
                    _spread(res.ratios("feed4k", client, "msg_s", plain), "{:.2f}"),
                    _spread(updates, "{:.1f}"),
                ]
            )
            + " |"
        )
    return lines


def _memory_table(res: Results) -> list[str]:
    head = [
        "client",
        "messages",
        "early point",
        "RSS early, MiB",
        "RSS at the end, MiB",
        "growth, MiB",
        "peak RSS, MiB",
        "msg/s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for client in _order(res.clients("memory")):
        ns = res.values("memory", client, "n")
        early = res.values("memory", client, "early")
        lines.append(
            "| "
            + " | ".join(
                [
                    client,
                    f"{int(ns[0]):,}" if ns else "–",
                    f"{int(early[0]):,}" if early else "–",
                    _spread(res.values("memory", client, "rss_early_mib"), "{:.1f}"),
                    _spread(res.values("memory", client, "rss_end_mib"), "{:.1f}"),
                    _spread(res.values("memory", client, "growth_mib"), "{:.1f}"),
                    _spread(res.values("memory", client, "peak_rss_mib"), "{:.1f}"),
                    _spread(res.values("memory", client, "msg_s"), "{:,.0f}"),
                ]
            )
            + " |"
        )
    return lines


def _kernel_tables(kernel: dict[str, Any]) -> list[str]:
    idle, feed, sockets = kernel["idle"], kernel["feed"], kernel["sockets"]
    lines = [
        "| trivial cell (`x = 1`), request → reply | p50, ms | p95, ms | max, ms | cells |",
        "|---|---|---|---|---|",
        f"| idle kernel | {idle['p50_ms']:.1f} | {idle['p95_ms']:.1f} | {idle['max_ms']:.1f} | "
        f"{idle['cells']} |",
        f"| during a {feed['rate_requested']:,} msg/s feed with a handler and the panel | "
        f"{feed['p50_ms']:.1f} | {feed['p95_ms']:.1f} | {feed['max_ms']:.1f} | {feed['cells']} |",
        "",
        f"During the feed the handler received {feed['handler_msg_s']:,.0f} msg/s and the panel "
        "sent "
        + (
            f"{feed['updates_s']:.1f} updates/s to the frontend."
            if feed.get("panel")
            else "no updates (no ipyws.widgets)."
        ),
        "",
        "| sockets in one kernel | messages delivered | every socket complete | open at once | "
        "seconds | ipyws I/O threads (1 socket → all) | OS threads (1 socket → all) |",
        "|---|---|---|---|---|---|---|",
        f"| {sockets['sockets']} | {sockets['delivered']:,} of {sockets['expected']:,} | "
        f"{'yes' if sockets['all_delivered'] else 'NO'} | {sockets['open_together']} | "
        f"{sockets['seconds']:.1f} | "
        f"{sockets['threads_one_socket']['io']} → {sockets['threads_all_sockets']['io']} | "
        f"{sockets['threads_one_socket']['os']} → {sockets['threads_all_sockets']['os']} |",
    ]
    return lines


#: Feed throughput the default engine must reach, as a multiple of ws-async (issue 14).
FEED_TARGET = {"ipyws": 2.0, "ipyws-asyncio": 1.8}
#: The Python clients ipyws's feed must beat: every one but picows' own.
PYTHON_RIVALS = tuple(c for c in ("ws-async", *ENGINE_CLIENTS, "wsc-app") if c not in ENGINE_OWN)


def _targets(res: Results) -> list[str]:
    """Check the targets of the performance issues against this run's medians."""
    rows: list[tuple[str, str, bool | None]] = []

    def check(name: str, value: float | None, ok: Callable[[float], bool], fmt: str) -> None:
        if value is not None:  # a partial run (--workloads) checks what it measured
            rows.append((name, fmt.format(value), ok(value)))

    # The targets are the default engine's (ipyws, ipyws-asyncio); each ipyws[ENGINE] measured
    # is checked against them too, to show which engine would meet them.
    # An ipyws[ENGINE] whose engine is the default one is plain ipyws again: left out.
    seen = [c for w in ("feed100", "feed4k", "echo") for c in res.clients(w)]
    default = {r.get("engine") for r in res.ok if r["client"] in FEED_TARGET}
    modes = [
        c
        for c in _order(seen)
        if c.partition("[")[0] in FEED_TARGET and c.partition("[")[2][:-1] not in default
    ]
    for mode in modes:
        for workload in ("feed100", "feed4k"):
            floor = FEED_TARGET[mode.partition("[")[0]]
            ratio = _median(res.ratios(workload, mode, "msg_s"))
            check(
                f"{mode} {WORKLOAD_TITLES[workload]} ≥ {floor}× ws-async",
                ratio,
                floor.__le__,
                "{:.4g}×",
            )
            rivals = {
                client: _median(res.ratios(workload, client, "msg_s"))
                for client in res.clients(workload)
                if client in PYTHON_RIVALS
            }
            measured = {c: v for c, v in rivals.items() if v is not None}
            if ratio is not None and measured:
                best = max(measured, key=lambda c: measured[c])
                rows.append(
                    (
                        f"{mode} {WORKLOAD_TITLES[workload]} ahead of every Python client "
                        "but picows' own",
                        f"{ratio:.4g}× vs {best} {measured[best]:.4g}×",
                        ratio > measured[best],
                    )
                )
        check(
            f"{mode} echo p50 ≤ 1.1× ws-async",
            _median(res.ratios("echo", mode, "p50_us")),
            lambda v: v <= 1.1,
            "{:.4g}×",
        )
        if "chromium" in res.clients("echo"):
            check(
                f"{mode} echo p50 below Chromium's",
                _median(res.ratios("echo", mode, "p50_us", "chromium")),
                lambda v: v < 1.0,
                "{:.4g}× Chromium",
            )
        for workload in ("feed100", "feed4k"):
            check(
                f"{mode}+panel {WORKLOAD_TITLES[workload]} ≥ 0.8× without panel",
                _median(res.ratios(workload, f"{mode}+panel", "msg_s", mode)),
                lambda v: v >= 0.8,
                "{:.4g}×",
            )
        updates = res.values("feed100", f"{mode}+panel", "updates_s") + res.values(
            "feed4k", f"{mode}+panel", "updates_s"
        )
        check(
            f"{mode}+panel ≤ 20 frontend updates/s",
            max(updates) if updates else None,
            lambda v: v <= 20,
            "{:.1f}/s (max)",
        )
    kernel = res.kernel()
    if kernel is not None:
        check(
            "kernel: trivial cell p95 < 100 ms during the feed",
            kernel["feed"]["p95_ms"],
            lambda v: v < 100,
            "{:.1f} ms",
        )
        if kernel["feed"].get("updates_s") is not None:
            check(
                "kernel: ≤ 20 frontend updates/s",
                kernel["feed"]["updates_s"],
                lambda v: v <= 20,
                "{:.1f}/s",
            )
        sockets = kernel["sockets"]
        rows.append(
            (
                f"kernel: {sockets['sockets']} sockets, everything delivered",
                f"{sockets['delivered']:,}/{sockets['expected']:,}",
                bool(sockets["all_delivered"]),
            )
        )
        grew = sockets["threads_all_sockets"]["os"] - sockets["threads_one_socket"]["os"]
        rows.append(
            (
                "kernel: threads do not grow with sockets",
                f"{grew:+d} OS threads, {sockets['threads_all_sockets']['io']} I/O thread",
                grew <= 0 and sockets["threads_all_sockets"]["io"] == 1,
            )
        )
    for client in _order(c for c in res.clients("memory") if c.startswith("ipyws")):
        growth = res.values("memory", client, "growth_mib")
        check(
            f"{client} memory growth 10k → end < 30 MB",
            max(growth) * 1.048576 if growth else None,
            lambda v: v < 30,
            "{:.1f} MB (max)",
        )
    lines = ["| target | this run | met |", "|---|---|---|"]
    for name, value, ok in rows:
        lines.append(f"| {name} | {value} | {'–' if ok is None else ('yes' if ok else '**no**')} |")
    return lines


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _default_engine() -> str:
    from ipyws._engines import default_engine

    return default_engine()


def machine() -> dict[str, Any]:
    """Describe the machine and the software measured."""
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(
                (line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), ""
            )
    except OSError:
        pass
    chromium = ""
    if shutil.which(CHROMIUM):
        try:
            chromium = subprocess.run(
                [CHROMIUM, "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            chromium = "?"
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kib = int(fh.readline().split()[1])
            mem = f"{kib / (1 << 20):.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "ipyws": _version("ipyws"),
        "websockets": _version("websockets"),
        "ipyws default engine": _default_engine(),
        "websocket-client": _version("websocket-client"),
        "aiohttp": _version("aiohttp"),
        "picows": _version("picows"),
        "uvloop": _version("uvloop"),
        "chromium": chromium or "not used",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def summarize(results: list[dict[str, Any]], info: dict[str, Any] | None = None) -> str:
    """Return the Markdown tables of a run."""
    res = Results(results)
    reps = max((r.get("rep", 0) for r in results if r["workload"] != "kernel"), default=0) + 1
    out: list[str] = []
    if info:
        machine_items = (f"{k} {v}" for k, v in info.items() if k not in ("command", "runs"))
        out += ["Machine: " + "; ".join(machine_items), ""]
        if "command" in info:
            runs = info.get("runs")
            also = f" ({runs} runs, summarized with `--summarize`)" if runs else ""
            out += [f"Command: `{info['command']}`{also}", ""]
    out += [
        f"### Throughput and latency ({reps} repetition{'s' if reps != 1 else ''}; "
        "median (min–max); ratios within each repetition)",
        "",
        *_main_table(res, FEED_COLUMNS),
        "",
        *_main_table(res, OTHER_COLUMNS, p99=True),
        "",
    ]
    if any(r.get("io_us_msg") for r in res.ok):
        out += [
            "### Where an ipyws feed's time goes (CPU / wall below 1: threads waiting)",
            "",
            *_threads_table(res),
            "",
        ]
    if any("+panel" in c for w in ("feed100", "feed4k") for c in res.clients(w)):
        out += ["### With the live panel attached", "", *_panel_table(res), ""]
    if res.clients("memory"):
        out += ["### Memory: one socket, default log size", "", *_memory_table(res), ""]
    kernel = res.kernel()
    if kernel is not None:
        out += ["### In a real kernel", "", *_kernel_tables(kernel), ""]
    out += ["### Targets", "", *_targets(res), ""]
    failures = res.failures()
    if failures:
        out += ["### Failed measurements", ""]
        out += [
            f"- {r['workload']} {r['client']} rep {r.get('rep', 0) + 1}: {r['error']}"
            for r in failures
        ]
        out.append("")
    return "\n".join(out)


# -- command line -------------------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts, one repetition (< 1 min)"
    )
    parser.add_argument("--reps", type=int, help="repetitions (default 5, 1 with --quick)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every message count")
    parser.add_argument(
        "--workloads", help="comma-separated: feed100,feed4k,echo,big,memory,kernel"
    )
    parser.add_argument(
        "--clients", help="comma-separated clients (ws-async, the baseline, always runs)"
    )
    parser.add_argument("--no-chromium", action="store_true", help="skip the Chromium baseline")
    parser.add_argument("--out", type=Path, help="also write every measurement as JSON lines here")
    parser.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        metavar="JSONL",
        help="print the tables of earlier runs' --out files and exit",
    )
    return parser.parse_args(argv)


def _plan(args: argparse.Namespace) -> Plan:
    plan = Plan()
    if args.quick:
        plan.reps, plan.memory_reps = 1, 1
        plan.counts = dict(QUICK_COUNTS)
        plan.kernel_cells, plan.sockets, plan.per_socket, plan.socket_seconds = 20, 50, 200, 3.0
    if args.reps is not None:
        plan.reps = args.reps
        plan.memory_reps = min(plan.memory_reps, args.reps)
    if args.scale != 1.0:
        plan.counts = {k: max(10, int(v * args.scale)) for k, v in plan.counts.items()}
        plan.kernel_cells = max(5, int(plan.kernel_cells * min(1.0, args.scale * 10)))
        plan.sockets = max(2, int(plan.sockets * min(1.0, args.scale * 10)))
        plan.per_socket = max(20, int(plan.per_socket * min(1.0, args.scale * 10)))
        plan.socket_seconds = max(1.0, plan.socket_seconds * min(1.0, args.scale * 10))
    if args.workloads:
        plan.workloads = tuple(w.strip() for w in args.workloads.split(",") if w.strip())
    if args.clients:
        plan.clients = tuple(c.strip() for c in args.clients.split(",") if c.strip())
    if args.no_chromium or not chromium_available():
        plan.chromium = False
    return plan


def _merged_info(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Describe several runs at once: the first one's machine, every distinct command."""
    info = dict(infos[0])
    if len(infos) > 1:
        commands = []
        for one in infos:
            # The --out file differs from run to run and says nothing about what ran.
            command = re.sub(r" --out \S+", "", str(one.get("command", "")))
            if command not in commands:
                commands.append(command)
        seconds = sum(float(str(one.get("duration", "0")).split()[0]) for one in infos)
        info["duration"] = f"{seconds:.0f} s in all"
        info["command"] = "`, `".join(commands)
        info["runs"] = len(infos)
    return info


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or summarize earlier runs) and print the tables."""
    args = _parse(argv)
    if args.summarize:
        results: list[dict[str, Any]] = []
        infos: list[dict[str, Any]] = []
        for path in args.summarize:
            # Several files are several passes: number their repetitions apart.
            offset = max((r.get("rep", 0) + 1 for r in results), default=0)
            for line in path.read_text().splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                if record.get("workload") == "machine":
                    infos.append(
                        {k: v for k, v in record.items() if k not in ("workload", "client")}
                    )
                    continue
                record["rep"] = record.get("rep", 0) + offset
                results.append(record)
        info = _merged_info(infos) if infos else None
        print(summarize(results, info))
        return 0
    plan = _plan(args)
    info = machine()
    info["command"] = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    server = Server()
    try:
        results = run_plan(plan, server.url, lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        server.close()
    info["duration"] = f"{time.monotonic() - started:.0f} s"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w") as fh:
            fh.write(json.dumps({"workload": "machine", "client": "-", **info}) + "\n")
            for result in results:
                fh.write(json.dumps(result) + "\n")
    print(summarize(results, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
