"""The ``%ws`` and ``%%ws`` magics: WebSockets from notebook cells, safe to re-run.

``%load_ext ipyws`` registers one ``WSMagics`` per shell. It reads like wscat in a
cell (``%ws connect URL --as feed``, ``%ws send feed hello``), leaves real
[`WebSocket`][ipyws.WebSocket] objects in the user namespace, and keeps just enough state to
make every cell idempotent:

* sockets by the NAME they were bound to: connecting again under a NAME closes the
  socket that NAME held, so a re-run cell never leaks a connection;
* ``%%ws on`` handlers by the cell that registered them (the frontend's cell id, or the
  cell's text where the frontend sends none), so a re-run cell replaces its handler; they
  follow their NAME to the new socket when it is reconnected;
* demo servers by NAME, stopped when replaced and on ``%unload_ext ipyws``.

Every mistake is a one-line ``UsageError`` saying how to fix it.

Where things are (IPython's ``core/magics/`` is the model: one module per family, each
subcommand's parser beside its command):

* ``magics.py``: ``WSMagics`` (settings, sockets by NAME, dispatch), load and unload;
* ``parsing.py``: the argparse parts every subcommand shares, and ``Subcommand``;
* ``connection.py`` (connect, demo, close), ``sending.py`` (send), ``inspection.py``
  (list, log), ``handlers.py`` (on, off): the subcommands;
* ``options.py``: ``%ws connect``'s connection flags, generated from WebSocket's keyword
  options (signature, annotations, docstring);
* ``commands.py``: the table of subcommands; ``completion.py``; ``help.py``.

Values are written for people by ``ipyws._format``, shared with the panel.
"""

from __future__ import annotations

from .commands import SUBCOMMANDS
from .magics import WSMagics, load_ipython_extension, unload_ipython_extension

__all__ = ["SUBCOMMANDS", "WSMagics", "load_ipython_extension", "unload_ipython_extension"]
