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
