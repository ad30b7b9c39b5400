"""``%ws close``, ``%ws list`` and ``%ws log``."""

from __future__ import annotations

import re

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyws import WebSocket
from ipyws._format import format_record
from ipyws._magics.inspection import SocketTable
from tests.ipython.shell import TIMEOUT, run, socket_named, usage_error

TIME = r"\d\d:\d\d:\d\d\.\d\d\d"


@pytest.fixture
def echo(ip: InteractiveShell, echo_url: str) -> WebSocket:
    """An OPEN socket named `echo` on the echo server."""
    run(ip, f"%ws connect {echo_url} --as echo --no-display")
    ws: WebSocket = socket_named(ip, "echo")
    return ws.wait_open(TIMEOUT)


# -- close ----------------------------------------------------------------------------------


def test_close_without_code_sends_an_empty_close(ip: InteractiveShell, echo: WebSocket) -> None:
    """%ws close NAME closes with no code: the echoed empty Close reports 1005."""
    run(ip, "%ws close echo")
    event = echo.wait_closed(TIMEOUT)
    assert (event.code, event.reason, event.wasClean) == (1005, "", True)
    assert socket_named(ip, "echo") is echo  # still bound, for its transcript


def test_close_confirms_in_one_line(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws close NAME prints one line saying what it sent; a second says nothing is left to do."""
    capsys.readouterr()
    run(ip, "%ws close echo 4000 done for today")
    assert capsys.readouterr().out == (
        "Closing echo (code 4000, reason 'done for today'); "
        "the close event follows when the server answers.\n"
    )
    echo.wait_closed(TIMEOUT)
    run(ip, "%ws close echo")
    assert capsys.readouterr().out == "echo is already CLOSED: nothing to do.\n"


def test_close_with_code_and_reason(ip: InteractiveShell, echo: WebSocket) -> None:
    """%ws close NAME CODE REASON... sends the code and the rest of the line as the reason."""
    run(ip, "%ws close echo 4000 done for today")
    event = echo.wait_closed(TIMEOUT)
    assert (event.code, event.reason) == (4000, "done for today")


def test_close_reason_can_be_quoted_and_interpolated(ip: InteractiveShell, echo: WebSocket) -> None:
    """A quoted REASON keeps its spaces; {expression} works in it."""
    ip.user_ns["why"] = "bye  now"
    run(ip, '%ws close echo 1000 "{why}"')
    assert echo.wait_closed(TIMEOUT).reason == "bye  now"


def test_closing_twice_is_harmless(ip: InteractiveShell, echo: WebSocket) -> None:
    """A second %ws close on a closing or closed socket does nothing, as in the browser."""
    run(ip, "%ws close echo 1000")
    run(ip, "%ws close echo 4001")
    echo.wait_closed(TIMEOUT)
    run(ip, "%ws close echo")
    assert echo.wait_closed(TIMEOUT).code == 1000


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%ws close echo abc", "%ws close: CODE must be a number, 1000 or 3000-4999, not 'abc'"),
        (
            "%ws close echo 1001",
            "%ws close: InvalidAccessError: The close code must be 1000 or in 3000-4999; 1001 is "
            "reserved for the protocol (use 1000 for a normal close, 4000-4999 for your "
            "application).",
        ),
        (
            "%ws close echo 1000 " + "x" * 124,
            "%ws close: SyntaxError: The close reason is 124 bytes long in UTF-8; "
            "the limit is 123 bytes.",
        ),
        (
            "%ws close nosuch",
            "%ws close: no WebSocket named 'nosuch'; known: echo; "
            "open one with %ws connect URL --as nosuch",
        ),
        (
            "%ws close",
            "%ws close: the following arguments are required: NAME; see %ws close --help",
        ),
    ],
)
def test_close_errors_are_one_line_usage_errors(
    ip: InteractiveShell, echo: WebSocket, line: str, expected: str
) -> None:
    """A bad code, a long reason or an unknown NAME is a one-line UsageError; echo stays OPEN."""
    assert usage_error(ip, line) == expected
    assert echo.readyState == echo.OPEN


# -- list -----------------------------------------------------------------------------------


def test_list_with_no_sockets_says_how_to_start(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws list with no sockets suggests %ws connect and %ws demo."""
    run(ip, "%ws list")
    assert capsys.readouterr().out == (
        "No WebSockets yet: open one with %ws connect URL --as NAME, "
        "or try %ws demo echo (no network needed).\n"
    )


def test_list_shows_name_url_state_protocol_counts_bytes_and_age(
    ip: InteractiveShell, echo: WebSocket, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws list prints a table row per socket with its counters."""
    run(ip, "%ws send echo hello")
    echo.wait_message(TIMEOUT)
    run(ip, f"%ws connect {echo_url} --as other --no-display")
    socket_named(ip, "other").wait_open(TIMEOUT)
    run(ip, "%ws close other 1000")
    socket_named(ip, "other").wait_closed(TIMEOUT)
    capsys.readouterr()
    run(ip, "%ws list")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == " ".join(SocketTable.columns).split()
    assert SocketTable.columns[2:4] == ("state", "reconnects")
    assert set(lines[1]) == {"-", " "}
    assert re.fullmatch(
        rf"echo\s+{re.escape(echo_url)}\s+OPEN\s+-\s+-\s+1\s+1\s+5 B\s+5 B\s+0\s+\d+(\.\d)? s",
        lines[2],
    ), lines[2]
    assert re.fullmatch(
        rf"other\s+{re.escape(echo_url)}\s+CLOSED 1000\s+-\s+-\s+0\s+0\s+0 B\s+0 B\s+0\s+"
        rf"\d+(\.\d)? s",
        lines[3],
    ), lines[3]


def test_list_includes_sockets_made_in_python_and_unnamed_ones(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sockets bound by Python code show their names; open sockets nobody names show '-'."""
    run(
        ip,
        f"from ipyws import WebSocket\nmine = WebSocket({echo_url!r})\n"
        f"_hidden = [WebSocket({echo_url!r})]",
    )
    capsys.readouterr()
    run(ip, "%ws list")
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split()[0] for row in rows] == ["mine", "-"]


def test_list_names_every_variable_bound_to_a_socket(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """A socket bound to two names lists both."""
    run(ip, "alias = echo")
    capsys.readouterr()
    run(ip, "%ws list")
    assert capsys.readouterr().out.splitlines()[2].startswith("echo, alias  ")


def test_list_mentions_demo_servers(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws list ends with the demo servers the magics started."""
    run(ip, "%ws demo echo --as played --no-display")
    url = socket_named(ip, "played").url
    capsys.readouterr()
    run(ip, "%ws list")
    assert capsys.readouterr().out.splitlines()[-1] == f"demo server echo for played: {url}"


def test_list_table_html_is_escaped() -> None:
    """The HTML table escapes every cell, so nothing a server chose can inject markup."""
    table = SocketTable([("x", "ws://h/", "OPEN", "<script>", "0", "0", "0 B", "0 B", "1s")])
    rendered = table._repr_html_()
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered
    assert "<th>bytes in</th>" in rendered


def test_list_takes_no_arguments(ip: InteractiveShell) -> None:
    """%ws list with an argument is a one-line UsageError."""
    assert usage_error(ip, "%ws list all") == (
        "%ws list: unrecognized arguments: all; see %ws list --help"
    )


# -- log ------------------------------------------------------------------------------------


def _log(ip: InteractiveShell, capsys: pytest.CaptureFixture[str], line: str) -> list[str]:
    capsys.readouterr()
    run(ip, line)
    return capsys.readouterr().out.splitlines()


def test_log_shows_time_direction_type_size_and_preview(
    ip: InteractiveShell, echo: WebSocket, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws log NAME prints a header, then open, sent (↑) and received (↓) records with ms times."""
    run(ip, "%ws send echo hello")
    echo.wait_message(TIMEOUT)
    run(ip, "%ws send echo --hex 00 01 ff")
    echo.wait_message(TIMEOUT)
    lines = _log(ip, capsys, "%ws log echo")
    assert lines[0] == f"echo  {echo_url}  OPEN  (last 5 of 5 records)"
    assert re.fullmatch(
        rf"{TIME}  · open\s+Connection opened · protocol: none · extensions: permessage-deflate.*",
        lines[1],
    )
    assert re.fullmatch(rf"{TIME}  ↑ text\s+5 B  hello", lines[2])
    assert re.fullmatch(rf"{TIME}  ↓ text\s+5 B  hello", lines[3])
    assert re.fullmatch(rf"{TIME}  ↑ binary\s+3 B  00 01 ff", lines[4])
    assert re.fullmatch(rf"{TIME}  ↓ binary\s+3 B  00 01 ff", lines[5])


def test_log_n_and_all_choose_how_many_records(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """-n N shows the newest N, --all every kept record, WSMagics.log_lines the default."""
    for i in range(4):
        run(ip, f"%ws send echo m{i}")
        echo.wait_message(TIMEOUT)
    lines = _log(ip, capsys, "%ws log echo -n 2")
    assert len(lines) == 3
    assert re.fullmatch(rf"{TIME}  ↑ text\s+2 B  m3", lines[1])
    assert re.fullmatch(rf"{TIME}  ↓ text\s+2 B  m3", lines[2])
    assert len(_log(ip, capsys, "%ws log echo --all")) == 1 + 9
    run(ip, "%config WSMagics.log_lines = 3")
    lines = _log(ip, capsys, "%ws log echo")
    assert lines[0].endswith("(last 3 of 9 records)") and len(lines) == 4


def test_log_escapes_control_characters_and_shortens_long_messages(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """Terminal escapes and newlines from a server are shown escaped; long text is cut with …."""
    echo.send("a\x1b[31mred\nb\tc")
    echo.wait_message(TIMEOUT)
    echo.send("x" * 500)
    echo.wait_message(TIMEOUT)
    lines = _log(ip, capsys, "%ws log echo -n 3")
    assert lines[1].endswith("  a\\x1b[31mred\\nb\\tc")
    assert "\x1b" not in "".join(lines)
    assert lines[3].endswith("x" * 99 + "…")


def test_list_and_log_mask_url_credentials(
    ip: InteractiveShell, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws list and %ws log show a password in the URL as ***; the socket keeps it."""
    url = echo_url.replace("ws://", "ws://user:hunter22@")
    run(ip, f"%ws connect {url} --as cred --no-display")
    cred = socket_named(ip, "cred").wait_open(TIMEOUT)
    assert cred.url == url
    capsys.readouterr()
    run(ip, "%ws list")
    run(ip, "%ws log cred")
    out = capsys.readouterr().out
    assert "hunter22" not in out
    assert out.count(echo_url.replace("ws://", "ws://user:***@")) == 2


def test_log_escapes_bidi_overrides(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """A right-to-left override or isolate from a server shows as an escape, not reordered text."""
    echo.send("abc\u202edef\u2067x")
    echo.wait_message(TIMEOUT)
    lines = _log(ip, capsys, "%ws log echo -n 1")
    assert lines[1].endswith("  abc\\u202edef\\u2067x")


def test_log_shows_the_close_record(
    ip: InteractiveShell, echo: WebSocket, echo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """After %ws close, the log ends with the close code, reason and cleanliness."""
    run(ip, "%ws close echo 4000 all done")
    echo.wait_closed(TIMEOUT)
    lines = _log(ip, capsys, "%ws log echo -n 1")
    assert lines[0] == f"echo  {echo_url}  CLOSED 4000  (last 1 of 2 records)"
    said = 'Connection closed · 4000 Application-defined · reason "all done" · wasClean: true'
    assert re.fullmatch(rf"{TIME}  · close\s+{re.escape(said)}", lines[1])


def test_log_of_a_socket_with_no_traffic_yet(
    ip: InteractiveShell, silent_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A socket still connecting has no records, and %ws log says so."""
    run(ip, f"%ws connect {silent_url} --as waiting --no-display")
    assert _log(ip, capsys, "%ws log waiting") == [
        f"waiting  {silent_url}  CONNECTING  (no records yet)"
    ]


def test_format_record_shows_errors_and_unclean_closes() -> None:
    """error records show their message; an unclean close says so."""
    error = format_record({"seq": 0, "type": "error", "time": 0.0, "message": "refused\r\n"})
    close = format_record(
        {"seq": 1, "type": "close", "time": 0.0, "code": 1006, "reason": "", "wasClean": False}
    )
    assert error.endswith("· error             Error · refused\\r\\n")
    assert close.endswith("Connection closed · 1006 Abnormal Closure · wasClean: false")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("%ws log", "%ws log: the following arguments are required: NAME; see %ws log --help"),
        (
            "%ws log echo -n 0",
            "%ws log: argument -n: expected a whole number >= 1, not '0'; see %ws log --help",
        ),
        (
            "%ws log echo -n 2 --all",
            "%ws log: argument --all: not allowed with argument -n; see %ws log --help",
        ),
        (
            "%ws log ech",
            "%ws log: no WebSocket named 'ech'; did you mean 'echo'? "
            "open one with %ws connect URL --as ech",
        ),
    ],
)
def test_log_errors_are_one_line_usage_errors(
    ip: InteractiveShell, echo: WebSocket, line: str, expected: str
) -> None:
    """A missing or unknown NAME or a bad -n is a one-line UsageError."""
    assert usage_error(ip, line) == expected
