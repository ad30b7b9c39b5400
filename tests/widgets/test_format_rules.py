"""The panel's ES module writes sizes, times and durations by the kernel's rules (_format)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

import ipyws
from ipyws._format import format_age, format_size, format_time

PANEL_JS = Path(ipyws.__file__).parent / "static" / "panel.js"
NODE = shutil.which("node")

SIZES = [0, 1, 1023, 1024, 1536, 1024**2 - 1, 1024**2, 64 * 1024**2, 5 * 1024**3]
DURATIONS = [0.0, 4.24, 9.96, 42.0, 59.4, 60.0, 187.0, 3599.0, 3600.0, 7500.0, 90000.0]
TIMES_MS = [0, 1_700_000_000_123, 1_700_000_059_999]


def _run_js(functions: list[str], calls: Mapping[str, Sequence[float]]) -> dict[str, list[str]]:
    """Run panel.js's named functions (copied out of the module) on each value, under Node."""
    source = PANEL_JS.read_text(encoding="utf-8")
    bodies = []
    for name in functions:
        start = source.index(f"function {name}(")
        end = source.index("\n}\n", start) + 3
        bodies.append(source[start:end])
    script = "\n".join(bodies) + (
        f"\nconst calls = {json.dumps(calls)};\n"
        "const out = {};\n"
        "for (const [name, values] of Object.entries(calls)) out[name] = values.map(eval(name));\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", script], capture_output=True, text=True, timeout=60, check=True
    )
    written: dict[str, list[str]] = json.loads(result.stdout)
    return written


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed: apt-get install nodejs")
def test_panel_js_formats_as_the_kernel_does() -> None:
    """formatBytes, formatTime and formatDuration give format_size, format_time, format_age."""
    written = _run_js(
        ["formatBytes", "pad", "formatTime", "formatDuration"],
        {"formatBytes": SIZES, "formatTime": TIMES_MS, "formatDuration": DURATIONS},
    )
    assert written["formatBytes"] == [format_size(n) for n in SIZES]
    assert written["formatTime"] == [format_time(ms / 1000) for ms in TIMES_MS]
    assert written["formatDuration"] == [format_age(s) for s in DURATIONS]
