"""Throw-away SoftHSM2 tokens for tests, benchmarks and demos (SoftHSM2 is the HSM of the test-suite and CI).

SoftHSM reads its configuration file (``SOFTHSM2_CONF``) and scans its token directory at ``C_Initialize``: a
process that creates tokens after loading the library must re-initialise it (``pkcs11.lib(module).reinitialize()``)
to see them. SoftHSM also deletes objects slowly on tokens holding many, hence one small directory per test
session rather than a shared system token.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where Debian/Ubuntu (and a source build) install the library.
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
)
DEFAULT_SO_PIN = "so-pin-5678"


def find_module() -> str | None:
    """The SoftHSM2 PKCS#11 library, or None if SoftHSM2 is not installed."""
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    return None


def missing_reason() -> str | None:
    """Why SoftHSM2 cannot be used here (None if it can)."""
    if find_module() is None:
        return "SoftHSM2 is not installed (apt-get install softhsm2): libsofthsm2.so not found"
    if shutil.which("softhsm2-util") is None:
        return "SoftHSM2 is not installed (apt-get install softhsm2): softhsm2-util not found"
    return None


@dataclass(frozen=True)
class SoftHsm:
    """A SoftHSM2 configuration whose tokens live in ``directory/tokens``."""

    directory: Path
    module: str

    @classmethod
    def create(cls, directory: Path, module: str | None = None) -> SoftHsm:
        """Write ``directory/softhsm2.conf`` pointing at an empty ``directory/tokens``."""
        found = module or find_module()
        if found is None:
            raise RuntimeError(missing_reason() or "SoftHSM2 not found")
        tokens = directory / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        (directory / "softhsm2.conf").write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
        return cls(directory, found)

    @property
    def conf(self) -> Path:
        return self.directory / "softhsm2.conf"

    @property
    def tokens(self) -> Path:
        return self.directory / "tokens"

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` plus ``SOFTHSM2_CONF`` pointing at this configuration."""
        return {**(base or {}), "SOFTHSM2_CONF": str(self.conf)}

    def init_token(self, label: str, pin: str, so_pin: str = DEFAULT_SO_PIN, *, base: Mapping[str, str]) -> None:
        """``softhsm2-util --init-token --free``: a new token labelled ``label`` with user PIN ``pin``."""
        util = shutil.which("softhsm2-util", path=base.get("PATH"))
        if util is None:
            raise RuntimeError("softhsm2-util not found")
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            check=True,
            capture_output=True,
            env=self.environ(base),
            timeout=60,
        )


__all__ = ["DEFAULT_SO_PIN", "MODULE_CANDIDATES", "SoftHsm", "find_module", "missing_reason"]
