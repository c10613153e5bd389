"""The real products of the PKCS#11 recipes, in containers, wherever a Docker engine runs: LUKS2 with device-mapper
activation (which this machine kind cannot do), VeraCrypt's own console program creating and mounting a volume with
a keyfile kept on the token, and Oracle Database opening its HSM keystore through the library.

Each container is a host where Keystead is installed as its README says (``make setup`` in a checkout of this tree),
and each test runs its recipe's named steps (integrations/*/README.md) in it, then what the product does for real.
Without an engine (this machine has only the docker CLI, no daemon), or where a base image or package cannot be
fetched, each test skips and says which; the tests in test_luks.py, test_veracrypt.py and test_oracle_tde.py cover
the same recipes then (real programs where they run here, the products' exact PKCS#11 call sequences otherwise).
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

try:
    from ._docker import (  # type: ignore[import-not-found,unused-ignore]
        KEYSTEAD_HOST,
        build_image,
        cleanup,
        engine,
        image,
        run_script,
        source_archive,
        wait_for_log,
    )
    from ._keystead_server import KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
    from ._recipe import INTEGRATIONS, fenced_blocks, steps  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _docker import KEYSTEAD_HOST, build_image, cleanup, engine, image, run_script, source_archive, wait_for_log
    from _keystead_server import KeysteadProcess
    from _recipe import INTEGRATIONS, fenced_blocks, steps

__all__ = ["cleanup", "engine"]  # fixtures used by name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOST_IMAGE = "keystead-test/host:bookworm"
#: VeraCrypt's console build for Debian 12, from its release page.
VERACRYPT_DEB = os.environ.get(
    "KEYSTEAD_VERACRYPT_DEB",
    "https://launchpad.net/veracrypt/trunk/1.26.20/+download/veracrypt-console-1.26.20-Debian-12-amd64.deb",
)
#: Oracle Database Free (23ai) on Oracle Linux; any image of the gvenzl/oracle-free family layout works.
ORACLE_IMAGE = os.environ.get("KEYSTEAD_ORACLE_IMAGE", "gvenzl/oracle-free:23-slim")


def recipe_script(recipe: str, names: list[str], extra: str = "") -> str:
    """The recipe's ``settings`` step, then ``names`` in order, then ``extra``: one script, as a person would paste."""
    found = steps(INTEGRATIONS / recipe / "README.md")
    return "\n".join([found["settings"], *(found[name] for name in names), extra])


def veracrypt_commands() -> str:
    """The recipe's section 4: the ``veracrypt`` commands a user runs (list, create, mount)."""
    blocks = fenced_blocks(INTEGRATIONS / "veracrypt" / "README.md", "sh")
    return next(block for block in blocks if "veracrypt --text --create" in block)


def oracle_sql() -> tuple[str, str, list[str]]:
    """The Oracle recipe's SQL: before the restart, after it, then the tablespace, verify and rotate blocks."""
    blocks = fenced_blocks(INTEGRATIONS / "oracle-tde" / "README.md", "sql")
    wallet_root, after_restart = blocks[0].split("-- restart the instance, then:")
    return wallet_root, after_restart, blocks[1:4]


def test_what_the_container_tests_run_is_in_the_recipes() -> None:
    """Runs everywhere: the steps, blocks and files the container tests take from the recipes and the checkout are
    there, so a recipe edit cannot silently break the tests that only run where Docker does."""
    assert "luksFormat" in recipe_script("luks", ["image", "token-unlock"])
    assert "--keyfiles token://slot/1/file/vol1" in veracrypt_commands()
    assert "check-volume" in steps(INTEGRATIONS / "veracrypt" / "README.md")
    wallet_root, after_restart, rest = oracle_sql()
    assert "WALLET_ROOT" in wallet_root and "SET KEYSTORE OPEN" in after_restart
    assert "CREATE TABLESPACE" in rest[0] and "V$ENCRYPTION_WALLET" in rest[1] and "USING TAG 'rotated'" in rest[2]
    with tarfile.open(fileobj=io.BytesIO(source_archive())) as archive:
        names = archive.getnames()
    assert {"keystead/Makefile", "keystead/requirements.lock", "keystead/c_shim/build.py"} <= set(names)
    assert not any(name.startswith(("keystead/.venv/", "keystead/data/")) for name in names)


def host_container(client: Any, cleanup: list[Any], **options: Any) -> Any:
    container = client.containers.run(
        build_image(client, HOST_IMAGE, KEYSTEAD_HOST), ["sleep", "infinity"], detach=True, **options
    )
    cleanup.append(container)
    return container


def test_luks_activation_by_keyfile_and_by_systemd_token(engine: Any, cleanup: list[Any]) -> None:
    """Every step of integrations/luks, then what the sandbox cannot do: map the device with the keyfile read from
    the token, make a file system on it, and map it again through systemd's PKCS#11 token (``--token-only``)."""
    container = host_container(engine, cleanup, privileged=True, working_dir="/root")
    activation = """
pkcs11-tool --module "$(keystead pkcs11 path)" --login --pin "$TOKEN_PIN" \\
  --read-object --type data --label luks-keyfile -o "$RUNTIME_DIR/luks.key"
cryptsetup open --key-file "$RUNTIME_DIR/luks.key" "$LUKS_DEVICE" keystead-a
shred -u "$RUNTIME_DIR/luks.key"
mkfs.ext4 -q /dev/mapper/keystead-a
cryptsetup close keystead-a
printf '%s\\n' "$TOKEN_PIN" | cryptsetup open --token-only "$LUKS_DEVICE" keystead-b
blkid -o value -s TYPE /dev/mapper/keystead-b
cryptsetup close keystead-b
"""
    names = ["image", "token", "keyfile-enrol", "keyfile-unlock", "register", "token-enrol", "token-unlock"]
    output = run_script(container, recipe_script("luks", names, activation))
    assert output.rstrip().endswith("ext4"), output[-2000:]


def test_veracrypt_creates_and_mounts_with_a_token_keyfile(
    engine: Any, cleanup: list[Any], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """integrations/veracrypt with VeraCrypt itself: the keyfile registered in the KMS, the token made with
    ``--url``, then the recipe's ``veracrypt`` commands (list, create, mount), a dismount, and cryptsetup's check."""
    dockerfile = f"""FROM {build_image(engine, HOST_IMAGE, KEYSTEAD_HOST)}
RUN curl -fsSLo /tmp/veracrypt.deb {VERACRYPT_DEB} && apt-get install -y -qq /tmp/veracrypt.deb >/dev/null
"""
    tag = build_image(engine, "keystead-test/veracrypt:bookworm", dockerfile)
    kms = KeysteadProcess.start(tmp_path_factory.mktemp("kms"), "--http-client-auth", "required")
    try:
        assert kms.certs is not None
        container = engine.containers.run(
            tag,
            ["sleep", "infinity"],
            detach=True,
            privileged=True,  # FUSE and the device mapper, for the mount
            network_mode="host",
            volumes={str(kms.certs): {"bind": "/certs", "mode": "ro"}},
            working_dir="/root",
        )
        cleanup.append(container)
        env = {
            "KMS_URL": kms.http_url,
            "KMS_CERT": "/certs/client.pem",
            "KMS_KEY": "/certs/client.key",
            "KMS_CA": "/certs/ca.pem",
            "VOLUME": "/root/vol1.hc",
        }
        section_4 = veracrypt_commands()
        mount = "mkdir -p /mnt/vol1\n" + section_4 + "\nmountpoint /mnt/vol1\nveracrypt --text -d /mnt/vol1\n"
        output = run_script(
            container,
            recipe_script("veracrypt", ["kms-keyfile", "token", "import"], mount)
            + "\n"
            + steps(INTEGRATIONS / "veracrypt" / "README.md")["check-volume"],
            env,
        )
        assert "token://slot/1/file/vol1" in output, output[-2000:]
    finally:
        assert kms.stop() == 0


ORACLE_ON_KEYSTEAD = """\
FROM {base}
USER root
RUN (microdnf install -y python3.11 python3.11-devel gcc make git opensc tar gzip || \\
     dnf install -y python3.11 python3.11-devel gcc make git opensc tar gzip) && \\
    (microdnf clean all || dnf clean all)
COPY keystead /opt/keystead
RUN cd /opt/keystead && make setup PYTHON=python3.11 && chown -R oracle /opt/keystead && \\
    mkdir -p /opt/oracle/extapi /var/lib/keystead /var/backups && \\
    chown oracle /opt/oracle/extapi /var/lib/keystead /var/backups
ENV PATH=/opt/keystead/.venv/bin:$PATH
USER oracle
"""


def sqlplus(container: Any, sql: str) -> str:
    script = f"sqlplus -S / as sysdba <<'SQL'\nWHENEVER SQLERROR EXIT FAILURE\nSET HEADING OFF\n{sql}\nEXIT\nSQL\n"
    return run_script(container, script, user="oracle")


def test_oracle_opens_its_hsm_keystore_on_the_token(engine: Any, cleanup: list[Any]) -> None:
    """integrations/oracle-tde with Oracle Database itself: the recipe's token and library steps as ``oracle``, its
    SQL (WALLET_ROOT, restart, HSM keystore, master key, an encrypted tablespace, rotation), then its checks."""
    tag = build_image(engine, "keystead-test/oracle-free", ORACLE_ON_KEYSTEAD.format(base=image(engine, ORACLE_IMAGE)))
    container = engine.containers.run(tag, detach=True, environment={"ORACLE_PASSWORD": "Keystead-test-1"})
    cleanup.append(container)
    wait_for_log(container, r"DATABASE IS READY TO USE")
    link = 'mkdir -p ~/.config/keystead && ln -sf "$KEYSTEAD_PKCS11_CONFIG" ~/.config/keystead/pkcs11.yaml\n'
    run_script(container, recipe_script("oracle-tde", ["token", "check"], link), user="oracle")
    wallet_root, after_restart, (tablespace, verify, rotate) = oracle_sql()
    run_script(container, "mkdir -p /opt/oracle/admin/ORCL/wallet", user="oracle")
    sqlplus(container, wallet_root + "\nSHUTDOWN IMMEDIATE\nSTARTUP")
    sqlplus(container, after_restart)
    sqlplus(container, tablespace)
    status = sqlplus(container, verify)
    assert "HSM" in status and "OPEN" in status, status
    sqlplus(container, rotate)
    objects = run_script(container, recipe_script("oracle-tde", ["verify"]), user="oracle")
    assert objects.count("ORACLE.TDE.HSM.MK.") >= 2, objects  # the first and the rotated master key
