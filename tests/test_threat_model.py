"""docs/threat-model.md points each mitigation at its test: every test file and test function it names exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "threat-model.md"


def references() -> list[tuple[str, str | None]]:
    """(path, test name or None) for every `tests/...` or `integration_tests/...` reference, with `::name`
    shorthands resolved against the path named before them in the same table cell."""
    found: list[tuple[str, str | None]] = []
    for line in DOC.read_text().splitlines():
        if not line.startswith("|"):
            continue
        last: str | None = None
        for ref in re.findall(r"`([^`]+)`", line):
            path, _, name = ref.partition("::")
            if path.startswith(("tests/", "integration_tests/")):
                last = path
                found.append((path, name or None))
            elif not path and name and last is not None:
                found.append((last, name))
    return found


def test_every_referenced_test_exists() -> None:
    refs = references()
    assert len(refs) > 40
    missing = []
    for path, name in refs:
        target = REPO / path
        if not target.exists():
            missing.append(path)
        elif name is not None and f"def {name}(" not in target.read_text():
            missing.append(f"{path}::{name}")
    assert missing == []
