"""Benchmarks: `make bench` measures the stack on this machine and writes BENCHMARKS.md."""
