"""The PKCS#11 C layer under valgrind memcheck: a C host (``memcheck/probe.c``) runs threads x sessions of AES
round trips, C_FindObjectsInit / C_GetAttributeValue / C_CreateObject with 20,000-attribute templates, a fork whose
child initialises the library again and works, and C_Finalize while other threads' calls are in flight. The probe
checks every return code; valgrind must report no invalid read or write, no use of uninitialised memory reaching our
library, and no block definitely lost from our library's frames (the embedded interpreter and the libraries it loads
keep their one-time allocations until exit, which valgrind calls lost; those are not ours to free). Measured here:
no invalid access, no uninitialised use, and every definitely-lost block a one-time allocation of CPython's
runtime, pyo3's type objects or OpenSSL's OAEP label inside cryptography."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.shim, pytest.mark.slow, pytest.mark.timeout(1200)]

PROBE = Path(__file__).resolve().parent / "memcheck" / "probe.c"
THREADS = 4
#: Frames that belong to Keystead's C layer (the cffi-generated module, the shim, the forwarder) or to the probe.
OURS = re.compile(r"\((_keystead_pkcs11\.c|shim\.c|forward\.c|probe\.c):\d+\)")
#: Error kinds that are never acceptable, wherever they happen.
NEVER = ("Invalid read", "Invalid write", "Invalid free", "Mismatched free", "overlap", "Syscall param")


def _allocated_by_us(record: str) -> bool:
    """Whether a leak record's block was allocated by our C layer itself (the frame right above the allocator).
    Blocks the interpreter's start-up, pyo3 type objects or OpenSSL allocate once and keep are reached through our
    frames too (everything starts in C_Initialize), but are not ours to free."""
    frames = [line.strip() for line in record.splitlines() if line.strip().startswith(("at ", "by "))]
    callers = [f for f in frames if not re.search(r": (malloc|calloc|realloc|free|operator new)\b", f)]
    return bool(callers) and OURS.search(callers[0]) is not None


def _records(log: str) -> list[str]:
    """valgrind's error and leak records, each as one text block."""
    body = "\n".join(line.split(" ", 1)[1] if line.startswith("==") else line for line in log.splitlines())
    return [block for block in body.split("\n\n") if block.strip()]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, library: Path) -> tuple[Path, Path, dict[str, str]]:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the probe")
    work = tmp_path_factory.mktemp("memcheck")
    subprocess.run(
        [sys.executable, "-m", "kms_backend.cli", "pkcs11", "init", "--dir", str(work / "token"),
         "--pin", "1234", "--so-pin", "5678"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    binary = work / "probe"
    subprocess.run([compiler, "-g", "-O1", "-o", str(binary), str(PROBE), "-ldl", "-lpthread"], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = str(work / "token" / "pkcs11.yaml")
    return binary, library, env


def test_the_probe_passes_natively(probe: tuple[Path, Path, dict[str, str]]) -> None:
    binary, library, env = probe
    result = subprocess.run(
        [str(binary), str(library), "8"], env=env, cwd="/", capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0 and "probe ok" in result.stdout, result.stdout + result.stderr


def test_no_invalid_access_and_no_leak_under_memcheck(probe: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        pytest.skip("valgrind is not installed (CI installs it)")
    binary, library, env = probe
    result = subprocess.run(
        [valgrind, "--tool=memcheck", "--leak-check=full", "--show-leak-kinds=definite", "--num-callers=40",
         "--child-silent-after-fork=no", f"--log-file={tmp_path}/vg.%p.log", str(binary), str(library), str(THREADS)],
        env={**env, "PYTHONMALLOC": "malloc"}, cwd="/", capture_output=True, text=True, timeout=1100, check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "probe ok" in result.stdout, result.stdout + result.stderr
    logs = sorted(tmp_path.glob("vg.*.log"))
    assert len(logs) == 2, "the parent and the forked child each leave a log"
    problems = []
    for log in logs:
        text = log.read_text()
        assert "ERROR SUMMARY" in text, f"{log.name} is incomplete"
        for record in _records(text):
            if (
                any(kind in record for kind in NEVER)
                or ("uninitialised" in record and OURS.search(record))
                or ("definitely lost" in record and _allocated_by_us(record))
            ):
                problems.append(record)
    assert problems == [], "\n\n".join(problems[:5])
