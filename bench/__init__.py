"""Benchmarks: `python -m bench.e2e` measures LeadFlow end to end (see its docstring)."""
