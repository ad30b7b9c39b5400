"""The one platform choice: which transport carries connections (and parses URLs).

Under CPython: ``websockets`` or picows on the ipyws I/O thread (``ipyws._transport``,
``ipyws._engines``), URLs by
``ada-url``. Under Pyodide (JupyterLite): the browser's own ``WebSocket`` on Pyodide's event
loop, URLs by the platform's ``URL`` (both in ``ipyws._pyodide``; ``_url`` takes its
parser from there itself, since the CPython transport imports ``_url``). Everything else
(the spec object, events, transcript, magics, panel) is the same code on both.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ._options import Options

__all__ = [
    "PYODIDE",
    "Connection",
    "check_blocking",
    "check_options",
    "io_thread",
    "new_connection",
]

#: True under Pyodide, where there are no threads and the browser does the networking.
PYODIDE = sys.platform == "emscripten"

if sys.platform == "emscripten":
    from ._pyodide import Connection, check_blocking, check_options, io_thread

    new_connection = Connection
else:
    from ._engines import new_connection
    from ._transport import Connection, io_thread

    def check_options(options: Options, defaults: Mapping[str, Any]) -> None:
        """Accept every option: the CPython transport honours them all."""

    def check_blocking(helper: str, await_form: str) -> None:
        """Allow blocking: the I/O thread goes on while a cell waits."""
