"""The environment `make setup` builds is exactly ``requirements.lock``: every distribution the lock names for this
interpreter is installed at its locked version, and nothing else is installed beside the project itself."""

from __future__ import annotations

import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked() -> dict[str, str]:
    """``{name: version}`` of the lock's pins whose environment marker holds here."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        match = _PIN.match(line)
        if match is None:
            continue
        name, version, marker = match.groups()
        if marker is None or Marker(marker).evaluate():
            pins[canonicalize_name(name)] = version
    return pins


def installed() -> dict[str, str]:
    """What pip installed in this environment: the distributions in its site-packages only (importing setuptools or
    pkg_resources puts setuptools' vendored copies of packaging and wheel on sys.path, which are not installs)."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=paths)}
    found.pop("keystead", None)
    return found


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    text = LOCK.read_text()
    pins = [line for line in text.splitlines() if _PIN.match(line)]
    assert len(pins) >= 40
    for name in ("cryptography", "cffi", "httpx", "pyyaml", "python-pkcs11", "pytest", "setuptools", "pip"):
        assert name in locked(), name
    # Every requirement line is an exact pin, and each is followed by its hashes (--require-hashes needs them).
    requirements = [line for line in text.splitlines() if line[:1].isalnum()]
    assert requirements == pins
    for block in text.split("\n")[:-1]:
        if block[:1].isalnum():
            assert block.endswith("\\"), f"{block}: no hash follows"
    assert text.count("--hash=sha256:") >= len(pins)


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not in a virtual environment: `make setup` builds .venv")
def test_installed_distributions_equal_the_lock() -> None:
    pins, present = locked(), installed()
    wrong = {name: (present.get(name), version) for name, version in pins.items() if present.get(name) != version}
    extra = sorted(set(present) - set(pins))
    assert not wrong, f"installed != locked (installed, locked): {wrong}; run `make setup`"
    assert not extra, f"installed but not in requirements.lock: {extra}; add them to pyproject.toml and `make lock`"
