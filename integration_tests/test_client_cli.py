"""The Python client and the ``keystead`` client verbs against a running ``keystead serve`` (TLS, KMIP port, API
token): every transport (JSON /kmip/2_1, binary /kmip, the 5696 socket), mutual TLS and bearer tokens, keep-alive,
failover, and each verb's output and exit code. Verbs run in-process through ``kms_backend.cli.main`` (the
quick-start test runs the real console script)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kms_backend import cli
from kms_backend.client import ClientConfig, KmsClient, KmsHttpError, KmsOperationError, object_reference
from kms_backend.kmip._registry_data import ResultReason

try:
    from ._keystead_server import KeysteadProcess, free_port  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess, free_port

pytestmark = pytest.mark.integration

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(
        tmp_path_factory.mktemp("client"), "--http-client-auth", "optional", "--api-tokens", f"{TOKEN}:tokenuser"
    )
    yield process
    assert process.stop() == 0


def tls(server: KeysteadProcess, user: str = "client") -> dict[str, str]:
    assert server.certs is not None
    return {
        "tls_cert": str(server.certs / f"{user}.pem"),
        "tls_key": str(server.certs / f"{user}.key"),
        "tls_ca": str(server.certs / "ca.pem"),
    }


def kmip_url(server: KeysteadProcess) -> str:
    return f"kmip://127.0.0.1:{server.kmip_port}"


@pytest.mark.parametrize("transport", ["json", "binary", "socket"])
def test_every_transport_with_mutual_tls(server: KeysteadProcess, transport: str) -> None:
    url = kmip_url(server) if transport == "socket" else server.http_url
    protocol = "binary" if transport == "binary" else "json"
    with KmsClient(ClientConfig(urls=(url,), protocol=protocol, **tls(server))) as kms:  # type: ignore[arg-type]
        uid = kms.create_symmetric_key(tags=[f"t-{transport}"])
        sealed = kms.encrypt(object_reference(tags=[f"t-{transport}"]), b"payload")
        assert isinstance(sealed.data, bytes)
        plain = kms.decrypt(uid, sealed.data, iv=sealed.iv_counter_nonce, tag=sealed.authenticated_encryption_tag)
        assert plain == b"payload"
        with pytest.raises(KmsOperationError) as failure:
            kms.get("missing-object")
        assert failure.value.reason in (ResultReason.ITEM_NOT_FOUND, ResultReason.OBJECT_NOT_FOUND)
        # Keep-alive: every call above went over one kept connection.
        pool = kms._transports[0]._pool  # type: ignore[attr-defined]
        assert len(pool._idle) == 1
        first = pool._idle[0]
        kms.get(uid)
        assert pool._idle == [first]


def test_bearer_token_and_refusal(server: KeysteadProcess) -> None:
    assert server.certs is not None
    ca = str(server.certs / "ca.pem")
    with KmsClient(ClientConfig(urls=(server.http_url,), tls_ca=ca, token=TOKEN)) as kms:
        uid = kms.create_symmetric_key()
        owned = [row["object_id"] for row in kms.owned()]
        assert uid in owned
    with KmsClient(ClientConfig(urls=(server.http_url,), tls_ca=ca, token="wrong")) as kms:
        with pytest.raises(KmsHttpError) as failure:
            kms.create_symmetric_key()
        assert failure.value.status == 401 and failure.value.reason == ResultReason.AUTHENTICATION_NOT_SUCCESSFUL


def test_failover_skips_a_dead_server(server: KeysteadProcess) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    config = ClientConfig(urls=(dead, server.http_url), retries=0, **tls(server))  # type: ignore[arg-type]
    with KmsClient(config) as kms:
        assert kms.health()["status"] == "UP"
        assert kms._preferred == 1


# -- the verbs ------------------------------------------------------------------------------------------------------
@pytest.fixture
def env(server: KeysteadProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the verbs at the test server through KEYSTEAD_CLI_* variables; returns a work directory."""
    for key in list(os.environ):
        if key.startswith("KEYSTEAD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KEYSTEAD_CLI_URL", server.http_url)
    for name, value in tls(server).items():
        monkeypatch.setenv(f"KEYSTEAD_CLI_{name.upper()}", value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_sym_keys_lifecycle(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sym", "keys", "create", "-t", "life", "--number-of-bits", "128")
    assert code == 0
    uid = out.strip()
    assert run_json(capsys, "sym", "keys", "export", "-k", uid, "-f", "raw", "raw.key")["unique_identifier"] == uid
    assert len((env / "raw.key").read_bytes()) == 16
    run_json(capsys, "sym", "keys", "export", "-t", "life", "-f", "base64", "b64.key")
    assert base64.b64decode((env / "b64.key").read_bytes()) == (env / "raw.key").read_bytes()
    run_json(capsys, "sym", "keys", "export", "-k", uid, "key.json")
    assert json.loads((env / "key.json").read_text())["tag"] == "SymmetricKey"
    imported = run_json(capsys, "sym", "keys", "import", "key.json", "-t", "copy")["unique_identifier"]
    raw_import = run_json(capsys, "sym", "keys", "import", "raw.key", "-f", "raw", "--key-id", "my-raw-key")
    assert raw_import["unique_identifier"] == "my-raw-key"
    for key in (imported, "my-raw-key"):
        run_json(capsys, "sym", "keys", "export", "-k", key, "-f", "raw", "again.key")
        assert (env / "again.key").read_bytes() == (env / "raw.key").read_bytes()
    new = run_json(capsys, "sym", "keys", "re-key", "-k", uid)["unique_identifier"]
    assert new != uid
    assert run_json(capsys, "sym", "keys", "revoke", "-k", uid, "no longer needed")["state"] == "revoked"
    assert run(capsys, "sym", "keys", "export", "-k", uid, "-f", "raw", "-i", "x")[0] == 0  # KMIP Export
    assert (env / "x").read_bytes() == (env / "raw.key").read_bytes()
    assert run_json(capsys, "sym", "keys", "destroy", "-k", uid)["state"] == "destroyed"
    pre = run(capsys, "sym", "keys", "create", "--pre-active")[1].strip()
    assert run_json(capsys, "sym", "keys", "activate", "-k", pre)["state"] == "active"


def test_sym_keys_register_bytes_wrap_unwrap(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    material = os.urandom(32)
    uid = run_json(capsys, "sym", "keys", "create", "--bytes-b64", base64.b64encode(material).decode())
    run_json(capsys, "sym", "keys", "export", "-k", uid["unique_identifier"], "-f", "raw", "k.raw")
    assert (env / "k.raw").read_bytes() == material
    kek = run(capsys, "sym", "keys", "create", "-t", "kek")[1].strip()
    run_json(capsys, "sym", "keys", "wrap", "-t", "kek", "k.raw", "k.wrapped")
    wrapped = (env / "k.wrapped").read_bytes()
    assert len(wrapped) == 40 and material not in wrapped
    run_json(capsys, "sym", "keys", "unwrap", "-k", kek, "k.wrapped", "k.back")
    assert (env / "k.back").read_bytes() == material


@pytest.mark.parametrize("envelope", [[], ["-e", "rfc5649"], ["-e", "aes-gcm", "--protocol", "binary"]])
def test_sym_encrypt_decrypt(env: Path, capsys: pytest.CaptureFixture[str], envelope: list[str]) -> None:
    run_json(capsys, "sym", "keys", "create", "-t", f"file{len(envelope)}")
    data = os.urandom(2 * 1024 * 1024 + 3)
    (env / "data.bin").write_bytes(data)
    tag = ["-t", f"file{len(envelope)}"]
    done = run_json(capsys, "sym", "encrypt", *tag, "-o", "data.enc", "data.bin", *envelope)
    assert done["bytes"] == len(data) and done["mode"] == ("envelope" if envelope else "server")
    run_json(capsys, "sym", "decrypt", *tag, "-o", "data.out", "data.enc")
    assert (env / "data.out").read_bytes() == data


def test_print_kmip_shows_the_exchange(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sym", "keys", "create", "--print-kmip")
    assert code == 0 and out.strip()
    assert '"tag":"RequestMessage"' in err and '"tag":"ResponseMessage"' in err and out.strip() in err


def test_exit_codes_say_what_failed(
    env: Path, server: KeysteadProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (env / "x.enc").write_bytes(b"not ours")
    code, _, err = run(capsys, "sym", "decrypt", "-k", "missing", "-o", "x", "x.enc")
    assert code == 6 and "bad magic" in err
    run_json(capsys, "sym", "keys", "create", "-t", "codes")
    (env / "p.bin").write_bytes(b"abc")
    assert run(capsys, "sym", "encrypt", "-t", "codes", "-o", "p.enc", "p.bin")[0] == 0
    assert run(capsys, "sym", "decrypt", "-t", "absent", "-o", "p.out", "p.enc")[0] == 5
    assert run(capsys, "sym", "encrypt", "-t", "codes", "-o", "p.enc", "no-such-file")[0] == 7
    assert run(capsys, "sym", "encrypt", "-o", "p.enc", "p.bin")[0] == 2  # no key named
    code, _, err = run(capsys, "sym", "keys", "create", "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0")
    assert code == 3 and "no KMS reachable" in err
    monkeypatch.setenv("KEYSTEAD_CLI_TIMEOUT", "soon")
    code, _, err = run(capsys, "sym", "keys", "create")
    assert code == 2 and "KEYSTEAD_CLI_TIMEOUT" in err
    monkeypatch.delenv("KEYSTEAD_CLI_TIMEOUT")
    for name in ("TLS_CERT", "TLS_KEY"):
        monkeypatch.delenv(f"KEYSTEAD_CLI_{name}")
    monkeypatch.setenv("KEYSTEAD_CLI_TOKEN", "bad-token")
    code, _, err = run(capsys, "sym", "keys", "create", "--json")
    assert code == 4 and json.loads(err)["exit_code"] == 4


def ids(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """(private, public) ids of a ``… keys create`` verb."""
    created = run_json(capsys, *argv)
    return created["private_key_id"], created["public_key_id"]


@pytest.mark.parametrize(
    ("family", "create", "crypt"),
    [
        ("rsa", ["-s", "2048"], ["-e", "ckm-rsa-pkcs-oaep"]),
        ("ec", ["-c", "nist-p256"], []),
        ("ec", ["-c", "ed25519"], None),
        ("pqc", ["-a", "ml-dsa-44"], None),
        ("pqc", ["-a", "ml-kem-768"], []),
    ],
)
def test_asymmetric_families(
    env: Path, capsys: pytest.CaptureFixture[str], family: str, create: list[str], crypt: list[str] | None
) -> None:
    private, public = ids(capsys, family, "keys", "create", *create, "-t", f"{family}-{create[-1]}")
    (env / "msg.txt").write_bytes(b"attack at dawn")
    if crypt is not None:
        run_json(capsys, family, "encrypt", "msg.txt", "-k", public, "-o", "msg.enc", *crypt)
        assert (env / "msg.enc").read_bytes() != b"attack at dawn"
        run_json(capsys, family, "decrypt", "msg.enc", "-k", private, "-o", "msg.out", *crypt)
        assert (env / "msg.out").read_bytes() == b"attack at dawn"
    if "ml-kem-768" not in create:
        run_json(capsys, family, "sign", "msg.txt", "-k", private, "-o", "msg.sig")
        assert run_json(capsys, family, "sign-verify", "msg.txt", "msg.sig", "-k", public)["valid"] is True
        (env / "msg.txt").write_bytes(b"attack at dusk")
        code, out, _ = run(capsys, family, "sign-verify", "msg.txt", "msg.sig", "-k", public)
        assert code == 6 and "invalid" in out
    run_json(capsys, family, "keys", "export", "-k", public, "-f", "spki-pem", "pub.pem")
    assert (env / "pub.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    run_json(capsys, family, "keys", "export", "-k", private, "-f", "pkcs8-der", "priv.der")
    if family != "pqc":
        copy = run_json(capsys, family, "keys", "import", "pub.pem", "-f", "pem", "-t", "imported")
        run_json(capsys, family, "keys", "export", "-k", copy["unique_identifier"], "-f", "spki-pem", "again.pem")
        assert (env / "again.pem").read_bytes() == (env / "pub.pem").read_bytes()
    if family == "rsa":
        new_private, _ = ids(capsys, family, "keys", "re-key", "-k", private)
        assert new_private != private
    run_json(capsys, family, "keys", "revoke", "-k", private, "retired")
    run_json(capsys, family, "keys", "destroy", "-k", private)


def test_certificates(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    (env / "ca.ext").write_text("basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n")
    subject = ["-s", "CN=Test CA,O=Keystead", "-d", "30", "-e", "ca.ext"]
    ca = run_json(capsys, "certificates", "certify", "-g", "-a", "nist-p256", *subject)
    ca_id = ca["unique_identifier"]
    run_json(capsys, "certificates", "export", "-k", ca_id, "ca.pem")
    cert = x509.load_pem_x509_certificate((env / "ca.pem").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=Test CA,O=Keystead"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    run_json(capsys, "certificates", "export", "-k", ca_id, "-f", "der", "ca.der")
    assert x509.load_der_x509_certificate((env / "ca.der").read_bytes()) == cert
    leaf = run_json(
        capsys, "certificates", "certify", "-g", "-a", "rsa2048", "-s", "CN=leaf", "-i", ca_id, "-t", "leaf"
    )["unique_identifier"]
    assert run_json(capsys, "certificates", "validate", "-k", leaf, "-k", ca_id)["valid"] is True
    run_json(capsys, "certificates", "export", "-t", "leaf", "-t", "_cert", "-f", "pkcs12", "leaf.p12")
    key, certificate, _chain = pkcs12.load_key_and_certificates((env / "leaf.p12").read_bytes(), None)
    assert key is not None and certificate is not None and certificate.subject.rfc4514_string() == "CN=leaf"
    imported = run_json(capsys, "certificates", "import", "ca.pem", "-t", "copy")["unique_identifier"]
    assert imported != ca_id
    run_json(capsys, "certificates", "revoke", "-k", imported, "superseded", "--code", "superseded")
    run_json(capsys, "certificates", "destroy", "-k", imported)
    code, _, err = run(capsys, "certificates", "validate")
    assert code == 2 and "--certificate-id" in err


def test_secret_data_and_opaque_objects(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    random = run_json(capsys, "secret-data", "create", "-t", "pw")["unique_identifier"]
    run_json(capsys, "secret-data", "export", "-k", random, "-f", "raw", "secret.bin")
    assert len((env / "secret.bin").read_bytes()) == 32
    given = run_json(capsys, "secret-data", "create", "--value", b"hunter2".hex())["unique_identifier"]
    run_json(capsys, "secret-data", "export", "-k", given, "-f", "raw", "given.bin")
    assert (env / "given.bin").read_bytes() == b"hunter2"
    (env / "pin.txt").write_bytes(b"1234")
    pin = run_json(capsys, "secret-data", "import", "pin.txt", "-f", "raw", "-t", "pin")["unique_identifier"]
    assert run_json(capsys, "locate", "-t", "pin") == [pin]
    (env / "blob.bin").write_bytes(b"\x00opaque\xff")
    opaque = run_json(capsys, "opaque-object", "import", "blob.bin", "-f", "raw", "-t", "blob")["unique_identifier"]
    run_json(capsys, "opaque-object", "export", "-t", "blob", "-f", "raw", "blob.out")
    assert (env / "blob.out").read_bytes() == b"\x00opaque\xff"
    run_json(capsys, "opaque-object", "export", "-k", opaque, "blob.json")
    assert json.loads((env / "blob.json").read_text())["tag"] == "OpaqueObject"
    for group, uid in (("secret-data", given), ("opaque-object", opaque)):
        run_json(capsys, group, "revoke", "-k", uid, "done")
        run_json(capsys, group, "destroy", "-k", uid)


def test_locate_and_attributes(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = run(capsys, "sym", "keys", "create", "-t", "findme", "-l", "192")[1].strip()
    private, public = ids(capsys, "ec", "keys", "create", "-t", "findme")
    assert set(run_json(capsys, "locate", "-t", "findme")) == {key, private, public}
    assert run_json(capsys, "locate", "-t", "findme", "-a", "aes", "-l", "192") == [key]
    assert run_json(capsys, "locate", "-t", "findme", "-o", "private-key") == [private]
    assert run_json(capsys, "locate", "-p", public) == [private]
    assert run(capsys, "locate", "-t", "nothing-has-this")[1].strip() == "No object found."
    run_json(capsys, "attributes", "set", "-i", key, "-a", "ContactInformation=ops@example.com", "-a", "Name=db")
    got = run_json(capsys, "attributes", "get", "-k", key)
    assert got["ContactInformation"] == "ops@example.com" and "findme" in got["Tags"]
    run_json(capsys, "attributes", "modify", "-k", key, "-a", "contact-information=sec@example.com")
    only = run_json(capsys, "attributes", "get", "-k", key, "-a", "ContactInformation")
    assert only == {"ContactInformation": "sec@example.com"}
    run_json(capsys, "attributes", "delete", "-k", key, "-a", "ContactInformation")
    assert "ContactInformation" not in run_json(capsys, "attributes", "get", "-k", key)
    run_json(capsys, "attributes", "set", "-k", key, "--set-tag", "renamed")
    assert run_json(capsys, "locate", "-t", "renamed") == [key]
    code, _, err = run(capsys, "attributes", "set", "-k", key, "-a", "NoSuchAttribute=1")
    assert code == 2 and "not a KMIP attribute" in err


def test_access_rights(
    env: Path, server: KeysteadProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = run(capsys, "sym", "keys", "create")[1].strip()
    run_json(capsys, "access-rights", "grant", "user", "-i", key, "get", "encrypt")
    listed = run_json(capsys, "access-rights", "list", key)
    assert listed == [{"user_id": "user", "operations": sorted(listed[0]["operations"])}]
    assert set(listed[0]["operations"]) == {"get", "encrypt"}
    assert key in [row["object_id"] for row in run_json(capsys, "access-rights", "owned")]
    for name, value in tls(server, "user").items():
        monkeypatch.setenv(f"KEYSTEAD_CLI_{name.upper()}", value)
    assert key in [row["object_id"] for row in run_json(capsys, "access-rights", "obtained")]
    run_json(capsys, "sym", "keys", "export", "-k", key, "-f", "raw", "shared.key")
    assert run(capsys, "sym", "keys", "destroy", "-k", key)[0] == 4
    for name, value in tls(server).items():
        monkeypatch.setenv(f"KEYSTEAD_CLI_{name.upper()}", value)
    run_json(capsys, "access-rights", "revoke", "user", "-i", key, "get", "encrypt")
    assert run_json(capsys, "access-rights", "list", key) == []


def test_server_and_utilities(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "server", "version")["version"]
    assert "2.1" in run_json(capsys, "server", "discover-versions")["protocol_versions"]
    assert "CREATE" in run_json(capsys, "server", "query", "operations", "objects")["operation"]
    assert run_json(capsys, "server", "health")["status"] == "UP"
    digest = run_json(capsys, "hash", "--data", b"abc".hex(), "-a", "sha256")["digest"]
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (env / "in.txt").write_bytes(b"abc")
    assert run_json(capsys, "hash", "in.txt", "-a", "sha3-256")["digest"].startswith("3a985da7")
    run_json(capsys, "sym", "keys", "create", "-a", "hmac-sha256", "-t", "mac-key")
    mac = run_json(capsys, "mac", "compute", "-t", "mac-key", "in.txt")["mac"]
    assert run_json(capsys, "mac", "verify", "-t", "mac-key", "in.txt", "--mac", mac)["valid"] is True
    assert run(capsys, "mac", "verify", "-t", "mac-key", "--data", "00", "--mac", mac)[0] == 6
    assert len(bytes.fromhex(run_json(capsys, "rng", "retrieve", "-l", "16")["random"])) == 16
    run_json(capsys, "rng", "retrieve", "-l", "8", "-o", "random.bin")
    assert len((env / "random.bin").read_bytes()) == 8
    assert run_json(capsys, "rng", "seed", "00112233")["bytes_used"] >= 0
    base = run(capsys, "secret-data", "create", "--value", b"password".hex())[1].strip()
    derived = run_json(
        capsys, "derive-key", "-k", base, "-s", "0011", "-i", "1000", "-l", "128", "--new-tag", "derived"
    )["unique_identifier"]
    run_json(capsys, "sym", "keys", "export", "-k", derived, "-f", "raw", "derived.key")
    import hashlib

    assert (env / "derived.key").read_bytes() == hashlib.pbkdf2_hmac("sha256", b"password", b"\x00\x11", 1000, 16)


def state(capsys: pytest.CaptureFixture[str], uid: str) -> str:
    return str(run_json(capsys, "attributes", "get", "-k", uid, "-a", "State")["State"])


@pytest.mark.parametrize(
    ("family", "create", "private_format"),
    [
        ("rsa", ["-s", "2048"], "pkcs8-pem"),
        ("ec", ["-c", "nist-p384"], "pkcs8-pem"),
        ("pqc", ["-a", "ml-dsa-65"], "raw"),
    ],
)
def test_key_pair_import_activate_and_re_key(
    env: Path, capsys: pytest.CaptureFixture[str], family: str, create: list[str], private_format: str
) -> None:
    """The verbs the family test leaves out: import of a private key, activate, and re-key for every family."""
    private, public = ids(capsys, family, "keys", "create", *create)
    run_json(capsys, family, "keys", "export", "-k", private, "-f", private_format, "private.key")
    import_format = "pem" if private_format.endswith("pem") else private_format
    copy = run_json(capsys, family, "keys", "import", "private.key", "-f", import_format, "-t", f"{family}-copy")
    copy_id = copy["unique_identifier"]
    assert copy_id not in (private, public)
    run_json(capsys, family, "keys", "export", "-k", copy_id, "-f", private_format, "again.key")
    assert (env / "again.key").read_bytes() == (env / "private.key").read_bytes()
    if state(capsys, copy_id) != "Active":
        assert run_json(capsys, family, "keys", "activate", "-k", copy_id)["state"] == "active"
    assert state(capsys, copy_id) == "Active"
    code, _, err = run(capsys, family, "keys", "activate", "-k", "no-such-key")
    assert code == 5, err
    new_private, new_public = ids(capsys, family, "keys", "re-key", "-k", private)
    assert new_private != private and new_public != public
    for uid in (new_private, new_public):
        if state(capsys, uid) != "Active":  # KMIP leaves a re-keyed pair Pre-Active unless its dates say otherwise
            assert run_json(capsys, family, "keys", "activate", "-k", uid)["state"] == "active"
    if family != "pqc" or "ml-dsa" in create[-1]:
        (env / "m.txt").write_bytes(b"signed by the new key")
        run_json(capsys, family, "sign", "m.txt", "-k", new_private, "-o", "m.sig")
        assert run_json(capsys, family, "sign-verify", "m.txt", "m.sig", "-k", new_public)["valid"] is True


def test_activate_certificates_secret_data_and_opaque_objects(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certificate = run_json(capsys, "certificates", "certify", "-g", "-a", "nist-p256", "-s", "CN=activate")
    run_json(capsys, "certificates", "export", "-k", certificate["unique_identifier"], "c.pem")
    imported = run_json(capsys, "certificates", "import", "c.pem")["unique_identifier"]
    (env / "s.bin").write_bytes(b"s3cret")
    secret = run_json(capsys, "secret-data", "import", "s.bin", "-f", "raw")["unique_identifier"]
    opaque = run_json(capsys, "opaque-object", "import", "s.bin", "-f", "raw")["unique_identifier"]
    for group, uid in (("certificates", imported), ("secret-data", secret), ("opaque-object", opaque)):
        if state(capsys, uid) != "Active":
            assert run_json(capsys, group, "activate", "-k", uid)["state"] == "active", group
        assert state(capsys, uid) == "Active", group
        revoked = run_json(capsys, group, "revoke", "-k", uid, "test")
        assert revoked["state"] == "revoked", group
        code, _, err = run(capsys, group, "activate", "-k", uid)
        assert code == 1 and err, group  # a revoked object cannot be activated again
