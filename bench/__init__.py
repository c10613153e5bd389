"""Micro-benchmarks (``python -m bench`` runs them all; ``python -m bench.bench_codecs`` runs one module)."""

#: ``keystead serve`` arguments of every benchmark server: every request comes from 127.0.0.1 and a benchmark
#: sends as fast as it can, so the default per-client rate limit would measure the limit, not the server.
UNLIMITED = ("--rate-limit", "0")
