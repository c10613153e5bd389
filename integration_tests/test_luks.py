"""LUKS2 unlocked through our PKCS#11 library, for real, on a file image (integrations/luks).

The test runs the recipe's commands as written: cryptsetup, pkcs11-tool and systemd-cryptenroll are the real
programs. Only device-mapper activation is left out: ``cryptsetup open --test-passphrase`` runs the whole key path
and stops before the kernel would map the device, which these machines cannot do."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _recipe import INTEGRATIONS, environment, run_steps

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

RECIPE = INTEGRATIONS / "luks" / "README.md"
PASSPHRASE = "change-this-passphrase"


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, str]:
    for program, package in (("cryptsetup", "cryptsetup-bin"), ("pkcs11-tool", "opensc")):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Debian package {package}; .ci/run installs it)")
    return {
        "KEYSTEAD_TOKEN_DIR": str(tmp_path / "etc-keystead"),
        "LUKS_DEVICE": str(tmp_path / "luks-test.img"),
        "RUNTIME_DIR": str(tmp_path / "run"),
    }


def cryptsetup(settings: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["cryptsetup", *args, settings["LUKS_DEVICE"]],
        input=stdin,
        env=environment({}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def keyslots(settings: dict[str, str]) -> list[str]:
    dump = cryptsetup(settings, "luksDump").stdout
    section = dump.split("Keyslots:", 1)[1].split("Tokens:", 1)[0]
    return re.findall(r"^\s+(\d+): luks2$", section, re.MULTILINE)


def test_keyfile_on_the_token_unlocks_the_volume(tmp_path: Path, settings: dict[str, str]):
    run_steps(RECIPE, ["image", "token"], settings, tmp_path)
    assert keyslots(settings) == ["0"]
    run_steps(RECIPE, ["keyfile-enrol"], settings, tmp_path)
    assert keyslots(settings) == ["0", "1"]
    assert list(Path(settings["RUNTIME_DIR"]).iterdir()) == []  # the only copy of the keyfile is on the token
    run_steps(RECIPE, ["keyfile-unlock"], settings, tmp_path)
    assert list(Path(settings["RUNTIME_DIR"]).iterdir()) == []

    # The slot really is the token's keyfile: a wrong keyfile and a wrong PIN both fail.
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(b"\0" * 64)
    refused = cryptsetup(settings, "open", "--test-passphrase", "--key-file", str(wrong))
    assert refused.returncode != 0 and "No key available" in refused.stderr
    bad_pin = dict(settings, TOKEN_PIN="not-the-pin")
    with pytest.raises(AssertionError, match="CKR_PIN_INCORRECT"):
        run_steps(RECIPE, ["keyfile-unlock"], bad_pin, tmp_path)
    # The passphrase slot stays the recovery path.
    assert cryptsetup(settings, "open", "--test-passphrase", "--key-file", "-", stdin=PASSPHRASE).returncode == 0
