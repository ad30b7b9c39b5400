"""Fixtures for the kernel tier: real ipykernel processes started through jupyter_client."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.harness import Kernel, start_kernel

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kernel`` marker unless the ini file (pyproject.toml) already does."""
    if not any(str(line).startswith("kernel:") for line in config.getini("markers")):
        config.addinivalue_line("markers", "kernel: runs a real ipykernel through jupyter_client")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/kernel with ``kernel`` (the hook sees all items: filter)."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.kernel)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A fresh kernel per test (per-cell routing checks need a clean history); always shut down."""
    with start_kernel() as k:
        yield k


@pytest.fixture(scope="module")
def shared_kernel() -> Iterator[Kernel]:
    """One kernel for a whole module, for tests that only read their own cells' results."""
    with start_kernel() as k:
        yield k


@pytest.fixture
def kernel_factory() -> Iterator[Callable[..., Kernel]]:
    """Start kernels with options (``extra_env``, ``cwd``); all are shut down after the test."""
    started: list[Kernel] = []

    def make(*, extra_env: Mapping[str, str] | None = None, **kwargs: Any) -> Kernel:
        """Start one more kernel."""
        k = Kernel(extra_env=extra_env, **kwargs)
        started.append(k)
        return k.start()

    try:
        yield make
    finally:
        errors: list[BaseException] = []
        for k in reversed(started):
            try:
                k.shutdown()
            except Exception as exc:  # shut down the others, then report
                errors.append(exc)
        if errors:
            raise errors[0]
