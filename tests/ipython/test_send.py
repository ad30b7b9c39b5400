"""``%ws send`` and ``%%ws send``: text, interpolation, JSON, bytes, and every error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from ipyws import Blob, WebSocket
from tests.ipython.shell import TIMEOUT, run, socket_named, usage_error


@pytest.fixture
def echo(ip: InteractiveShell, echo_url: str) -> Iterator[WebSocket]:
    """An OPEN socket named `echo` on the echo server, receiving binary data as bytes."""
    run(ip, f"%ws connect {echo_url} --as echo --no-display --binary-type arraybuffer")
    yield socket_named(ip, "echo").wait_open(TIMEOUT)


def _echoed(ws: WebSocket) -> object:
    return ws.wait_message(TIMEOUT).data


def test_send_sends_the_rest_of_the_line_as_text(ip: InteractiveShell, echo: WebSocket) -> None:
    """DATA is sent exactly as typed, quotes and inner spaces included."""
    run(ip, "%ws send echo   hello  'world'  \"!\"")
    assert _echoed(echo) == "hello  'world'  \"!\""


def test_send_interpolates_expressions(ip: InteractiveShell, echo: WebSocket) -> None:
    """{expression} is replaced by its value from the namespace; {{ }} give literal braces."""
    ip.user_ns.update(user="ada", n=41)
    run(ip, "%ws send echo hi {user}: {n + 1} {{literal}}")
    assert _echoed(echo) == "hi ada: 42 {literal}"


def test_send_leaves_json_and_dollars_alone(ip: InteractiveShell, echo: WebSocket) -> None:
    """JSON (not a valid expression) goes through unchanged, and $name is not expanded."""
    ip.user_ns["HOME"] = "nope"
    run(ip, '%ws send echo {"op": "subscribe", "symbol": "ACME"}')
    assert _echoed(echo) == '{"op": "subscribe", "symbol": "ACME"}'
    run(ip, "%ws send echo costs $5 from $HOME")
    assert _echoed(echo) == "costs $5 from $HOME"


def test_send_warns_in_one_line_when_an_expression_fails(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """{undefined_name} is sent as typed, with one stderr line naming the expression."""
    run(ip, "%ws send echo hello {usr}")
    assert _echoed(echo) == "hello {usr}"
    warning = capsys.readouterr().err.strip()
    assert warning.count("\n") == 0 and warning.startswith("%ws send: {usr} was not expanded")
    assert "NameError" in warning


def test_send_does_not_warn_about_json(
    ip: InteractiveShell, echo: WebSocket, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON object, whose braces hold no expression, is sent without a warning."""
    run(ip, '%ws send echo {"op": "subscribe", "symbol": "ACME"}')
    assert _echoed(echo) == '{"op": "subscribe", "symbol": "ACME"}'
    run(ip, "%ws send echo --raw {usr}")
    assert _echoed(echo) == "{usr}"
    assert capsys.readouterr().err == ""


def test_send_raw_turns_interpolation_off(ip: InteractiveShell, echo: WebSocket) -> None:
    """--raw sends {expression} literally."""
    ip.user_ns["user"] = "ada"
    run(ip, "%ws send echo --raw {user}")
    assert _echoed(echo) == "{user}"


def test_send_inside_a_function_sees_its_locals(ip: InteractiveShell, echo: WebSocket) -> None:
    """A %ws send line inside a def interpolates the function's local variables."""
    run(ip, "def reply(x):\n    %ws send echo got {x}\nreply(5)")
    assert _echoed(echo) == "got 5"


def test_send_json_sends_a_python_value_as_json_text(ip: InteractiveShell, echo: WebSocket) -> None:
    """--json EXPR evaluates EXPR in the namespace and sends json.dumps of it, as text."""
    ip.user_ns["symbols"] = ["ACME", "GLOBEX"]
    run(ip, '%ws send echo --json {"op": "subscribe", "symbols": symbols, "ok": True, "n": None}')
    assert (
        _echoed(echo) == '{"op": "subscribe", "symbols": ["ACME", "GLOBEX"], "ok": true, "n": null}'
    )


def test_flags_may_come_before_the_name(ip: InteractiveShell, echo: WebSocket) -> None:
    """`%ws send --json NAME EXPR` works like `%ws send NAME --json EXPR`."""
    run(ip, "%ws send --json echo [1, 'é']")
    assert _echoed(echo) == '[1, "é"]'


def test_send_hex_and_base64_send_binary(ip: InteractiveShell, echo: WebSocket) -> None:
    """--hex and --base64 decode DATA and send the bytes as a binary message."""
    run(ip, "%ws send echo --hex 48 65 6c 6C 6f")
    assert _echoed(echo) == b"Hello"
    run(ip, "%ws send echo --base64 AAEC/w==")
    assert _echoed(echo) == b"\x00\x01\x02\xff"
    ip.user_ns["payload"] = b"\xca\xfe"
    run(ip, "%ws send echo --hex {payload.hex()}")
    assert _echoed(echo) == b"\xca\xfe"


def test_binary_arrives_as_blob_by_default(ip: InteractiveShell, echo_url: str) -> None:
    """Without --binary-type, an echoed --hex message arrives as a Blob."""
    run(ip, f"%ws connect {echo_url} --as blobby --no-display")
    blobby = socket_named(ip, "blobby").wait_open(TIMEOUT)
    run(ip, "%ws send blobby --hex 00ff")
    data = _echoed(blobby)
    assert isinstance(data, Blob) and bytes(data) == b"\x00\xff"


def test_double_dash_sends_text_that_looks_like_an_option(
    ip: InteractiveShell, echo: WebSocket
) -> None:
    """`%ws send NAME -- --json x` sends "--json x" as text."""
    run(ip, "%ws send echo -- --json x")
    assert _echoed(echo) == "--json x"
    run(ip, "%ws send echo -- -- twice")
    assert _echoed(echo) == "-- twice"


def test_cell_send_sends_the_body(ip: InteractiveShell, echo: WebSocket) -> None:
    """%%ws send NAME sends the cell body, interpolated, without its trailing newlines."""
    ip.user_ns["who"] = "ada"
    run(ip, '%%ws send echo\n{"user": "{who}",\n "n": 1}\n\n')
    assert _echoed(echo) == '{"user": "{who}",\n "n": 1}'  # JSON: left as is
    run(ip, "%%ws send echo\nline one {who}\nline two\n")
    assert _echoed(echo) == "line one ada\nline two"


def test_cell_send_json_evaluates_the_body(ip: InteractiveShell, echo: WebSocket) -> None:
    """%%ws send NAME --json evaluates the (multi-line) body and sends it as JSON."""
    ip.user_ns["price"] = 1.5
    run(ip, '%%ws send echo --json\n{\n    "op": "quote",\n    "price": price * 2,\n}\n')
    assert _echoed(echo) == '{"op": "quote", "price": 3.0}'


def test_cell_send_hex_ignores_whitespace(ip: InteractiveShell, echo: WebSocket) -> None:
    """%%ws send NAME --hex accepts hex spread over lines."""
    run(ip, "%%ws send echo --hex\n0001\n0203\n")
    assert _echoed(echo) == b"\x00\x01\x02\x03"


def test_send_waits_for_a_connecting_socket_to_open(ip: InteractiveShell, echo_url: str) -> None:
    """Connect and send in one cell: send waits for the open, then sends."""
    run(ip, f"%ws connect {echo_url} --as fresh --no-display\n%ws send fresh first!")
    assert _echoed(socket_named(ip, "fresh")) == "first!"


def test_send_help_prints_usage(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    """%ws send --help and %%ws send NAME --help print the usage with examples."""
    run(ip, "%ws send --help")
    out = capsys.readouterr().out
    assert out.startswith("usage: %ws send") and "--json" in out and "examples:" in out
    run(ip, "%%ws send feed --help\nbody")
    assert capsys.readouterr().out.startswith("usage: %%ws send")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "%ws send nothere hi",
            "%ws send: no WebSocket named 'nothere'; known: echo; "
            "open one with %ws connect URL --as nothere",
        ),
        (
            "%ws send ecko hi",
            "%ws send: no WebSocket named 'ecko'; did you mean 'echo'? "
            "open one with %ws connect URL --as ecko",
        ),
        (
            "number = 3\n%ws send number hi",
            "%ws send: 'number' is of type int, not a WebSocket; "
            "bind one with %ws connect URL --as number",
        ),
        (
            "%ws send echo",
            "%ws send: nothing to send; give DATA after echo "
            "(or use %%ws send echo with the message as the cell body)",
        ),
        ("%ws send", "%ws send: give the socket's NAME: %ws send NAME DATA; see %ws send --help"),
        (
            "%ws send echo --jsno {}",
            "%ws send: unknown option --jsno (use --json, --hex, --base64 or --raw); "
            "to send text that starts with --, put -- before it: %ws send echo -- --jsno",
        ),
        (
            "%ws send --bogus echo x",
            "%ws send: unknown option --bogus (use --json, --hex, --base64 or --raw); "
            "see %ws send --help",
        ),
        ("%ws send echo --hex --base64 00", "%ws send: use only one of --json, --hex and --base64"),
        (
            "%ws send echo --raw --json 1",
            "%ws send: --raw applies to text, hex and base64, not to --json",
        ),
        (
            "%ws send echo --hex zz",
            "%ws send --hex: 'zz' is not hex; "
            "write bytes as pairs of hex digits, e.g. 48 65 6c 6c 6f",
        ),
        (
            "%ws send echo --base64 @@@",
            "%ws send --base64: '@@@' is not valid base64, e.g. SGVsbG8=",
        ),
        (
            "%ws send echo --json undefined_name",
            "%ws send --json: the expression failed: "
            "NameError: name 'undefined_name' is not defined",
        ),
        (
            "%ws send echo --json {1, 2}",
            "%ws send --json: cannot send that value as JSON: "
            "Object of type set is not JSON serializable",
        ),
        (
            "%%ws send echo extra\nbody",
            "%%ws send: the message is the cell body; remove 'extra' from the first line",
        ),
    ],
)
def test_send_errors_are_one_line_usage_errors(
    ip: InteractiveShell, echo: WebSocket, source: str, expected: str
) -> None:
    """Each bad %ws send gives a one-line UsageError that says what to fix, and sends nothing."""
    assert usage_error(ip, source) == expected
    assert echo.transcript.messages_out == 0


def test_send_on_a_closed_socket_is_an_error(ip: InteractiveShell, echo: WebSocket) -> None:
    """Sending on a CLOSED socket names its state and close code and says to reconnect."""
    echo.close(1000)
    echo.wait_closed(TIMEOUT)
    assert usage_error(ip, "%ws send echo hi") == (
        "%ws send: echo is CLOSED 1000, not OPEN; nothing was sent: "
        "reconnect with %ws connect URL --as echo (see %ws log echo)"
    )


def test_send_on_a_closing_socket_is_an_error(ip: InteractiveShell, echo: WebSocket) -> None:
    """Sending right after close() (CLOSING) is refused rather than silently dropped."""
    echo.close()
    assert usage_error(ip, "%ws send echo hi").startswith("%ws send: echo is CLOS")


def test_send_gives_up_on_a_socket_that_does_not_open(
    ip: InteractiveShell, silent_url: str
) -> None:
    """A socket stuck in CONNECTING fails after WSMagics.send_wait seconds, or at once with 0."""
    run(ip, f"%ws connect {silent_url} --as stuck --no-display")
    run(ip, "%config WSMagics.send_wait = 0.2")
    assert usage_error(ip, "%ws send stuck hi") == (
        "%ws send: stuck did not open within 0.2 s; nothing was sent "
        "(check the URL, or %ws log stuck)"
    )
    run(ip, "%config WSMagics.send_wait = 0")
    assert usage_error(ip, "%ws send stuck hi") == (
        "%ws send: stuck is CONNECTING, not OPEN; nothing was sent: "
        "wait for it to open (e.g. stuck.wait_open()) and send again"
    )


def test_send_to_a_socket_that_fails_to_open_reports_its_close(
    ip: InteractiveShell, silent_url: str
) -> None:
    """A socket that fails while send waits for it reports CLOSED 1006."""
    run(ip, f"%ws connect {silent_url} --as doomed --no-display --open-timeout 0.2")
    assert usage_error(ip, "%ws send doomed hi").startswith(
        "%ws send: doomed is CLOSED 1006, not OPEN; nothing was sent"
    )
