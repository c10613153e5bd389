"""Every input a fuzzing run found (``fuzz/regressions/<target>/``, copied there by ``python -m fuzz``) is replayed
through its target: each must now be handled as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import TARGETS

REGRESSIONS = Path(__file__).resolve().parents[2] / "fuzz" / "regressions"
CASES = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_every_regression_names_a_target() -> None:
    assert CASES, "fuzz/regressions holds the inputs fuzzing found and the hand-made edge cases"
    assert {p.parent.name for p in CASES} <= set(TARGETS)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_regression(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())
