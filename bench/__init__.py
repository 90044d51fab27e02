"""Benchmarks (docs/benchmarks.md); shared helpers live at this level."""
