"""The panel's cost to the page: JupyterLab in Chromium with a feed running, with and without it.

``python -m benchmarks.panel_page`` (about 6 minutes) starts JupyterLab on 127.0.0.1 and Debian's
Chromium through Playwright, as the browser tests do (``tests/browser/harness.py``). For each
feed rate (100, 5,000 and 30,000 msg/s by default) it opens the same notebook twice: a kernel
that runs a demo ticker and a socket reading it, once with the socket's panel displayed and
once without. After a warm-up it measures, for ``--seconds`` seconds in the page:

* frames per second: ``requestAnimationFrame`` callbacks over the window;
* long tasks: ``PerformanceObserver`` entries of type ``longtask`` (main-thread tasks of 50 ms or
  more), as a share of the window and the longest one;
* widget traffic: the bytes of the kernel's ``comm_msg`` messages the page receives on its
  kernel WebSocket, per second;
* the feed's achieved rate, read from the socket's transcript in the kernel.

Each pair runs ``--repeat`` times (3 by default), the repetitions interleaved, and the table
shows the median of each figure: on a shared machine one window can catch another process's
burst. Before the first window one unmeasured notebook with a panel warms the browser up
(the widget manager and the panel's module load on first use).

The targets are ratios within one run: with the panel at the highest rate, at least 0.9x the
frames per second of the page without it, under 5% of the time in long tasks, no long task
over 100 ms, at most 100 KiB/s of widget traffic. Nothing here asserts them: the table ends
with whether this run met them. ``--json FILE`` also writes one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.browser import harness

__all__ = ["Measurement", "main", "measure", "medians", "run", "table"]

RATES = (100, 5_000, 30_000)
SECONDS = 10.0
WARMUP = 3.0
#: The targets, at the highest rate, with the panel against without it.
FPS_RATIO = 0.9
LONG_TASK_SHARE = 0.05
LONG_TASK_MAX_MS = 100.0
TRAFFIC_KIB_S = 100.0

_COMM_MSG = re.compile(rb'"msg_type":\s*"comm_msg"')

# Counts frames and long tasks in the page for `ms` milliseconds.
_MEASURE_JS = """async (ms) => {
  let frames = 0, longTotal = 0, longMax = 0, longCount = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      longTotal += e.duration; longMax = Math.max(longMax, e.duration); longCount += 1;
    }
  });
  observer.observe({ type: "longtask", buffered: false });
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = () => {
      frames += 1;
      if (performance.now() - t0 < ms) requestAnimationFrame(tick); else resolve();
    };
    requestAnimationFrame(tick);
  });
  const elapsed = performance.now() - t0;
  observer.disconnect();
  return { frames, elapsed, longTotal, longMax, longCount };
}"""

# Runs `code` in the notebook's kernel (no output area) and returns what it printed.
_EXECUTE_JS = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({ code, store_history: false });
  let out = "";
  future.onIOPub = (msg) => { if (msg.header.msg_type === "stream") out += msg.content.text; };
  await future.done;
  return out;
}"""


@dataclass
class Measurement:
    """What one window of one notebook measured."""

    rate: int
    panel: bool
    seconds: float
    fps: float
    long_task_share: float
    long_task_max_ms: float
    long_tasks: int
    widget_kib_s: float
    feed_msg_s: float


def _cells(rate: int, panel: bool) -> list[str]:
    """The notebook: a ticker in the kernel and a socket on it, its panel shown or not."""
    show = "feed" if panel else "print('the feed runs; no panel shown')"
    return [
        "from ipyws import WebSocket, demo\n"
        f"ticker = demo.start('ticker', rate={rate})\n"
        "feed = WebSocket(ticker.url)\n"
        "feed.wait_open(30)\n"
        f"{show}"
    ]


class _Traffic:
    """Counts the comm_msg bytes the page receives on its kernel WebSockets."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        page.on("websocket", self._attach)

    def _attach(self, ws: Any) -> None:
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        if _COMM_MSG.search(data[:4096]):
            self.bytes += len(data)


def _messages_in(page: Any) -> int:
    return int(page.evaluate(_EXECUTE_JS, "print(feed.transcript.messages_in)").strip())


def measure(
    server: Any, context: Any, rate: int, panel: bool, seconds: float = SECONDS
) -> Measurement:
    """Open the notebook of ``rate`` with or without the panel, warm up, measure one window."""
    name = f"bench-{rate}-{'panel' if panel else 'bare'}-{uuid.uuid4().hex[:6]}.ipynb"
    harness.write_notebook(server.root / name, _cells(rate, panel))
    page = context.new_page()
    traffic = _Traffic(page)
    try:
        harness.open_notebook(page, server, name)
        harness.run_all_cells(page)
        harness.wait_all_executed(page, 1, timeout=120_000)
        if panel:
            page.locator(".ipyws-panel .ipyws-badge").first.wait_for(timeout=60_000)
        page.wait_for_timeout(WARMUP * 1000)
        before, traffic_before, t0 = _messages_in(page), traffic.bytes, time.monotonic()
        result = page.evaluate(_MEASURE_JS, seconds * 1000)
        elapsed = time.monotonic() - t0
        after, traffic_after = _messages_in(page), traffic.bytes
        window = result["elapsed"] / 1000
        return Measurement(
            rate=rate,
            panel=panel,
            seconds=round(window, 2),
            fps=round(result["frames"] / window, 1),
            long_task_share=round(result["longTotal"] / result["elapsed"], 4),
            long_task_max_ms=round(result["longMax"], 1),
            long_tasks=int(result["longCount"]),
            widget_kib_s=round((traffic_after - traffic_before) / 1024 / elapsed, 1),
            feed_msg_s=round((after - before) / elapsed),
        )
    finally:
        with contextlib.suppress(Exception):
            page.evaluate(_EXECUTE_JS, "feed.close(); ticker.stop()")
        page.close()
        server.shutdown_kernels()


@contextlib.contextmanager
def _browser(workdir: Path, app: str) -> Iterator[tuple[Any, Any]]:
    from playwright.sync_api import sync_playwright

    server = harness.start_jupyter(app, workdir / "jupyter")
    try:
        with sync_playwright() as playwright:
            context = harness.launch_chromium(playwright, workdir / "chromium")
            try:
                yield server, context
            finally:
                context.close()
    finally:
        server.stop()


def run(
    rates: Sequence[int] = RATES, seconds: float = SECONDS, app: str = "lab", repeat: int = 1
) -> list[Measurement]:
    """Measure every rate without, then with the panel, ``repeat`` times, in one browser."""
    results = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ipyws-panel-bench-")))
        server, context = stack.enter_context(_browser(tmp, app))
        measure(server, context, min(rates), True, 1.0)  # warm-up, not kept
        for _ in range(repeat):
            for rate in rates:
                for panel in (False, True):
                    results.append(measure(server, context, rate, panel, seconds))
                    print(_row(results[-1]), file=sys.stderr, flush=True)
    return results


def medians(results: Sequence[Measurement]) -> list[Measurement]:
    """Return one measurement per rate and panel: the median of each figure over the repetitions."""
    keys = list(dict.fromkeys((m.rate, m.panel) for m in results))
    merged = []
    for rate, panel in keys:
        runs = [m for m in results if (m.rate, m.panel) == (rate, panel)]

        def median(field: str, runs: list[Measurement] = runs) -> Any:
            return statistics.median(getattr(m, field) for m in runs)

        merged.append(
            Measurement(
                rate=rate,
                panel=panel,
                seconds=median("seconds"),
                fps=median("fps"),
                long_task_share=median("long_task_share"),
                long_task_max_ms=median("long_task_max_ms"),
                long_tasks=median("long_tasks"),
                widget_kib_s=median("widget_kib_s"),
                feed_msg_s=median("feed_msg_s"),
            )
        )
    return merged


def _row(m: Measurement) -> str:
    return (
        f"| {m.rate:,} msg/s (achieved {m.feed_msg_s:,.0f}) | {'with' if m.panel else 'without'} "
        f"| {m.fps:.1f} | {m.long_task_share:.1%} | {m.long_task_max_ms:.0f} ms "
        f"| {m.widget_kib_s:.1f} KiB/s |"
    )


def table(results: Sequence[Measurement]) -> str:
    """Format the measurements as a Markdown table, then the targets and whether they were met."""
    lines = [
        "| feed | panel | frames/s | time in long tasks | longest task | widget traffic |",
        "|---|---|---|---|---|---|",
        *(_row(m) for m in results),
    ]
    top = max((m.rate for m in results), default=0)
    bare = next((m for m in results if m.rate == top and not m.panel), None)
    shown = next((m for m in results if m.rate == top and m.panel), None)
    if bare is not None and shown is not None:
        ratio = shown.fps / bare.fps if bare.fps else 0.0
        checks = [
            (
                f"frames/s with the panel ≥ {FPS_RATIO}× without",
                f"{ratio:.2f}×",
                ratio >= FPS_RATIO,
            ),
            (
                f"time in long tasks < {LONG_TASK_SHARE:.0%}",
                f"{shown.long_task_share:.1%}",
                shown.long_task_share < LONG_TASK_SHARE,
            ),
            (
                f"no long task over {LONG_TASK_MAX_MS:.0f} ms",
                f"{shown.long_task_max_ms:.0f} ms",
                shown.long_task_max_ms <= LONG_TASK_MAX_MS,
            ),
            (
                f"widget traffic ≤ {TRAFFIC_KIB_S:.0f} KiB/s",
                f"{shown.widget_kib_s:.1f} KiB/s",
                shown.widget_kib_s <= TRAFFIC_KIB_S,
            ),
        ]
        lines += ["", f"Targets at {top:,} msg/s, with the panel:", ""]
        lines += [f"* {what}: {value} ({'met' if ok else 'NOT met'})" for what, value, ok in checks]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark from the command line and print its table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.panel_page", description=__doc__)
    parser.add_argument(
        "--rates",
        default=",".join(map(str, RATES)),
        help="feed rates in msg/s, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--seconds", type=float, default=SECONDS, help="measured window (default: %(default)s)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions, interleaved (default: %(default)s)"
    )
    parser.add_argument("--app", choices=("lab", "notebook"), default="lab")
    parser.add_argument("--json", type=Path, help="also write one JSON line per measurement")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    results = run(rates, args.seconds, args.app, args.repeat)
    if args.json:
        args.json.write_text("".join(json.dumps(asdict(m)) + "\n" for m in results))
    print(f"median of {args.repeat} repetitions, {args.seconds:g} s windows, {args.app}\n")
    print(table(medians(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
