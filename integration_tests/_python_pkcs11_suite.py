"""python-pkcs11's own upstream test suite, run against a PKCS#11 module by any host Python.

The tests are the ``tests/`` folder of the python-pkcs11 sdist at the version ``requirements.lock`` pins, fetched
with ``pip download`` and checked against the lock's hashes. They read the module and token from the environment
variables the suite documents (``PKCS11_MODULE``, ``PKCS11_TOKEN_LABEL``, ``PKCS11_TOKEN_PIN``,
``PKCS11_TOKEN_SO_PIN``) and assume an empty token. The host Python needs python-pkcs11, pytest, parameterized and
cryptography; the counts come from pytest's JUnit XML report.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
PACKAGE = "python-pkcs11"


@dataclass(frozen=True)
class Outcome:
    """The counts of one run of the suite."""

    passed: int
    failed: int
    errors: int
    skipped: int
    #: "test id: first line of the failure" for each failure or error, to say what broke.
    problems: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.errors} errors, {self.skipped} skipped"


def locked_version_and_hashes() -> tuple[str, set[str]]:
    """The version of python-pkcs11 ``requirements.lock`` pins and the sha256 hashes it accepts for its files."""
    text = LOCK.read_text()
    match = re.search(rf"^{PACKAGE}==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]+)+)", text, re.MULTILINE)
    assert match, f"{PACKAGE} is not pinned in {LOCK}"
    return match.group(1), set(re.findall(r"sha256:([0-9a-f]{64})", match.group(2)))


def fetch_tests(directory: Path) -> Path:
    """Download the locked sdist into ``directory``, check its hash against the lock, and extract its ``tests/``
    package alone (the sdist's ``pkcs11/`` sources must not shadow the installed, compiled package); returns the
    folder holding ``tests/``."""
    version, hashes = locked_version_and_hashes()
    downloads = directory / "sdist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            PACKAGE,
            "--dest",
            str(downloads),
            f"{PACKAGE}=={version}",
        ],
        check=True,
        timeout=600,
    )
    (archive,) = downloads.glob("*.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert digest in hashes, f"{archive.name}: sha256 {digest} is not one of the hashes requirements.lock pins"
    root = directory / "suite"
    with tarfile.open(archive) as sdist:
        members = [m for m in sdist.getmembers() if m.name.split("/")[1:2] == ["tests"] and m.isfile()]
        for member in members:
            member.name = member.name.split("/", 1)[1]
        sdist.extractall(root, members=members, filter="data")
    assert (root / "tests" / "__init__.py").is_file(), "the sdist has no tests/ package"
    return root


def run(python: str, suite: Path, module: str, token_env: dict[str, str], report: Path) -> Outcome:
    """Run the suite with ``python`` against ``module``; ``token_env`` holds the token variables (and whatever
    the module needs, e.g. ``KEYSTEAD_PKCS11_CONFIG`` or ``SOFTHSM2_CONF``)."""
    env = {**os.environ, **token_env, "PKCS11_MODULE": module}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,  # our own pytest settings (warnings as errors...) are not the suite's
            "--rootdir",
            str(suite),
            f"--junitxml={report}",
            "tests",
        ],
        cwd=suite,
        env=env,
        check=False,
        capture_output=True,
        timeout=1200,
    )
    return parse(report)


def parse(report: Path) -> Outcome:
    """The counts in a JUnit XML report."""
    tree = ET.parse(report)  # pytest's own report, written just now
    passed = failed = errors = skipped = 0
    problems: list[str] = []
    for case in tree.iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        outcome = [child for child in case if child.tag in ("failure", "error", "skipped")]
        tags = {child.tag for child in outcome}
        if "failure" in tags:
            failed += 1
        elif "error" in tags:
            errors += 1
        elif "skipped" in tags:
            skipped += 1
            continue
        else:
            passed += 1
            continue
        message = (outcome[0].get("message") or "").splitlines()[:1]
        problems.append(f"{name}: {message[0] if message else ''}")
    return Outcome(passed, failed, errors, skipped, tuple(problems))


__all__ = ["Outcome", "fetch_tests", "locked_version_and_hashes", "parse", "run"]
