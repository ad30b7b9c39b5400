"""Loopback tier: real servers on 127.0.0.1."""
