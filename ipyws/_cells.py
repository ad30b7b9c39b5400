"""The notebook's cell identity and the re-run rule, in one place.

JupyterLab, Notebook 7 and VS Code put the cell's id in each ``execute_request``'s metadata;
ipykernel keeps that request as the parent of the running code (per context, so a handler
running between cells counts as part of the run that registered it). A `CellRun` is
that pair, cell id and request id; `CellRun.reruns` is the re-run rule: a later run of
the same cell replaces what an earlier run made (its listeners, its sockets), so re-running
a cell never duplicates a handler or a connection. Within one run, and without a frontend
cell id, nothing is replaced: the browser's rules apply unchanged.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

__all__ = ["CellRun", "current_run"]


@dataclasses.dataclass(frozen=True)
class CellRun:
    """One run of one notebook cell: the frontend's cell id and the request that ran it."""

    cell_id: str
    msg_id: str

    def reruns(self, earlier: CellRun | None) -> bool:
        """Tell whether this run is a later run of the cell that ``earlier`` ran."""
        return (
            earlier is not None
            and earlier.cell_id == self.cell_id
            and earlier.msg_id != self.msg_id
        )


def current_run(shell: Any = None) -> CellRun | None:
    """Identify the notebook cell run that is executing, or None.

    None outside a kernel, or when the frontend sends no cell id. ``shell`` is the IPython
    shell to ask (the running one by default).
    """
    if "ipykernel" not in sys.modules:
        return None
    if shell is None:
        from IPython.core.interactiveshell import InteractiveShell

        if not InteractiveShell.initialized():
            return None
        shell = InteractiveShell.instance()
    get_parent = getattr(getattr(shell, "kernel", None), "get_parent", None)
    if not callable(get_parent):
        return None
    try:
        parent = get_parent()
    except Exception:  # ipykernel internals differ across versions
        return None
    if not isinstance(parent, dict):
        return None
    metadata = parent.get("metadata") or {}
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    msg_id = (parent.get("header") or {}).get("msg_id")
    if isinstance(cell_id, str) and cell_id and isinstance(msg_id, str):
        return CellRun(cell_id, msg_id)
    return None
