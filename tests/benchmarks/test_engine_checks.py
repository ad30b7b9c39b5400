"""The engine behaviour checks (``python -m benchmarks.engines``) run and tell engines apart.

The table in docs/performance.md comes from this command. The tests check that every check
runs with every engine and that the scripted server provokes what it claims, on the engine
whose behaviour the rest of the suite already pins: ``websockets``, ipyws' own.
"""

from __future__ import annotations

import pytest

from benchmarks import engines


@pytest.fixture(scope="module")
def websockets_table() -> dict[str, dict[str, str]]:
    """Every check, run once with websockets."""
    return engines.run_checks(["websockets"])


def test_every_check_runs_with_every_engine(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m benchmarks.engines`` prints one row per check and one column per engine."""
    assert engines.main([]) == 0
    stdout = capsys.readouterr().out
    rows = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert rows[0] == "| behaviour | " + " | ".join(engines.ENGINES) + " |"
    assert len(rows) == 1 + len(engines.CHECKS)
    for row in rows[1:]:
        assert row.count(" | ") == len(engines.ENGINES), row
    assert "timeout" not in stdout


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("permessage-deflate offered by default", "offered"),
        ("server answers a subprotocol none was offered", "fails (NegotiationError)"),
        ("wrong Sec-WebSocket-Accept", "fails (InvalidHeaderValue)"),
        ("server closes 4001 `bye`", "reports 4001 `bye`, answers 4001"),
        ("server closes with no status code", "reports 1005"),
        ("invalid UTF-8 in a text message", "closes 1007"),
        ("the same in 3 fragments of 666 B", "closes 1009"),
        ("server sends a Ping", "answers Pong"),
    ],
)
def test_the_scripted_server_provokes_what_it_claims(
    websockets_table: dict[str, dict[str, str]], title: str, expected: str
) -> None:
    """Each check, run with websockets, gives the answer RFC 6455 and the browser give."""
    assert websockets_table[title]["websockets"] == expected
