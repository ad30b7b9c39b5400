"""``%ws connect``'s connection options, generated from WebSocket's keyword options.

Each option is written once, in the constructor: its default in the signature, its type in
the annotation and its meaning in the ``Args`` section of the docstring. The flags are made
of those three, so an option added to ``WebSocket`` appears in ``%ws connect`` and its help
with no edit here, and its range is checked by the constructor itself (a bad value is the
constructor's message, as a one-line ``UsageError``). Only the options whose value is not one
word on a line have a spelling of their own (``_SPELLED``); the event handlers, which are
functions, have none (``NOT_EXPRESSIBLE``: a ``%%ws on`` cell attaches them).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
import typing
from collections.abc import Callable
from typing import Any

from .._format import format_size
from .._reconnect import Reconnect
from .._websocket import WebSocket
from .parsing import count, limit, seconds, size

__all__ = [
    "NOT_EXPRESSIBLE",
    "ConstructorOption",
    "add_connection_options",
    "chosen_options",
    "constructor_options",
]

#: Keyword options no ``%ws connect`` flag sets, with the reason.
NOT_EXPRESSIBLE = {
    name: "a handler is a function: a %%ws on NAME EVENT cell attaches it"
    for name in ("onopen", "onmessage", "onerror", "onclose", "onreconnect")
}

# A Markdown cross-reference ([`name`][target]) and a code span (``x``), as help shows them.
_REFERENCE = re.compile(r"\[`?([^\]`]+)`?\]\[[^\]]*\]")
_CODE = re.compile(r"``?([^`]+)``?")
# A default the description states in passing: the flag's help states it its own way.
_SAID_DEFAULT = re.compile(r" ?\((?:default\b[^)]*|[^)]* by default)\)")


@dataclasses.dataclass(frozen=True)
class ConstructorOption:
    """One keyword option of ``WebSocket``: its name, default, annotation and description."""

    name: str
    default: Any
    #: The alternatives of the annotation, as written (``{"float", "None"}``).
    kinds: frozenset[str]
    #: The option's entry in the docstring's ``Args`` section, as plain text.
    description: str
    #: The values a ``Literal`` in the annotation allows (None: any of its type).
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        """The flag's spelling: ``--`` and the name with dashes."""
        return "--" + self.name.replace("_", "-")

    @property
    def first_clause(self) -> str:
        """The description up to its first ';', without a default it states in passing."""
        return _SAID_DEFAULT.sub("", self.description.partition("; ")[0]).rstrip(".")

    @property
    def none_means(self) -> str:
        """What None does, as the description says it after its first ';' ("" if it does not)."""
        rest = self.description.partition("; ")[2]
        if "None" not in self.kinds or not rest.startswith("None"):
            return ""
        return _SAID_DEFAULT.sub("", rest.split(".")[0].removeprefix("None")).strip()

    @property
    def summary(self) -> str:
        """The description's first clause and what 'none' means, for a flag's help."""
        none = self.none_means
        return f"{self.first_clause}; 'none' {none}" if none else self.first_clause


def constructor_options(cls: type = WebSocket) -> dict[str, ConstructorOption]:
    """Return the keyword-only options of ``cls`` (``WebSocket``), in signature order."""
    described: dict[str, str] = {}
    name = None
    in_args = False
    for line in (inspect.getdoc(cls) or "").splitlines():
        if line.strip() == "Args:":
            in_args = True
        elif in_args and (entry := re.match(r" {4}(\w+): (.*)", line)):
            name = entry.group(1)
            described[name] = entry.group(2)
        elif in_args and name and line.startswith(" " * 8):
            described[name] += " " + line.strip()
        elif in_args and line.strip():
            break
    namespace = vars(sys.modules[cls.__module__])
    options = {}
    for param in inspect.signature(cls).parameters.values():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        kinds = frozenset(part.strip() for part in str(param.annotation).split("|"))
        choices = None
        for kind in kinds:
            alias = namespace.get(kind)  # a name such as Engine = Literal["websockets", ...]
            if typing.get_origin(alias) is typing.Literal:
                choices = tuple(str(value) for value in typing.get_args(alias))
        options[param.name] = ConstructorOption(
            param.name,
            param.default,
            kinds,
            _CODE.sub(r"\1", _REFERENCE.sub(r"\1", described.get(param.name, ""))),
            choices,
        )
    return options


# -- value types ---------------------------------------------------------------------------


def text(value: str) -> str | None:
    """Read text, or None for 'none' (an option whose default is None or that can omit)."""
    return None if value.lower() == "none" else value


def tls(value: str) -> Any:
    """Read a TLS setting: 'insecure' (no verification) or a PEM file of CAs to trust."""
    if value.lower() == "insecure":
        return False
    import ssl  # not imported before it is used: Pyodide loads it on demand

    try:
        return ssl.create_default_context(cafile=value)
    except OSError as exc:  # ssl.SSLError is one too: a file that holds no certificate
        reason = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
        raise argparse.ArgumentTypeError(
            f"expected 'insecure' or a PEM file of CA certificates, and {value!r} is not "
            f"one ({reason})"
        ) from None


def _shown(option: ConstructorOption, kind: Callable[[str], Any]) -> str:
    """Show an option's default as its flag reads it."""
    default = option.default
    if default is None:
        return "none"
    if kind is size:
        return format_size(default)
    if isinstance(default, float):
        return f"{default:g}"
    return repr(default) if isinstance(default, str) else str(default)


def _value_type(option: ConstructorOption) -> tuple[Callable[[str], Any], str] | None:
    """Return how a flag reads the option's value and its metavar, from the annotation."""
    kinds = option.kinds - {"None"}
    if kinds == {"float"}:
        return seconds, "S"
    if kinds == {"int"}:
        if "bytes" in option.description:
            return size, "BYTES"
        return (limit if "None" in option.kinds else count), "N"
    if kinds == {"str"}:
        return text, option.name.upper()
    if any("SSLContext" in kind for kind in kinds):
        return tls, "CAFILE"
    return None


def _add_switch(
    group: argparse._ActionsContainer, flag: str, option: str, value: Any, said: str
) -> None:
    """Add a flag without a value that sets ``option`` to ``value`` (absent unless given)."""
    group.add_argument(
        flag,
        dest=option,
        action="store_const",
        const=value,
        default=argparse.SUPPRESS,
        help=said,
    )


def _add_spelled_proxy(group: argparse._ArgumentGroup, option: ConstructorOption) -> None:
    """``--proxy URL`` or ``--no-proxy`` (a URL, or None; True, the default, is neither)."""
    choice = group.add_mutually_exclusive_group()
    choice.add_argument(
        "--proxy",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="connect through this proxy, for every host (default: the system settings, "
        "never for loopback)",
    )
    _add_switch(choice, "--no-proxy", "proxy", None, "ignore the system proxy settings")


def _add_spelled_ssl(group: argparse._ArgumentGroup, option: ConstructorOption) -> None:
    """``--ssl CAFILE|insecure`` as generated, and ``--insecure`` for ``--ssl insecure``."""
    choice = group.add_mutually_exclusive_group()
    _add_generated(choice, option)
    _add_switch(
        choice,
        "--insecure",
        "ssl",
        False,
        "do not verify the wss:// server's certificate (self-signed test servers); "
        "the same as --ssl insecure",
    )


def _add_spelled_log_size(group: argparse._ArgumentGroup, option: ConstructorOption) -> None:
    """``--log-size N``, whose default is the magics' setting rather than the constructor's."""
    group.add_argument(
        option.flag,
        type=count,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"{option.summary} (default: WSMagics.log_size)",
    )


def _number(value: str) -> float:
    """Read a number >= 0 (seconds or a factor)."""
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {value!r}")
    return number


#: The Reconnect policy's options: flag, field, value type, metavar, help.
_RECONNECT: tuple[tuple[str, str, Callable[[str], float | int], str, str], ...] = (
    ("--reconnect-delay", "initial_delay", _number, "S", "seconds before the first retry"),
    ("--reconnect-max-delay", "max_delay", _number, "S", "the longest wait between tries"),
    ("--reconnect-factor", "factor", _number, "F", "each wait is F times the last"),
    ("--reconnect-jitter", "jitter", _number, "J", "share of each wait drawn at random"),
    ("--reconnect-attempts", "max_attempts", count, "N", "give up after N tries in a row"),
    ("--reconnect-reset", "reset_after", _number, "S", "uptime that resets the backoff"),
)


def _add_reconnect(group: argparse._ArgumentGroup) -> None:
    """``--reconnect`` and one flag per field of the `Reconnect` policy."""
    group.add_argument(
        "--reconnect",
        action="store_true",
        help="connect again, on the same socket, whenever a connection ends without "
        "%%ws close (any --reconnect-* option implies it)",
    )
    policy = Reconnect()
    for flag, field, kind, metavar, said in _RECONNECT:
        default = getattr(policy, field)
        group.add_argument(
            flag,
            dest=field,
            default=argparse.SUPPRESS,
            type=kind,
            metavar=metavar,
            help=f"{said} (default {'never' if default is None else format(default, 'g')})",
        )


#: Options whose value is not one word, with the function that adds their own flags.
_SPELLED: dict[str, Callable[[argparse._ArgumentGroup, ConstructorOption], None]] = {
    "proxy": _add_spelled_proxy,
    "ssl": _add_spelled_ssl,
    "log_size": _add_spelled_log_size,
}

#: Options ``%ws connect`` adds and reads itself: ``--header`` (repeatable, 'Name: value').
_ELSEWHERE = ("headers",)


def _add_generated(group: argparse._ActionsContainer, option: ConstructorOption) -> None:
    """Add the flag the option's annotation, default and description make."""
    if option.kinds == {"bool"}:
        on = option.default is False
        _add_switch(
            group,
            option.flag if on else "--no-" + option.flag[2:],
            option.name,
            on,
            f"{option.summary} ({'off' if on else 'on'} by default; this flag turns it "
            f"{'on' if on else 'off'})",
        )
        return
    if option.choices is not None:
        group.add_argument(
            option.flag,
            dest=option.name,
            choices=option.choices,
            default=argparse.SUPPRESS,
            # "None (default) for the default engine" reads "(default: the default engine)".
            help=f"{option.first_clause} (default: "
            f"{option.none_means.removeprefix('for ') or _shown(option, text)})",
        )
        return
    typed = _value_type(option)
    if typed is None:
        raise TypeError(
            f"WebSocket's option {option.name} ({' | '.join(sorted(option.kinds))}) has no "
            "%ws connect flag: give it one in ipyws/_magics/options.py"
        )
    kind, metavar = typed
    said = f"{option.summary} (default {_shown(option, kind)})"
    if kind is tls:
        said = (
            f"{option.summary}; here a PEM file of the CAs to trust, or 'insecure' not to "
            "verify (default: the system's CAs)"
        )
    group.add_argument(
        option.flag,
        dest=option.name,
        type=kind,
        default=argparse.SUPPRESS,  # absent unless given, so WebSocket's default applies
        metavar=metavar,
        help=said,
    )


def add_connection_options(parser: argparse.ArgumentParser, cls: type = WebSocket) -> None:
    """Add a flag for every keyword option of ``cls`` (``WebSocket``) a line can express."""
    group = parser.add_argument_group("connection options")
    options = constructor_options(cls)
    for option in options.values():
        if option.name not in (*NOT_EXPRESSIBLE, *_ELSEWHERE, "reconnect"):
            _SPELLED.get(option.name, _add_generated)(group, option)
    if "reconnect" in options:  # a group of its own, last
        _add_reconnect(
            parser.add_argument_group(
                "reconnecting (see the how-to 'Keep a feed running for hours')"
            )
        )


def chosen_options(args: argparse.Namespace, cls: type = WebSocket) -> dict[str, Any]:
    """Return the keyword options the parsed flags give (the others keep their defaults)."""
    chosen = {
        name: getattr(args, name)
        for name in constructor_options(cls)
        if name not in _ELSEWHERE and name != "reconnect" and hasattr(args, name)
    }
    policy = {field: getattr(args, field) for _, field, *_ in _RECONNECT if hasattr(args, field)}
    if policy or getattr(args, "reconnect", False):
        chosen["reconnect"] = Reconnect(**policy)
    return chosen
