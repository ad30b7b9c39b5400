"""Run a tier's tests once per protocol engine: import ``engine`` and ``pytest_generate_tests``
into the tier's conftest.

Each test then runs with ``ipyws._engines.default_engine`` set to every engine in turn (the
test id names it), so a behaviour that differs between engines fails a test. A test about
one engine only says so with ``@pytest.mark.engines("websockets")``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ipyws._engines import default_engine
from ipyws._options import ENGINES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``engine`` with every engine, or those the test's ``engines`` mark names."""
    if "engine" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("engines")
    names = marker.args if marker is not None else ENGINES
    metafunc.parametrize("engine", names, indirect=True)


@pytest.fixture(autouse=True)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Make ``request.param`` the default engine for the test; yield its name."""
    previous = default_engine()
    default_engine(request.param)
    yield request.param
    default_engine(previous)
