"""The Chromium baseline: the browser's own WebSocket, in Debian's Chromium launched directly.

``python -m benchmarks.chromium_client WORKLOAD BASE_URL N`` serves a tiny page on 127.0.0.1,
starts ``/usr/bin/chromium --headless`` on it, and prints the result the page POSTs back as
one JSON line (same fields as :mod:`benchmarks.clients`).

The page is served with COOP/COEP headers, so it is cross-origin isolated and
``performance.now()`` has 5 µs resolution. Chromium is not driven through Playwright or
DevTools: with CDP network events on, Chromium copies every frame to the driver and its
sockets run about 4× slower (``research/perf-anchors.md``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .clients import ECHO_PAYLOAD, ECHO_WARMUP, path_for

__all__ = ["CHROMIUM", "available", "main", "run"]

CHROMIUM = os.environ.get("IPYWS_BENCH_CHROMIUM", "/usr/bin/chromium")
TIMEOUT = 300.0

_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>ipyws benchmark</title>
<script>
const params = new URLSearchParams(location.search);
const workload = params.get("workload");
const url = params.get("url");
const n = Number(params.get("n"));
const warmup = Number(params.get("warmup"));
const payload = params.get("payload");
function report(result) {
  result.isolated = self.crossOriginIsolated;
  fetch("/result", {method: "POST", body: JSON.stringify(result)});
}
let count = 0, nbytes = 0, start = performance.now();
const ws = new WebSocket(url);
ws.binaryType = "arraybuffer";
if (workload === "echo") {
  const samples = [];
  let i = 0, t0 = 0;
  const next = () => { t0 = performance.now(); ws.send(payload); };
  ws.onopen = () => { start = performance.now(); next(); };
  ws.onmessage = () => {
    const now = performance.now();
    if (i >= warmup) { samples.push(now - t0); count++; }
    i++;
    if (i === warmup + n) {
      const seconds = (performance.now() - start) / 1000;
      ws.close();
      samples.sort((a, b) => a - b);
      const at = (q) => samples[Math.min(samples.length - 1, Math.floor(samples.length * q))];
      report({count, seconds, p50_us: at(0.5) * 1000, p99_us: at(0.99) * 1000});
    } else {
      next();
    }
  };
} else {
  ws.onmessage = (event) => {
    count++;
    if (workload === "big") nbytes += event.data.byteLength;
    if (count === n) {
      const seconds = (performance.now() - start) / 1000;
      const result = {count, seconds, msg_s: count / seconds};
      if (workload === "big") result.mib_s = nbytes / seconds / 1048576;
      report(result);
    }
  };
}
ws.onerror = () => report({error: "WebSocket error event", count});
</script>
"""


def available() -> bool:
    """Tell whether the Chromium binary exists."""
    return shutil.which(CHROMIUM) is not None


def _server(results: list[dict[str, Any]], done: threading.Event) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = _PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            # Cross-origin isolation gives performance.now() its 5 µs resolution.
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            results.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()
            done.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def _cpu_seconds(pid: int) -> float:
    """Return the CPU time of ``pid`` and its descendants (0 without psutil)."""
    try:
        import psutil
    except ImportError:
        return 0.0
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run(workload: str, base: str, n: int) -> dict[str, Any]:
    """Run one measurement in a fresh headless Chromium and return its result."""
    results: list[dict[str, Any]] = []
    done = threading.Event()
    http = _server(results, done)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    query = urllib.parse.urlencode(
        {
            "workload": workload,
            "url": base.rstrip("/") + path_for(workload, n),
            "n": n,
            "warmup": ECHO_WARMUP,
            "payload": ECHO_PAYLOAD,
        }
    )
    page = f"http://127.0.0.1:{http.server_address[1]}/?{query}"
    profile = tempfile.mkdtemp(prefix="ipyws-bench-chromium-")
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        page,
    ]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        if not done.wait(TIMEOUT):
            raise TimeoutError(f"Chromium reported nothing within {TIMEOUT} s")
        cpu = _cpu_seconds(proc.pid)
    finally:
        # Chromium starts a process tree in its own session: end all of it.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        http.shutdown()
        http.server_close()
        shutil.rmtree(profile, ignore_errors=True)
    result = results[0]
    if "error" in result:
        raise RuntimeError(f"Chromium: {result['error']} after {result.get('count')} messages")
    result.update(workload=workload, n=n, cpu_s_all_processes=cpu)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run one measurement and print its result as a JSON line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m benchmarks.chromium_client WORKLOAD BASE_URL N", file=sys.stderr)
        return 2
    workload, base, count = args
    result = run(workload, base, int(count))
    result["client"] = "chromium"
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
