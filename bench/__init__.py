"""Micro-benchmarks (``python -m bench`` runs them all; ``python -m bench.bench_codecs`` runs one module)."""
