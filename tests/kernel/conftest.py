"""Fixtures for the kernel tier: real ipykernel processes started through jupyter_client."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

HERE = Path(__file__).resolve().parent
HARNESS_MODULE = "ipyws_kernel_harness"


def _load_harness() -> ModuleType:
    """Import harness.py under a unique name, so another tier's ``harness`` module cannot shadow it.

    Test modules here use ``from ipyws_kernel_harness import Kernel, ...``; this works whether or
    not ``tests/`` is a package and whatever pytest import mode is used.
    """
    if HARNESS_MODULE in sys.modules:
        return sys.modules[HARNESS_MODULE]
    spec = importlib.util.spec_from_file_location(HARNESS_MODULE, HERE / "harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[HARNESS_MODULE] = module
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from harness import Kernel
else:
    Kernel = _load_harness().Kernel


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
    with _load_harness().start_kernel() as k:
        yield k


@pytest.fixture(scope="module")
def shared_kernel() -> Iterator[Kernel]:
    """One kernel for a whole module, for tests that only read their own cells' results."""
    with _load_harness().start_kernel() as k:
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
