"""The README's first command: ``python -m ipyws`` runs the quickstart against the echo demo."""

from __future__ import annotations

import subprocess
import sys


def test_python_m_ipyws_runs_the_quickstart_offline() -> None:
    """python -m ipyws opens, echoes text and binary, closes cleanly and exits 0."""
    result = subprocess.run(
        [sys.executable, "-m", "ipyws"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "message  'Hello, WebSocket!'" in out
    assert "message  <Blob size=9>" in out
    assert "close    code=1000 reason='done' wasClean=True" in out
