"""Fixtures for the loopback tier: every test runs once per protocol engine."""

from tests.engines import engine, pytest_generate_tests

__all__ = ["engine", "pytest_generate_tests"]
