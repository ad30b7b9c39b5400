"""The ``%ws`` help: the short overview, and the full text generated from the parsers."""

from __future__ import annotations

from collections.abc import Mapping

from traitlets import TraitType

from .commands import COMMANDS, SUBCOMMANDS

__all__ = ["full_help", "overview"]


def overview() -> str:
    """Return what a bare ``%ws`` prints: the subcommands and their summaries."""
    lines = ["%ws: WebSockets from notebook cells (ipyws). Subcommands:", ""]
    width = max(len(s) for s in SUBCOMMANDS)
    lines += [f"  {name.ljust(width)}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "%ws SUBCOMMAND --help explains one; %ws? (or %ws --help) shows everything."]
    return "\n".join(lines)


_USAGE = """\
WebSockets from notebook cells (ipyws): connect, send, close, list, log, demo, on, off.

  %ws connect URL [--as NAME] [--protocol P ...] [--header "K: V" ...] [--origin ORIGIN]
                  [--binary-type arraybuffer] [--no-display] [connection options]
  %ws send NAME DATA                 text; {expression} is interpolated
  %ws send NAME --json EXPR          a Python value as JSON text
  %ws send NAME --hex HEX | --base64 B64     bytes, as a binary message
  %%ws send NAME [--json | --hex | --base64] [--raw]     the cell body is the message
  %ws close NAME [CODE [REASON]]
  %ws list
  %ws log NAME [-n N | --all]
  %ws demo {echo,ticker,chat,binary} [--as NAME] [--rate R]
  %%ws on NAME EVENT                 the cell body runs on each EVENT, with `event` bound
  %ws off NAME [EVENT]

Every cell is safe to re-run: connecting again under a NAME closes the socket it held (its
%%ws on handlers move to the new one), and running a %%ws on cell again replaces its handler.
Sockets are real ipyws.WebSocket objects: NAME.readyState, NAME.send(...),
NAME.transcript.to_dataframe() work as usual. %unload_ext ipyws closes every socket the
magics opened and stops their demo servers.

Examples:

  %load_ext ipyws
  %ws demo ticker --as feed                 # a local JSON price feed, no network needed
  %ws send feed {"op": "subscribe", "symbol": "ACME"}
  %ws log feed -n 5

  %%ws on feed message
  tick = json.loads(event.data)
  print(tick["symbol"], tick["price"])

  %ws connect wss://example.org/socket --as api --header "Authorization: Bearer {token}"
  %ws send api --json {"op": "ping", "id": next_id}
  %ws close api 1000 bye
"""


def full_help(configuration: Mapping[str, TraitType]) -> str:  # type: ignore[type-arg]
    """Return ``%ws --help``: usage, each subcommand's help, then the ``%config`` settings."""
    parts = [_USAGE]
    for name, command in COMMANDS.items():
        parts.append(f"--- {name} " + "-" * (70 - len(name)))
        parts.append(command.parser().format_help())
        if command.cell_parser is not None:
            parts.append(command.cell_parser().format_help())
    parts.append("--- configuration (%config WSMagics.<name> = value) " + "-" * 20)
    for name, trait in sorted(configuration.items()):
        parts.append(f"  WSMagics.{name} = {trait.default_value!r}\n      {trait.help}")
    return "\n".join(parts)
