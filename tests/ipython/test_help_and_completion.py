"""``%ws?``, ``%ws --help``, unknown subcommands, ``%config WSMagics`` and tab completion."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from ipyws import WebSocket
from ipyws._format import format_size
from ipyws._magics import SUBCOMMANDS
from ipyws._magics.connection import connect_parser
from ipyws._magics.options import (
    NOT_EXPRESSIBLE,
    add_connection_options,
    chosen_options,
    constructor_options,
)
from ipyws._magics.parsing import Parser
from ipyws._transport import Options
from tests.ipython.shell import TIMEOUT, find_magic, run, socket_named, usage_error


def _complete(ip: InteractiveShell, line: str) -> list[str]:
    """Complete at the end of ``line`` through IPython's completer (as frontends do)."""
    with provisionalcompleter():
        return sorted({c.text for c in ip.Completer.completions(line, len(line))})


# -- help ---------------------------------------------------------------------------------


def test_ws_question_mark_gives_complete_usage_with_examples(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws? shows every subcommand's usage, the examples and the %config settings."""
    run(ip, "%ws?")
    doc = capsys.readouterr().out
    for subcommand in SUBCOMMANDS:
        assert f"usage: %{'%' if subcommand == 'on' else ''}ws {subcommand}" in doc
    assert "usage: %%ws send" in doc
    assert "Examples:" in doc and "%ws demo ticker --as feed" in doc
    for trait in ("display_on_connect", "default_name", "log_size", "log_lines", "send_wait"):
        assert f"WSMagics.{trait} = " in doc


def test_help_flag_prints_the_same_complete_usage(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws --help (and -h) print the docstring %ws? shows."""
    magic = find_magic(ip, "line", "ws")
    assert magic is not None and magic.__doc__
    doc = magic.__doc__
    run(ip, "%ws --help")
    assert capsys.readouterr().out == doc + "\n"
    run(ip, "%ws -h")
    assert capsys.readouterr().out == doc + "\n"


@pytest.mark.parametrize("subcommand", SUBCOMMANDS)
def test_each_subcommand_has_help(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str], subcommand: str
) -> None:
    """%ws SUBCOMMAND --help prints that subcommand's usage and examples."""
    source = f"%%ws {subcommand} --help\nbody" if subcommand == "on" else f"%ws {subcommand} --help"
    run(ip, source)
    out = capsys.readouterr().out
    assert out.startswith("usage: %")
    assert f"ws {subcommand}" in out.splitlines()[0]
    assert "example" in out


def test_bare_ws_prints_an_overview(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%ws alone lists the subcommands with one line each and points to the full help."""
    run(ip, "%ws")
    out = capsys.readouterr().out
    assert out.startswith("%ws: WebSockets from notebook cells (ipyws). Subcommands:")
    for subcommand in SUBCOMMANDS:
        assert f"\n  {subcommand} " in out
    assert "%ws? (or %ws --help) shows everything." in out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "%ws conect ws://x/",
            "%ws: unknown subcommand 'conect'; did you mean 'connect'? use one of connect, send, "
            "close, list, log, demo, on, off (see %ws --help)",
        ),
        (
            "%ws frobnicate",
            "%ws: unknown subcommand 'frobnicate'; use one of connect, send, close, list, log, "
            "demo, on, off (see %ws --help)",
        ),
        (
            "%%ws list\nbody",
            "%%ws list takes no cell body: use %ws list (one %); "
            "only %%ws send and %%ws on are cell magics",
        ),
    ],
)
def test_unknown_subcommands_are_one_line_usage_errors(
    ip: InteractiveShell, line: str, expected: str
) -> None:
    """An unknown subcommand says which ones exist, with a suggestion for a typo."""
    assert usage_error(ip, line) == expected


# -- %config --------------------------------------------------------------------------------


def test_config_lists_and_sets_the_defaults(
    ip: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    """%config WSMagics shows the settings with help; assignments change the magic's defaults."""
    run(ip, "%config WSMagics")
    out = capsys.readouterr().out
    for trait in ("display_on_connect", "default_name", "log_size", "log_lines", "send_wait"):
        assert f"WSMagics.{trait}" in out
    run(ip, "%config WSMagics.log_lines = 5")
    magics = ip.magics_manager.registry["WSMagics"]
    assert magics.log_lines == 5


def test_config_rejects_bad_values(ip: InteractiveShell, caplog: pytest.LogCaptureFixture) -> None:
    """A log size below 1 is refused by the trait's bounds (IPython logs it, value unchanged)."""
    run(ip, "%config WSMagics.log_size = 0")
    assert "log_size" in caplog.text
    assert ip.magics_manager.registry["WSMagics"].log_size == 1000


# -- completion -----------------------------------------------------------------------------


def test_completes_subcommands(ip: InteractiveShell) -> None:
    """%ws <TAB> offers the subcommands; a prefix narrows them."""
    assert _complete(ip, "%ws ") == sorted(SUBCOMMANDS)
    assert _complete(ip, "%ws c") == ["close", "connect"]
    assert _complete(ip, "%%ws o") == ["off", "on"]


def test_completes_connection_names(ip: InteractiveShell, echo_url: str) -> None:
    """Subcommands that take NAME offer the sockets' names, from the magics and the namespace."""
    run(ip, f"%ws connect {echo_url} --as feed --no-display")
    run(ip, f"from ipyws import WebSocket\nfrom_python = WebSocket({echo_url!r})")
    for subcommand in ("send", "close", "log", "off"):
        assert _complete(ip, f"%ws {subcommand} ") == ["feed", "from_python"]
    assert _complete(ip, "%ws send f") == ["feed", "from_python"]
    assert _complete(ip, "%ws send fe") == ["feed"]
    assert _complete(ip, "%%ws on ") == ["feed", "from_python"]
    assert _complete(ip, f"%ws connect {echo_url} --as ") == ["feed", "from_python"]
    socket_named(ip, "from_python").wait_open(TIMEOUT).close()


def test_completes_events_demos_options_and_binary_types(ip: InteractiveShell) -> None:
    """Events after %%ws on NAME, demo names, a subcommand's options, a flag's choices."""
    assert _complete(ip, "%%ws on feed ") == ["close", "error", "message", "open"]
    assert _complete(ip, "%ws off feed m") == ["message"]
    assert _complete(ip, "%ws demo ") == ["binary", "chat", "echo", "ticker"]
    assert _complete(ip, "%ws demo t") == ["ticker"]
    assert _complete(ip, "%ws connect ws://h/ --pro") == ["--protocol", "--proxy", "--proxy-ssl"]
    assert _complete(ip, "%ws send feed --j") == ["--json"]
    assert _complete(ip, "%ws connect ws://h/ --binary-type ") == ["arraybuffer", "blob"]
    assert _complete(ip, "%ws connect ws://h/ --engine ") == ["picows", "websockets"]


def test_completion_leaves_other_lines_alone(ip: InteractiveShell) -> None:
    """Outside %ws lines the usual completions come back (Python names, other magics)."""
    ip.user_ns["websocket_thing"] = 1
    assert "websocket_thing" in _complete(ip, "websocket_th")
    assert "%%writefile" in _complete(ip, "%%writef")


def test_completion_is_gone_after_unload(ip: InteractiveShell) -> None:
    """After %unload_ext ipyws, %ws lines get no ipyws completions."""
    run(ip, "%unload_ext ipyws")
    assert "connect" not in _complete(ip, "%ws c")


def test_connect_help_takes_defaults_and_meanings_from_the_constructor() -> None:
    """%ws connect's tuning flags show WebSocket's signature defaults and docstring meanings."""
    signature = inspect.signature(WebSocket).parameters
    text = " ".join(connect_parser().format_help().split())
    for name in ("max_size", "ping_interval", "ping_timeout", "open_timeout", "close_timeout"):
        default = signature[name].default
        shown = format_size(default) if name == "max_size" else f"{default:g}"
        meaning = constructor_options()[name].description.partition(";")[0]
        flag = "--" + name.replace("_", "-")
        metavar = "BYTES" if name == "max_size" else "S"
        assert f"{flag} {metavar} {meaning}; 'none' " in text
        assert f"(default {shown})" in text.partition(f"{flag} {metavar} ")[2].partition("--")[0]


def test_the_constructor_describes_every_option_and_options_repeats_no_default() -> None:
    """Each keyword option has a docstring entry; Options declares no default of its own."""
    assert [name for name, option in constructor_options().items() if not option.description] == []
    defaults = [f.name for f in dataclasses.fields(Options) if f.default is not dataclasses.MISSING]
    assert defaults == []


def test_every_constructor_option_has_a_connect_flag_and_help() -> None:
    """Every WebSocket keyword option but the handlers is a %ws connect flag, in its help."""
    parser = connect_parser()
    flags = {
        action.dest: action.option_strings for action in parser._actions if action.option_strings
    }
    text = parser.format_help()
    for name in constructor_options():
        if name in NOT_EXPRESSIBLE:
            continue
        assert name in flags, f"WebSocket's option {name} has no %ws connect flag"
        assert all(flag in text for flag in flags[name])
    assert sorted(NOT_EXPRESSIBLE) == ["onclose", "onerror", "onmessage", "onopen", "onreconnect"]


def test_the_magics_page_names_every_connect_flag() -> None:
    """docs/magics.md shows every %ws connect flag in its usage block and its table."""
    page = (Path(__file__).parents[2] / "docs" / "magics.md").read_text(encoding="utf-8")
    section = page.partition("### `%ws connect URL`")[2].partition("### ")[0]
    usage, _, table = section.partition("| option |")
    for action in connect_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"[{flag}" in usage or f"| {flag}" in usage or f"{flag} " in usage, flag
                assert f"`{flag}" in table, flag


class _Extended(WebSocket):
    """A WebSocket with three more options, as a new release would add them.

    Args:
        colour: the colour to draw in; None for the theme's.
        settle_time: seconds to wait before drawing; None to draw at once.
        sparkle: draw sparkles (default False).
    """

    def __init__(  # the signature is what is read: nothing constructs one
        self,
        url: str,
        *,
        colour: str | None = None,
        settle_time: float | None = 1.5,
        sparkle: bool = False,
    ) -> None:
        raise AssertionError("not constructed")


def test_an_option_added_to_the_constructor_becomes_a_flag_by_itself() -> None:
    """A new keyword option gets its flag, value type, default and help from the signature alone."""
    parser = Parser("connect")
    add_connection_options(parser, _Extended)
    text = " ".join(parser.format_help().split())
    assert "--colour COLOUR the colour to draw in; 'none' for the theme's (default none)" in text
    assert (
        "--settle-time S seconds to wait before drawing; 'none' to draw at once (default 1.5)"
        in text
    )
    assert "--sparkle draw sparkles (off by default" in text
    args = parser.parse_args(["--colour", "teal", "--settle-time", "none", "--sparkle"])
    chosen = chosen_options(args, _Extended)
    assert chosen == {"colour": "teal", "settle_time": None, "sparkle": True}
    assert chosen_options(parser.parse_args([]), _Extended) == {}
    with pytest.raises(UsageError, match="argument --settle-time: expected seconds"):
        parser.parse_args(["--settle-time", "soon"])
