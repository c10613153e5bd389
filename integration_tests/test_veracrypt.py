"""VeraCrypt security-token keyfiles through our PKCS#11 library (integrations/veracrypt).

The token side is real: a ``keystead serve`` with mutual TLS, the recipe's shell steps verbatim (curl, ``keystead
pkcs11 init --url``, pkcs11-tool). VeraCrypt itself cannot be installed here, so its calls are replayed by
``replay/veracrypt_token.c``, compiled here, which lists, reads, imports and deletes keyfiles exactly as VeraCrypt's
SecurityToken code does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _keystead_server import KeysteadProcess
from _recipe import INTEGRATIONS, environment, run_steps
from _veracrypt_header import volume_header

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

RECIPE = INTEGRATIONS / "veracrypt" / "README.md"
HARNESS = Path(__file__).resolve().parent / "replay" / "veracrypt_token.c"
PIN = "change-this-pin"
PASSWORD = "change-this-volume-password"
TCRYPT_DUMP = ["cryptsetup", "tcryptDump", "--veracrypt", "--veracrypt-pim", "1"]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler for the VeraCrypt replay harness")
    binary = tmp_path_factory.mktemp("veracrypt") / "veracrypt_token"
    subprocess.run([compiler, "-O1", "-Wall", "-Werror", "-o", str(binary), str(HARNESS), "-ldl"], check=True)
    return binary


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory):
    process = KeysteadProcess.start(tmp_path_factory.mktemp("kms"), "--http-client-auth", "required")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def workstation(tmp_path: Path, kms: KeysteadProcess) -> dict[str, str]:
    """The recipe's settings pointed at the test KMS and a temporary token directory."""
    assert kms.certs is not None
    return {
        "KEYSTEAD_TOKEN_DIR": str(tmp_path / "token"),
        "KMS_URL": kms.http_url,
        "KMS_CERT": str(kms.certs / "client.pem"),
        "KMS_KEY": str(kms.certs / "client.key"),
        "KMS_CA": str(kms.certs / "ca.pem"),
    }


def library() -> str:
    from c_shim import LIBRARY_PATH

    return str(LIBRARY_PATH)


def veracrypt(harness: Path, settings: dict[str, str], pin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = environment({"KEYSTEAD_PKCS11_CONFIG": str(Path(settings["KEYSTEAD_TOKEN_DIR"]) / "pkcs11.yaml")})
    return subprocess.run(
        [str(harness), library(), pin, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_recipe_keyfiles_from_the_kms_and_the_workstation(tmp_path: Path, workstation: dict[str, str], harness: Path):
    out = run_steps(RECIPE, ["kms-keyfile", "token"], workstation, tmp_path).stdout
    assert "RegisterResponse" in out
    vol1 = out.split("label:          'vol1'", 1)
    assert len(vol1) == 2 and "flags:           modifiable private" in vol1[1]
    run_steps(RECIPE, ["import"], workstation, tmp_path)
    assert not (tmp_path / "laptop.check").exists()  # cmp passed, the check copy was removed

    # Private objects appear only after login: pkcs11-tool without --login lists no keyfile.
    anonymous = subprocess.run(
        ["pkcs11-tool", "--module", library(), "--list-objects", "--type", "data"],
        env=environment({"KEYSTEAD_PKCS11_CONFIG": str(Path(workstation["KEYSTEAD_TOKEN_DIR"]) / "pkcs11.yaml")}),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "vol1" not in anonymous.stdout and "laptop" not in anonymous.stdout

    # VeraCrypt's listing and its two-call reads give back the very bytes of both keyfiles.
    listing = veracrypt(harness, workstation, PIN, "list")
    assert listing.returncode == 0, listing.stderr
    assert set(listing.stdout.split()) >= {"token://slot/1/file/vol1", "token://slot/1/file/laptop"}
    for label, original in (("vol1", "vol1.key"), ("laptop", "laptop.key")):
        exported = tmp_path / f"{label}.exported"
        result = veracrypt(harness, workstation, PIN, "export", label, str(exported))
        assert result.returncode == 0, result.stderr
        assert exported.read_bytes() == (tmp_path / original).read_bytes()
        assert len(exported.read_bytes()) == 64

    wrong = veracrypt(harness, workstation, "wrong-pin", "list")
    assert wrong.returncode == 3 and "CK_RV 0xa0" in wrong.stderr

    # A VeraCrypt volume made with vol1's bytes (header written from the published format: the volume itself
    # cannot be created here), checked offline by cryptsetup with the keyfile the recipe reads from the token.
    if shutil.which("cryptsetup") is None:
        pytest.skip("cryptsetup is not installed (Debian package cryptsetup-bin; .ci/run installs it)")
    volume = tmp_path / "vol1.hc"
    master_key = os.urandom(64)
    header = volume_header(
        PASSWORD.encode(), [(tmp_path / "vol1.key").read_bytes()], master_key, os.urandom(64), 1, 1 << 18
    )
    volume.write_bytes(header + os.urandom(2 * 131072 + (1 << 18) - len(header)))
    settings = workstation | {"VOLUME": str(volume), "VOLUME_PIM": "1"}
    checked = run_steps(RECIPE, ["check-volume"], settings, tmp_path).stdout
    assert re.search(r"VERACRYPT header information", checked), checked
    assert re.search(r"Cipher chain:\s+aes\n", checked) and re.search(r"PBKDF2 hash:\s+sha512", checked)
    assert not (tmp_path / "vol1.check").exists()
    dump = subprocess.run(
        [*TCRYPT_DUMP, "--dump-volume-key", "--batch-mode", "--key-file", str(tmp_path / "vol1.exported"), str(volume)],
        input=PASSWORD,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert master_key.hex() in "".join(dump.stdout.split("MK dump:", 1)[1].split())
    refused = subprocess.run(
        [*TCRYPT_DUMP, "--key-file", str(tmp_path / "laptop.key"), str(volume)],
        input=PASSWORD,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and "Cipher chain" not in refused.stdout


def test_veracrypt_import_list_and_delete(tmp_path: Path, workstation: dict[str, str], harness: Path):
    """--import-token-keyfiles (C_CreateObject, read-back), refusal of a taken label, public objects ignored,
    --delete-token-keyfiles; a keyfile above 1 MiB is read back whole by VeraCrypt's two-call read."""
    run_steps(RECIPE, ["token"], workstation, tmp_path)
    env = environment({"KEYSTEAD_PKCS11_CONFIG": str(Path(workstation["KEYSTEAD_TOKEN_DIR"]) / "pkcs11.yaml")})
    keyfile = tmp_path / "imported.key"
    keyfile.write_bytes(os.urandom(4096))
    result = veracrypt(harness, workstation, PIN, "import", "imported", str(keyfile))
    assert result.returncode == 0, result.stderr
    assert "imported token://slot/1/file/imported (4096 bytes)" in result.stdout
    again = veracrypt(harness, workstation, PIN, "import", "imported", str(keyfile))
    assert again.returncode == 8 and "already on the token" in again.stderr
    # A public data object is not a keyfile for VeraCrypt.
    tool_login = ["pkcs11-tool", "--module", library(), "--login", "--pin", PIN]
    subprocess.run(
        [*tool_login, "--write-object", str(keyfile), "--type", "data", "--label", "public-object"],
        env=env,
        capture_output=True,
        timeout=300,
        check=True,
    )
    listing = veracrypt(harness, workstation, PIN, "list").stdout.split()
    assert "token://slot/1/file/imported" in listing
    assert "token://slot/1/file/public-object" not in listing
    big = tmp_path / "big.key"
    big.write_bytes(os.urandom(1024 * 1024 + 100))
    assert veracrypt(harness, workstation, PIN, "import", "big", str(big)).returncode == 0
    exported = tmp_path / "big.exported"
    assert veracrypt(harness, workstation, PIN, "export", "big", str(exported)).returncode == 0
    assert exported.read_bytes() == big.read_bytes()[: 1024 * 1024]  # only the first MiB of a keyfile counts
    for label in ("imported", "big"):
        assert veracrypt(harness, workstation, PIN, "delete", label).returncode == 0
    listing = veracrypt(harness, workstation, PIN, "list").stdout.split()
    assert "token://slot/1/file/imported" not in listing and "token://slot/1/file/big" not in listing
