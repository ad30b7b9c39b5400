"""Benchmark tier: the benchmark command runs (never timed here) and the hot paths stay exact."""
