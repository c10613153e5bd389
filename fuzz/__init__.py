"""Fuzzing harnesses (``make fuzz``): coverage-guided with atheris (libFuzzer) over the targets in ``targets``;
property-based ones with Hypothesis live in ``tests/fuzz``. Inputs that a run finds are copied to
``fuzz/regressions/<target>/``, which ``tests/fuzz/test_regressions.py`` replays on every ``make test``."""
