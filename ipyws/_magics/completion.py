"""Tab completion for ``%ws``: subcommands, options, socket names, events, demos."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from IPython.core.completer import CompletionContext, SimpleCompletion

from .commands import COMMANDS, SUBCOMMANDS
from .connection import DEMOS
from .parsing import EVENTS

if TYPE_CHECKING:
    from .magics import WSMagics

__all__ = ["Completer"]


class Completer:
    """Tab completion for ``%ws``: subcommands, options, socket names, events, demos.

    An IPython matcher (API v2) kept in ``shell.Completer.custom_matchers`` while the
    extension is loaded.
    """

    matcher_api_version = 2
    matcher_priority = 0.0
    matcher_identifier = "ipyws.ws"

    def __init__(self, magics: WSMagics) -> None:
        self.magics = magics
        self.__qualname__ = "ipyws.ws"

    def __call__(self, context: CompletionContext) -> dict[str, Any]:
        """Return the completions for the ``%ws`` line under the cursor."""
        nothing: dict[str, Any] = {"completions": [], "suppress": False}
        match = re.match(r"\s*%{1,2}ws\s+", context.text_until_cursor)
        if match is None:
            return nothing
        typed = context.text_until_cursor[match.end() :]
        words = typed.split()
        if not typed or typed[-1].isspace():
            words.append("")
        current = words[-1]
        if current != context.token:
            return nothing  # inside quotes or after a delimiter: leave it to IPython
        candidates: Iterable[str] = ()
        subcommand = words[0]
        previous = words[-2] if len(words) > 1 else ""
        if len(words) == 1:
            candidates = SUBCOMMANDS
        elif subcommand not in COMMANDS:
            return nothing
        elif current.startswith("-"):
            candidates = COMMANDS[subcommand].parser().long_options()
        elif previous == "--as":
            candidates = self.magics.names()
        elif previous.startswith("--"):  # a flag's value: its choices, if it has some
            candidates = COMMANDS[subcommand].parser().choices_of(previous)
        elif len(words) == 2 and subcommand in ("send", "close", "log", "on", "off"):
            candidates = self.magics.names()
        elif len(words) == 3 and subcommand in ("on", "off"):
            candidates = EVENTS
        elif len(words) == 2 and subcommand == "demo":
            candidates = DEMOS
        found = [SimpleCompletion(c, type="ipyws") for c in candidates if c.startswith(current)]
        return {"completions": found, "suppress": bool(found)}
