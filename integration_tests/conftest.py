"""Fixtures several integration test modules share."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"

#: The Python 3.12 that pyenv provides on this machine kind: the "host runs another Python" case of issue 4.
PY312 = Path("/root/.pyenv/versions/3.12.1/bin/python")
#: And 3.13, the other system Python of current Debian/Ubuntu (issue 15).
PY313 = Path("/root/.pyenv/versions/3.13.0/bin/python")
#: CI (``KEYSTEAD_REQUIRE_SERVICES=1``) has these Pythons: there a host that cannot be set up fails its tests.
REQUIRE_SERVICES = os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1"


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (KEYSTEAD_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def has_python_pkcs11(python: str) -> bool:
    """Whether ``python`` can import python-pkcs11."""
    probe = subprocess.run(
        [python, "-c", "import pkcs11"], check=False, env=dict(os.environ), capture_output=True, timeout=120
    )
    return probe.returncode == 0


def locked_requirements(*names: str) -> str:
    """The blocks of ``requirements.lock`` (pin and hashes) for ``names``: a requirements file that installs the
    same releases, checked by hash, into another interpreter's environment."""
    chosen: list[str] = []
    lines = LOCK.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.split("==", 1)[0] in names:
            block = [line]
            for follower in lines[index + 1 :]:
                if not follower.startswith("    --hash="):
                    break
                block.append(follower)
            chosen.append("\n".join(block))
    missing = set(names) - {b.split("==", 1)[0] for b in chosen}
    assert not missing, f"not in requirements.lock: {sorted(missing)}"
    return "\n".join(chosen) + "\n"


#: What python-pkcs11's upstream test suite imports besides python-pkcs11 (and what those need).
SUITE_PACKAGES = ("pytest", "iniconfig", "packaging", "pluggy", "pygments", "parameterized", "cryptography", "cffi")
SUITE_PACKAGES += ("pycparser",)


def python_with_pkcs11(interpreter: Path, tmp_path_factory: pytest.TempPathFactory, extra: tuple[str, ...] = ()) -> str:
    """``interpreter`` if it has python-pkcs11 (and no ``extra`` packages are asked for), else a venv of it with
    the locked python-pkcs11 and ``extra`` installed, checked by hash."""
    if not interpreter.exists():
        _unavailable(f"{interpreter} not present")
    if not extra and has_python_pkcs11(str(interpreter)):
        return str(interpreter)
    venv = tmp_path_factory.mktemp(interpreter.parent.parent.name)
    subprocess.run([str(interpreter), "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin/python")
    requirements = venv / "requirements.txt"
    requirements.write_text(locked_requirements("python-pkcs11", "asn1crypto", *extra))
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", str(requirements)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        _unavailable(f"python-pkcs11 cannot be installed for {interpreter}: {install.stderr[-300:]}")
    return python


@pytest.fixture(scope="session")
def python312(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python 3.12 with python-pkcs11 (once per session, whichever test module asks first)."""
    return python_with_pkcs11(PY312, tmp_path_factory)


@pytest.fixture(scope="session")
def python313(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python 3.13 with python-pkcs11."""
    return python_with_pkcs11(PY313, tmp_path_factory)


@pytest.fixture(scope="session")
def python312_suite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python 3.12 that can run python-pkcs11's upstream test suite."""
    return python_with_pkcs11(PY312, tmp_path_factory, SUITE_PACKAGES)


@pytest.fixture(scope="session")
def python313_suite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python 3.13 that can run python-pkcs11's upstream test suite."""
    return python_with_pkcs11(PY313, tmp_path_factory, SUITE_PACKAGES)
