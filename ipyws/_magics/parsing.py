"""What every ``%ws`` subcommand is made of: its parser, its summary and the code it runs.

``Parser`` is argparse with IPython's manners (errors are one-line
``UsageError``s, ``--help`` returns to the cell); the value types
below turn option text into checked values; ``Subcommand`` ties a parser to its command.
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.utils.text import FullEvalFormatter

if TYPE_CHECKING:
    from .magics import WSMagics

__all__ = [
    "EVENTS",
    "Call",
    "HelpShown",
    "Parser",
    "Subcommand",
    "add_show_options",
    "count",
    "interpolate",
    "limit",
    "port",
    "rate",
    "seconds",
    "size",
]

#: The events a ``%%ws on`` cell can handle.
EVENTS = ("open", "message", "error", "close")


class HelpShown(Exception):  # noqa: N818 - a signal, not an error
    """Raised instead of exiting after argparse printed ``--help``."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text at a fixed width, so ``%ws?`` reads the same everywhere."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=92)


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line UsageErrors and whose help returns."""

    def __init__(self, subcommand: str, *, cell: bool = False, **kwargs: Any) -> None:
        prog = f"%{'%' if cell else ''}ws {subcommand}"
        description = kwargs.pop("description", None)
        super().__init__(
            prog=prog,
            # Raw formatting keeps the examples' lines; the prose is wrapped here instead.
            description=textwrap.fill(description, 88) if description else None,
            epilog=kwargs.pop("epilog", None),
            formatter_class=_Formatter,
            allow_abbrev=False,
            **kwargs,
        )

    def error(self, message: str) -> NoReturn:
        """Raise a one-line UsageError naming the subcommand and where its help is."""
        message = " ".join(message.split())
        raise UsageError(f"{self.prog}: {message}; see {self.prog} --help")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """Return to the magic instead of ending the process (argparse calls this after help)."""
        raise HelpShown

    def choices_of(self, flag: str) -> list[str]:
        """Return the values ``flag`` accepts when they are a fixed set, sorted (else none)."""
        for action in self._actions:
            if flag in action.option_strings and action.choices is not None:
                return sorted(str(choice) for choice in action.choices)
        return []

    def long_options(self) -> list[str]:
        """Return the subcommand's ``--`` options, sorted, for completion."""
        return sorted(
            option
            for action in self._actions
            for option in action.option_strings
            if option.startswith("--")
        )


@dataclasses.dataclass
class Call:
    """One run of a subcommand: the magic's line and cell, and what was parsed from them."""

    line: str
    #: The line after the subcommand's name, as typed.
    rest: str
    cell: str | None
    #: The user namespace the line is interpolated in (with the caller's locals).
    namespace: dict[str, Any]
    #: The parsed arguments (empty for a subcommand that parses its own line).
    args: argparse.Namespace = dataclasses.field(default_factory=argparse.Namespace)


@dataclasses.dataclass(frozen=True)
class Subcommand:
    """A ``%ws`` subcommand: its name, its one-line summary, its parser and its command."""

    name: str
    summary: str
    parser: Callable[[], Parser]
    run: Callable[[WSMagics, Call], None]
    #: True when the subcommand takes a cell body (``%%ws NAME``).
    cell: bool = False
    #: The parser of the ``%%ws`` form, for subcommands that take a cell body.
    cell_parser: Callable[[], Parser] | None = None
    #: True when the command reads ``Call.rest`` itself (the parser only gives its help).
    raw: bool = False


# -- value types ---------------------------------------------------------------------------


def seconds(text: str) -> float | None:
    """Read seconds (a number >= 0), or None for 'none' and 'off'."""
    if text.lower() in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(
            f"expected seconds (a number >= 0) or 'none', not {text!r}"
        )
    return value


def size(text: str) -> int | None:
    """Read a number of bytes (>= 1), or None for 'none' and 'off'."""
    if text.lower() in ("none", "off"):
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of bytes or 'none', not {text!r}")
    return int(text)


def limit(text: str) -> int | None:
    """Read a whole number >= 1, or None for 'none' and 'off'."""
    return None if text.lower() in ("none", "off") else count(text)


def count(text: str) -> int:
    """Read a whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return int(text)


def rate(text: str) -> float:
    """Read messages per second (a number > 0)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"expected messages per second (a number > 0), not {text!r}"
        )
    return value


def port(text: str) -> int:
    """Read a TCP port (0-65535)."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port (0-65535), not {text!r}")
    return int(text)


def add_show_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of every subcommand that opens a socket: how it receives and shows."""
    parser.add_argument(
        "--binary-type",
        choices=("blob", "arraybuffer"),
        help="how binary messages arrive: Blob (default) or bytes",
    )
    parser.add_argument(
        "--no-display",
        action="store_true",
        help="do not show the socket (default: WSMagics.display_on_connect)",
    )


def interpolate(
    text: str,
    namespace: dict[str, Any],
    not_expanded: Callable[[str, BaseException], None] | None = None,
) -> str:
    """Replace each ``{expression}`` by its value, as IPython does for ``!`` commands.

    As in IPython, the text is left unchanged when any expression fails, which is what lets
    JSON such as ``{"op": "subscribe"}`` through untouched. ``$name`` is not expanded:
    dollars are common in messages. When what failed is a Python expression that raised
    (``{usr}``, a misspelt name), not text that is no expression at all (the inside of a JSON
    object), ``not_expanded`` is called with the expression and its exception, so a typo can
    be reported instead of sent unnoticed.
    """
    if "{" not in text and "}" not in text:
        return text
    try:
        return FullEvalFormatter().vformat(text, args=[], kwargs=namespace)
    except Exception:  # the IPython rule: a failed expansion leaves the text as is
        if not_expanded is not None:
            failed = _failed_expression(text, namespace)
            if failed is not None:
                not_expanded(*failed)
        return text


def _failed_expression(text: str, namespace: dict[str, Any]) -> tuple[str, BaseException] | None:
    """Return the first ``{expression}`` of ``text`` that is Python but raises, with its error."""
    try:
        fields = list(FullEvalFormatter().parse(text))
    except ValueError:  # unbalanced braces: text, not expressions
        return None
    for _, field, spec, conversion in fields:
        if field is None:
            continue
        expression = f"{field}:{spec}" if spec else field
        try:
            code = compile(expression, "<%ws>", "eval")
        except SyntaxError:
            continue  # not an expression (JSON's "op": "subscribe"): text, as IPython keeps it
        try:
            eval(code, namespace)
        except Exception as exc:  # the user's expression, whatever it raises
            shown = expression + (f"!{conversion}" if conversion else "")
            return shown, exc
    return None
