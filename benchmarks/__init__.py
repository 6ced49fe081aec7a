"""Benchmarks: Wirewatch against the bare libraries it wraps (make bench)."""
