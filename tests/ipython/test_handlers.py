"""``%%ws on`` and ``%ws off``: cell bodies as event handlers, replaced when the cell re-runs."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyws import WebSocket
from tests.ipython.shell import TIMEOUT, run, settle, socket_named, usage_error


@pytest.fixture
def echo(ip: InteractiveShell, echo_url: str) -> WebSocket:
    """An OPEN socket named `echo` on the echo server, and an empty list `seen`."""
    ip.user_ns["seen"] = []
    run(ip, f"%ws connect {echo_url} --as echo --no-display")
    ws: WebSocket = socket_named(ip, "echo")
    return ws.wait_open(TIMEOUT)


def _roundtrip(ws: WebSocket, text: str) -> None:
    """Send ``text`` and return once its echo has been dispatched to every listener."""
    ws.send(text)
    ws.wait_message(TIMEOUT)
    settle(ws)


def test_on_runs_the_body_for_each_event_with_event_bound(
    ip: InteractiveShell, echo: WebSocket
) -> None:
    """The body runs like a cell on each message: `event` is the MessageEvent, NAME the socket."""
    run(ip, "%%ws on echo message\nseen.append((event.type, event.data, event.target is echo))")
    _roundtrip(echo, "one")
    _roundtrip(echo, "two")
    assert ip.user_ns["seen"] == [("message", "one", True), ("message", "two", True)]


def test_body_assignments_stay_in_the_namespace_and_event_is_restored(
    ip: InteractiveShell, echo: WebSocket
) -> None:
    """Names the body assigns persist like a cell's; a user's own `event` comes back afterwards."""
    ip.user_ns["event"] = "mine"
    run(ip, "%%ws on echo message\nlast = event.data\ncount = globals().get('count', 0) + 1")
    _roundtrip(echo, "a")
    _roundtrip(echo, "b")
    assert (ip.user_ns["last"], ip.user_ns["count"]) == ("b", 2)
    assert ip.user_ns["event"] == "mine"
    del ip.user_ns["event"]
    _roundtrip(echo, "c")
    assert "event" not in ip.user_ns


def test_same_cell_id_run_three_times_leaves_one_handler(
    ip: InteractiveShell, echo: WebSocket
) -> None:
    """Re-running a cell (same frontend cell id), even edited, replaces its handler."""
    for version in range(3):
        run(ip, f"%%ws on echo message\nseen.append({version})", cell_id="cell-1")
    _roundtrip(echo, "x")
    assert ip.user_ns["seen"] == [2]


def test_a_cell_can_change_its_event_and_name_on_rerun(
    ip: InteractiveShell, echo: WebSocket
) -> None:
    """A cell edited from `message` to `close` no longer handles messages."""
    run(ip, "%%ws on echo message\nseen.append('message')", cell_id="cell-1")
    run(ip, "%%ws on echo close\nseen.append('close')", cell_id="cell-1")
    _roundtrip(echo, "x")
    echo.close()
    settle(echo)
    echo.wait_closed(TIMEOUT)
    settle(echo)
    assert ip.user_ns["seen"] == ["close"]


def test_different_cells_add_separate_handlers(ip: InteractiveShell, echo: WebSocket) -> None:
    """Two cells with two cell ids register two handlers, run in registration order."""
    run(ip, "%%ws on echo message\nseen.append('A')", cell_id="cell-A")
    run(ip, "%%ws on echo message\nseen.append('B')", cell_id="cell-B")
    _roundtrip(echo, "x")
    assert ip.user_ns["seen"] == ["A", "B"]


def test_without_cell_id_the_identical_cell_replaces_and_an_edited_one_adds(
    ip: InteractiveShell, echo: WebSocket
) -> None:
    """With no cell id the cell's text is the key: a re-run replaces, an edit adds a handler."""
    run(ip, "%%ws on echo message\nseen.append('v1')")
    run(ip, "%%ws on echo message\nseen.append('v1')")
    _roundtrip(echo, "x")
    assert ip.user_ns["seen"] == ["v1"]
    run(ip, "%%ws on echo message\nseen.append('v2')")
    _roundtrip(echo, "y")
    assert ip.user_ns["seen"] == ["v1", "v1", "v2"]


def test_handlers_follow_their_name_to_a_reconnected_socket(
    ip: InteractiveShell, echo: WebSocket, echo_url: str
) -> None:
    """After %ws connect rebinds NAME, its %%ws on handlers fire on the new socket, not the old."""
    run(ip, "%%ws on echo open\nseen.append('open')")
    run(ip, "%%ws on echo close\nseen.append('close')")
    run(ip, "%%ws on echo message\nseen.append(event.data)")
    run(ip, f"%ws connect {echo_url} --as echo --no-display")
    new = socket_named(ip, "echo").wait_open(TIMEOUT)
    echo.wait_closed(TIMEOUT)
    settle(echo)
    _roundtrip(new, "on the new one")
    assert ip.user_ns["seen"] == ["open", "on the new one"]


def test_handler_for_a_name_not_connected_yet_waits_for_it(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%%ws on before %ws connect prints a note, then catches the socket's open event."""
    ip.user_ns["seen"] = []
    run(ip, "%%ws on later open\nseen.append(event.type)")
    assert capsys.readouterr().out == (
        "Note: no WebSocket named 'later' yet; this open handler is attached when "
        "%ws connect URL --as later (or %ws demo --as later) opens it.\n"
    )
    run(ip, f"%ws connect {echo_url} --as later --no-display")
    settle(socket_named(ip, "later").wait_open(TIMEOUT))
    assert ip.user_ns["seen"] == ["open"]


def test_open_handler_on_an_open_socket_explains_when_it_runs(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """An open handler added to an OPEN socket says it runs on the next connect."""
    capsys.readouterr()
    run(ip, "%%ws on echo open\nseen.append('open')")
    assert capsys.readouterr().out == (
        "Note: echo is already OPEN, so this open handler runs when echo is connected again "
        "(re-run its %ws connect).\n"
    )


def test_handler_on_a_closed_socket_explains_when_it_runs(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """A handler added to a CLOSED socket says it runs once the name is reconnected."""
    echo.close()
    echo.wait_closed(TIMEOUT)
    capsys.readouterr()
    run(ip, "%%ws on echo message\nseen.append(1)")
    assert capsys.readouterr().out.startswith("Note: echo is CLOSED, so this handler runs when")


def test_off_removes_handlers_by_event_or_all(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws off NAME EVENT removes that event's handlers; %ws off NAME removes the rest."""
    run(ip, "%%ws on echo message\nseen.append('m1')", cell_id="1")
    run(ip, "%%ws on echo message\nseen.append('m2')", cell_id="2")
    run(ip, "%%ws on echo close\nseen.append('close')", cell_id="3")
    capsys.readouterr()
    run(ip, "%ws off echo message")
    assert capsys.readouterr().out == "Removed 2 %%ws on message handlers of echo.\n"
    _roundtrip(echo, "x")
    assert ip.user_ns["seen"] == []
    run(ip, "%ws off echo")
    assert capsys.readouterr().out == "Removed 1 %%ws on handler of echo.\n"
    run(ip, "%ws off echo")
    assert capsys.readouterr().out == "Removed 0 %%ws on handlers of echo.\n"
    echo.close()
    echo.wait_closed(TIMEOUT)
    settle(echo)
    assert ip.user_ns["seen"] == []


def test_off_keeps_handlers_set_from_python(ip: InteractiveShell, echo: WebSocket) -> None:
    """%ws off leaves echo.onmessage and addEventListener listeners alone."""
    run(ip, "echo.onmessage = lambda e: seen.append('python')")
    run(ip, "%%ws on echo message\nseen.append('magic')")
    run(ip, "%ws off echo")
    _roundtrip(echo, "x")
    assert ip.user_ns["seen"] == ["python"]


def test_off_for_a_pending_handler(ip: InteractiveShell, echo_url: str) -> None:
    """%ws off removes a handler still waiting for its NAME to be connected."""
    ip.user_ns["seen"] = []
    run(ip, "%%ws on later open\nseen.append('open')")
    run(ip, "%ws off later")
    run(ip, f"%ws connect {echo_url} --as later --no-display")
    settle(socket_named(ip, "later").wait_open(TIMEOUT))
    assert ip.user_ns["seen"] == []


def test_handler_errors_are_reported_from_the_cell_lines_and_dispatch_goes_on(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """A handler that raises shows a traceback of the cell's lines; later listeners still run."""
    run(ip, "%%ws on echo message\nx = 1\n1 / 0", cell_id="bad")
    run(ip, "%%ws on echo message\nseen.append('after')", cell_id="good")
    capsys.readouterr()
    _roundtrip(echo, "x")
    captured = capsys.readouterr()
    report = captured.out + captured.err
    assert "ZeroDivisionError" in report
    assert "----> 3 1 / 0" in report
    assert "ipyws/_magics" not in report
    assert ip.user_ns["seen"] == ["after"]


def test_body_can_use_magics(ip: InteractiveShell, echo: WebSocket) -> None:
    """IPython syntax works in the body: a %ws send answers a ping, interpolating the event."""
    run(
        ip,
        "%%ws on echo message\n"
        "if event.data.startswith('ping'):\n"
        "    %ws send echo pong {event.data[4:]}",
    )
    echo.send("ping 7")
    messages = [echo.wait_message(TIMEOUT).data for _ in range(2)]
    assert messages == ["ping 7", "pong  7"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "%ws on echo message",
            "%ws on needs the handler as a cell body: start the cell with %%ws on NAME EVENT "
            "and put the code below it",
        ),
        (
            "%%ws on echo msg\npass",
            "%%ws on: unknown event 'msg'; use open, message, error or close",
        ),
        (
            "%%ws on echo\npass",
            "%%ws on: the following arguments are required: EVENT; see %%ws on --help",
        ),
        (
            "%%ws on 9lives message\npass",
            "%%ws on: NAME must be a Python variable name such as feed or ws2, not '9lives'",
        ),
        (
            "%%ws on echo message\nok = 1\nprint(event.data\n",
            "%%ws on: SyntaxError in the handler body at line 3: '(' was never closed",
        ),
        (
            "%%ws on echo message\nawait something()",
            "%%ws on: SyntaxError in the handler body at line 2: 'await' outside function",
        ),
        (
            "%%ws\npass",
            "%%ws needs a subcommand: %%ws send NAME or %%ws on NAME EVENT; see %ws --help",
        ),
        (
            "%ws off nosuch",
            "%ws off: no WebSocket named 'nosuch'; known: echo; "
            "open one with %ws connect URL --as nosuch",
        ),
        (
            "%ws off echo msg",
            "%ws off: unknown event 'msg'; use open, message, error or close",
        ),
    ],
)
def test_on_and_off_errors_are_one_line_usage_errors(
    ip: InteractiveShell, echo: WebSocket, source: str, expected: str
) -> None:
    """A bad %%ws on or %ws off is a one-line UsageError and registers nothing."""
    assert usage_error(ip, source) == expected
    _roundtrip(echo, "x")
    assert ip.user_ns["seen"] == []


def test_on_with_an_empty_body_is_a_usage_error(ip: InteractiveShell, echo: WebSocket) -> None:
    """IPython itself refuses a %%ws on cell with no body, in one line."""
    assert usage_error(ip, "%%ws on echo message\n").startswith(
        "%%ws is a cell magic, but the cell body is empty."
    )
