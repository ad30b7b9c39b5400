"""Tests for ipyws."""
