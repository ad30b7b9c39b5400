"""Cell identity and the re-run rule: which notebook cell run is executing, and what it replaces."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import ipykernel  # noqa: F401 - current_run only looks for a cell inside a kernel
import pytest

from ipyws._cells import CellRun, current_run


def test_a_later_run_of_the_same_cell_reruns_it() -> None:
    """Only a run of the same cell with another request is a re-run; None never is."""
    first = CellRun("cell-a", "msg-1")
    assert CellRun("cell-a", "msg-2").reruns(first)
    assert not CellRun("cell-a", "msg-1").reruns(first)  # the same run, within one cell
    assert not CellRun("cell-b", "msg-2").reruns(first)
    assert not first.reruns(None)


def _shell(parent: Any) -> SimpleNamespace:
    return SimpleNamespace(kernel=SimpleNamespace(get_parent=lambda: parent))


@pytest.mark.parametrize(
    ("parent", "expected"),
    [
        pytest.param(
            {"metadata": {"cellId": "c1"}, "header": {"msg_id": "m1"}},
            CellRun("c1", "m1"),
            id="cell-id-and-request",
        ),
        pytest.param({"metadata": {}, "header": {"msg_id": "m1"}}, None, id="no-cell-id"),
        pytest.param({"metadata": {"cellId": ""}, "header": {"msg_id": "m1"}}, None, id="empty"),
        pytest.param({"metadata": {"cellId": "c1"}, "header": {}}, None, id="no-request-id"),
        pytest.param(None, None, id="no-parent"),
    ],
)
def test_current_run_reads_the_request_the_kernel_handles(
    parent: Any, expected: CellRun | None
) -> None:
    """The run is the parent request's metadata.cellId and msg_id, or None if one is missing."""
    assert current_run(_shell(parent)) == expected


def test_no_run_without_a_kernel() -> None:
    """A shell without a kernel (terminal IPython, plain Python) runs no notebook cell."""
    assert current_run(SimpleNamespace()) is None
