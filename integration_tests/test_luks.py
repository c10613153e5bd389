"""LUKS2 unlocked through our PKCS#11 library, for real, on a file image (integrations/luks).

The test runs the recipe's commands as written: cryptsetup, pkcs11-tool and systemd-cryptenroll are the real
programs. Only device-mapper activation is left out: ``cryptsetup open --test-passphrase`` runs the whole key path
and stops before the kernel would map the device, which these machines cannot do."""

from __future__ import annotations

import os
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


def _p11kit_user_scope(tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    """Settings and a command wrapper under which p11-kit reads a private module directory: ``$HOME`` points at a
    temporary directory, and as root (p11-kit ignores user configuration for root) the steps run in a user
    namespace as uid 1000, mapped to us, so nothing under /etc changes."""
    home = tmp_path / "home"
    modules = home / ".config/pkcs11/modules"
    settings = {"HOME": str(home), "P11KIT_MODULES_DIR": str(modules)}
    if os.getuid() != 0:
        return settings, []
    wrapper = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    probe = subprocess.run([*wrapper, "true"], capture_output=True, timeout=60, check=False)
    if probe.returncode != 0:
        pytest.skip(
            "running as root without user namespaces: p11-kit reads only /etc/pkcs11/modules, which this test does "
            f"not write ({probe.stderr.decode(errors='replace').strip()})"
        )
    return settings, wrapper


def test_systemd_pkcs11_token_enrols_and_unlocks(tmp_path: Path, settings: dict[str, str]):
    """The Done-when of issue 16: on this Debian machine, the recipe enrols a LUKS2 image with systemd-cryptenroll
    through our library and cryptsetup's systemd token plugin unlocks it (up to device-mapper activation)."""
    if shutil.which("systemd-cryptenroll") is None:
        pytest.skip("systemd-cryptenroll is not installed (Debian package systemd)")
    scope, wrapper = _p11kit_user_scope(tmp_path)
    settings = settings | scope
    listed = run_steps(RECIPE, ["image", "token", "register"], settings, tmp_path, wrapper=wrapper).stdout
    assert "library-manufacturer: Keystead" in listed and "token: luks" in listed, listed
    enrolled = run_steps(RECIPE, ["token-enrol"], settings, tmp_path, wrapper=wrapper)
    assert "New PKCS#11 token enrolled as key slot 1." in enrolled.stderr
    assert "systemd-pkcs11" in enrolled.stdout and "pkcs11-uri: pkcs11:token=luks;id=%" in enrolled.stdout
    assert keyslots(settings) == ["0", "1"]
    unlocked = run_steps(RECIPE, ["token-unlock"], settings, tmp_path, wrapper=wrapper)
    assert "Successfully decrypted key with security token." in unlocked.stderr
    with pytest.raises(AssertionError, match="PIN for token 'luks' is incorrect"):
        run_steps(RECIPE, ["token-unlock"], settings | {"TOKEN_PIN": "wrong-pin"}, tmp_path, wrapper=wrapper)
    # Without the token, the systemd slot's secret is nowhere: the passphrase is the only other way in.
    assert cryptsetup(settings, "open", "--test-passphrase", "--key-file", "-", stdin=PASSPHRASE).returncode == 0
