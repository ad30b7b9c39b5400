"""The published wheel: it installs the ipyws package and nothing beside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python_in_checkout(*args: str) -> str:
    """Run this Python with ``args`` in the repository root; return its output (it must pass)."""
    command = [sys.executable, *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_wheel_installs_only_ipyws(tmp_path: Path) -> None:
    """A wheel built from the checkout holds one top-level package, ipyws (no benchmarks)."""
    build = "import sys; from hatchling.build import build_wheel; print(build_wheel(sys.argv[1]))"
    wheel = tmp_path / _python_in_checkout("-c", build, str(tmp_path)).strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/", 1)[0] for name in names if ".dist-info/" not in name}
    assert top_level == {"ipyws"}
    assert "ipyws/static/panel.js" in names and "ipyws/py.typed" in names


def test_benchmarks_run_from_a_checkout() -> None:
    """``python -m benchmarks.run --help`` works from the repository root, as documented."""
    assert "usage:" in _python_in_checkout("-m", "benchmarks.run", "--help")
