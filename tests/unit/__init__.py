"""Unit tier: spec rules with no network."""
