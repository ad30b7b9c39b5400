"""The table of ``%ws`` subcommands, in the order help lists them."""

from __future__ import annotations

from .connection import CLOSE, CONNECT, DEMO
from .handlers import OFF, ON
from .inspection import LIST, LOG
from .parsing import Subcommand
from .sending import SEND

__all__ = ["COMMANDS", "SUBCOMMANDS"]

#: Every subcommand by name.
COMMANDS: dict[str, Subcommand] = {
    command.name: command for command in (CONNECT, SEND, CLOSE, LIST, LOG, DEMO, ON, OFF)
}
#: The subcommands' names.
SUBCOMMANDS = tuple(COMMANDS)
