"""Cosmian's own Python client, ``cosmian-kms`` 4.22.1 from PyPI (the last release with Python bindings: a PyO3
build of Cosmian's Rust client speaking the 4.x JSON dialect), against ``keystead serve``: create a key with tags,
encrypt and decrypt, encrypt and decrypt by tag, get, revoke, destroy, and get of the destroyed key.

Each scenario runs in its own interpreter: the client's PyO3 runtime can crash while the interpreter shuts down
after a successful call (seen with 4.22.1), so the scenario prints its results as JSON and leaves with
``os._exit``. The server's own JSON (5.x) answers are used to check what the 4.x client saw.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

try:
    from ._keystead_server import KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import KeysteadProcess

pytestmark = pytest.mark.integration

try:
    import cosmian_kms  # noqa: F401
except ImportError:
    # The only wheel of 4.22.1 is cp37-abi3-manylinux_2_34_x86_64 (no sdist): other platforms cannot install it.
    pytest.skip(
        f"cosmian-kms 4.22.1 has no wheel for {platform.machine()} / {platform.libc_ver()} (only manylinux_2_34 "
        "x86_64 exists)",
        allow_module_level=True,
    )

SCENARIO = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from cosmian_kms import KmsClient

    url, tag = sys.argv[1], sys.argv[2]  # then "use" <5.x-created key> | "retire" <key>
    out = {}

    async def step(name, call):
        try:
            out[name] = {"ok": await call}
        except Exception as exc:  # the client raises plain Exception with the server's answer in it
            out[name] = {"error": str(exc)}
        return out[name].get("ok")

    async def use(client):
        uid = await step("create", client.create_symmetric_key(256, "AES", tags=[tag, "cosmian-it"]))
        enc = await client.encrypt(b"attack at dawn", uid)
        out["encrypt"] = {
            "uid": enc.unique_identifier(), "data": bytes(enc.data()).hex(),
            "iv": bytes(enc.iv_counter_nonce()).hex(), "tag": bytes(enc.authenticated_encryption_tag()).hex(),
        }
        plain = await client.decrypt(enc.data(), uid, enc.iv_counter_nonce(), enc.authenticated_encryption_tag())
        out["decrypt"] = bytes(plain).hex()
        by_tag = await client.encrypt(b"by tag", [tag])
        out["encrypt_by_tag"] = {"uid": by_tag.unique_identifier()}
        plain = await client.decrypt(
            by_tag.data(), [tag], by_tag.iv_counter_nonce(), by_tag.authenticated_encryption_tag()
        )
        out["decrypt_by_tag"] = bytes(plain).hex()
        obj = await client.get_object(uid)
        out["get"] = {"type": obj.object_type(), "key": bytes(obj.key_block()).hex()}
        got = await client.get_object(sys.argv[4])
        out["get_5x_created"] = {"type": got.object_type(), "key": bytes(got.key_block()).hex()}

    async def retire(client, uid):
        await step("revoke", client.revoke_key("key no longer needed", uid))
        await step("destroy", client.destroy_key(uid))
        try:
            await client.get_object(uid)
            out["get_destroyed"] = {"ok": True}
        except Exception as exc:
            out["get_destroyed"] = {"error": str(exc)}

    async def main():
        client = KmsClient(url)
        if sys.argv[3] == "use":
            await use(client)
        else:
            await retire(client, sys.argv[4])

    try:
        asyncio.run(main())
    except Exception as exc:
        out["failed"] = repr(exc)
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)
    """
)


def run_scenario(url: str, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", SCENARIO, url, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout, f"the scenario printed nothing (rc {result.returncode}): {result.stderr[-2000:]}"
    outcome: dict[str, Any] = json.loads(result.stdout)
    assert "failed" not in outcome, outcome
    return outcome


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("cosmian-kms"), tls=False)
    yield process
    assert process.stop() == 0


def kmip_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One bare operation in the 5.x dialect (no ``type`` on Structures), as ``ckms`` sends it."""
    response = httpx.post(f"{url}/kmip/2_1", json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def field(node: dict[str, Any], tag: str) -> Any:
    """The value of the first node tagged ``tag`` in a JSON TTLV tree."""
    if node.get("tag") == tag:
        return node["value"]
    for child in node.get("value") or []:
        if isinstance(child, dict):
            found = field(child, tag)
            if found is not None:
                return found
    return None


def test_cosmian_kms_4_22_client_end_to_end(server: KeysteadProcess) -> None:
    url = server.http_url
    tag = f"cosmian-{uuid.uuid4().hex[:8]}"
    # A key made by a 5.x client (Raw by default on Get) that the 4.x client must read too.
    created = kmip_json(
        url,
        {
            "tag": "Create",
            "value": [
                {"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"},
                {
                    "tag": "Attributes",
                    "value": [
                        {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
                        {"tag": "CryptographicLength", "type": "Integer", "value": 128},
                        {"tag": "ActivationDate", "type": "DateTime", "value": "2024-01-01T00:00:00Z"},
                    ],
                },
            ],
        },
    )
    other = field(created, "UniqueIdentifier")
    out = run_scenario(url, tag, "use", other)

    uid = out["create"]["ok"]
    assert isinstance(uid, str) and uid
    # Encrypt: AES-GCM, a 12-byte nonce and 16-byte tag the 4.x client read (IvCounterNonce), and it decrypts.
    assert out["encrypt"]["uid"] == uid
    assert len(bytes.fromhex(out["encrypt"]["iv"])) == 12 and len(bytes.fromhex(out["encrypt"]["tag"])) == 16
    assert bytes.fromhex(out["decrypt"]) == b"attack at dawn"
    # The tags arrived (4.x nests them as VendorAttributes of hex-encoded bytes): the key is found by its tag.
    assert out["encrypt_by_tag"]["uid"] == uid and bytes.fromhex(out["decrypt_by_tag"]) == b"by tag"
    # The 4.x client's ciphertext decrypts with a 5.x request: the same key, standard AES-GCM.
    decrypted = kmip_json(
        url,
        {
            "tag": "Decrypt",
            "value": [
                {"tag": "UniqueIdentifier", "type": "TextString", "value": uid},
                {"tag": "Data", "type": "ByteString", "value": out["encrypt"]["data"].upper()},
                {"tag": "IVCounterNonce", "type": "ByteString", "value": out["encrypt"]["iv"].upper()},
                {"tag": "AuthenticatedEncryptionTag", "type": "ByteString", "value": out["encrypt"]["tag"].upper()},
            ],
        },
    )
    assert bytes.fromhex(field(decrypted, "Data")) == b"attack at dawn"

    # Get: the same key bytes a 5.x Get returns (32 bytes), and a 5.x-created key read in the 4.x shapes.
    def raw_key(key_id: str) -> bytes:
        got = kmip_json(
            url,
            {
                "tag": "Get",
                "value": [
                    {"tag": "UniqueIdentifier", "type": "TextString", "value": key_id},
                    {"tag": "KeyFormatType", "type": "Enumeration", "value": "Raw"},
                ],
            },
        )
        return bytes.fromhex(field(got, "KeyMaterial"))

    assert out["get"]["type"] == "SymmetricKey"
    assert bytes.fromhex(out["get"]["key"]) == raw_key(uid) and len(raw_key(uid)) == 32
    assert out["get_5x_created"]["type"] == "SymmetricKey"
    assert bytes.fromhex(out["get_5x_created"]["key"]) == raw_key(other) and len(raw_key(other)) == 16
    # Revoke (4.x sends the reason as bare text), Destroy, then Get of the destroyed key fails with the reason.
    out = run_scenario(url, tag, "retire", uid)
    assert out["revoke"]["ok"] == uid and out["destroy"]["ok"] == uid
    assert "error" in out["get_destroyed"], out["get_destroyed"]
    assert "destroyed" in out["get_destroyed"]["error"].lower()
    state = kmip_json(
        url,
        {
            "tag": "GetAttributes",
            "value": [
                {"tag": "UniqueIdentifier", "type": "TextString", "value": uid},
                {"tag": "AttributeReference", "type": "Enumeration", "value": "State"},
            ],
        },
    )
    assert field(state, "State") == "Destroyed"
