"""``KmsClient`` over an in-process engine: typed operations, errors with the server's Result Reason, failover and
retries on undelivered requests only, and the layering rule (the client imports no engine, store or server)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kms_backend.client import (
    ClientConfig,
    KmsClient,
    KmsConnectionError,
    KmsOperationError,
    key_attributes,
    object_reference,
    tags_of,
)
from kms_backend.client.client import REQUEST_OPERATIONS
from kms_backend.client.transports import Unreachable
from kms_backend.engine import Engine
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    HashingAlgorithm,
    ObjectType,
    Operation,
    QueryFunction,
    ResultReason,
    State,
    Tag,
)
from kms_backend.kmip.ttlv import Item

from .conftest import EngineTransport

CLIENT_DIR = Path(__file__).resolve().parents[2] / "kms_backend" / "client"


def test_every_2_1_request_payload_has_its_operation() -> None:
    assert REQUEST_OPERATIONS[S.GetRequest] == Operation.GET
    assert REQUEST_OPERATIONS[S.CreateKeyPairRequest] == Operation.CREATE_KEY_PAIR
    assert len(REQUEST_OPERATIONS) >= 50


def test_create_tags_encrypt_decrypt_by_tag(kms: KmsClient) -> None:
    uid = kms.create_symmetric_key(tags=["alpha", "beta"])
    sealed = kms.encrypt(object_reference(tags=["alpha"]), b"hello")
    assert sealed.unique_identifier == uid and sealed.iv_counter_nonce and sealed.authenticated_encryption_tag
    assert isinstance(sealed.data, bytes)
    plain = kms.decrypt(
        object_reference(tags=["alpha", "beta"]),
        sealed.data,
        iv=sealed.iv_counter_nonce,
        tag=sealed.authenticated_encryption_tag,
    )
    assert plain == b"hello"
    attributes = kms.get_attributes(uid)
    assert set(tags_of(attributes)) >= {"alpha", "beta"}
    assert attributes.get(Tag.STATE) == State.ACTIVE


def test_pre_active_key_refuses_encrypt_until_activated(kms: KmsClient) -> None:
    uid = kms.create_symmetric_key(active=False)
    with pytest.raises(KmsOperationError) as failure:
        kms.encrypt(uid, b"x")
    assert failure.value.reason == ResultReason.WRONG_KEY_LIFECYCLE_STATE
    assert failure.value.operation == Operation.ENCRYPT
    assert "Encrypt failed: Wrong Key Lifecycle State" in str(failure.value)
    kms.activate(uid)
    assert kms.encrypt(uid, b"x").data


def test_errors_carry_reason_and_message(kms: KmsClient) -> None:
    with pytest.raises(KmsOperationError) as failure:
        kms.get("no-such-object")
    assert failure.value.reason in (ResultReason.ITEM_NOT_FOUND, ResultReason.OBJECT_NOT_FOUND)
    assert "no-such-object" in failure.value.message


def test_locate_revoke_destroy(kms: KmsClient) -> None:
    first = kms.create_symmetric_key(tags=["group"])
    second = kms.create_symmetric_key(CryptographicAlgorithm.AES, 128, tags=["group"])
    found = kms.locate(key_attributes(tags=["group"]))
    assert set(found) == {first, second}
    assert kms.locate(key_attributes(tags=["group"], length=128)) == [second]
    kms.revoke(first, message="done")
    kms.destroy(first)
    assert kms.get_attributes(first).get(Tag.STATE) == State.DESTROYED


def test_batch_returns_every_item(kms: KmsClient) -> None:
    uid = kms.create_symmetric_key()
    items = kms.batch([S.GetRequest(unique_identifier=uid), S.GetRequest(unique_identifier="missing")])
    assert items[0].result_reason is None and items[1].result_reason == ResultReason.OBJECT_NOT_FOUND


def test_hash_rng_query_versions(kms: KmsClient) -> None:
    digest = kms.hash(b"abc", S.CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256))
    assert digest.hex().startswith("ba7816bf")
    assert len(kms.rng_retrieve(24)) == 24
    assert Operation.ENCRYPT in kms.query([QueryFunction.QUERY_OPERATIONS]).operation
    assert (2, 1) in kms.discover_versions()


def test_attributes_set_modify_delete(kms: KmsClient) -> None:
    uid = kms.create_symmetric_key()
    kms.set_attribute(uid, Tag.CONTACT_INFORMATION, "ops@example.com")
    assert kms.get_attributes(uid, [Tag.CONTACT_INFORMATION]).get(Tag.CONTACT_INFORMATION) == "ops@example.com"
    kms.modify_attribute(uid, Tag.CONTACT_INFORMATION, "sec@example.com")
    assert kms.get_attributes(uid).get(Tag.CONTACT_INFORMATION) == "sec@example.com"
    kms.delete_attribute(uid, Tag.CONTACT_INFORMATION)
    assert kms.get_attributes(uid).get(Tag.CONTACT_INFORMATION) is None


def test_key_pair_sign_verify(kms: KmsClient) -> None:
    common = key_attributes(algorithm=CryptographicAlgorithm.EC, length=256, activation_date=kms.now())
    curve = S.CryptographicDomainParameters(recommended_curve=S.E.RecommendedCurve.P_256)
    common.add(Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS, curve)
    private, public = kms.create_key_pair(common)
    signature = kms.sign(private, b"message")
    assert kms.signature_verify(public, b"message", signature)
    assert not kms.signature_verify(public, b"other", signature)
    assert kms.get(public).object_type == ObjectType.PUBLIC_KEY


class FlakyTransport:
    """Fails ``failures`` times with an undelivered (or delivered) error, then answers through ``inner``."""

    def __init__(self, inner: EngineTransport, failures: int, *, delivered: bool = False, url: str = "test://a"):
        self.inner, self.failures, self.delivered, self.url = inner, failures, delivered, url
        self.calls = 0

    def exchange(self, request: Item, token: str | None = None) -> Item:
        self.calls += 1
        if self.calls <= self.failures:
            raise Unreachable(self.url, "connection refused", delivered=self.delivered)
        return self.inner.exchange(request, token)

    def http(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        raise AssertionError

    def close(self) -> None:
        pass


def test_failover_to_the_next_url_and_stay_there(engine: Engine) -> None:
    down = FlakyTransport(EngineTransport(engine), failures=10**6, url="test://down")
    up = EngineTransport(engine, url="test://up")
    pauses: list[float] = []
    kms = KmsClient(ClientConfig(retries=0), transports=[down, up], sleep=pauses.append)
    kms.create_symmetric_key()
    kms.create_symmetric_key()
    assert down.calls == 1 and up.exchanges == 2 and pauses == []


def test_retries_with_doubling_backoff_then_succeeds(engine: Engine) -> None:
    flaky = FlakyTransport(EngineTransport(engine), failures=2)
    pauses: list[float] = []
    kms = KmsClient(ClientConfig(retries=3, backoff=0.5), transports=[flaky], sleep=pauses.append)
    assert kms.create_symmetric_key()
    assert flaky.calls == 3 and pauses == [0.5, 1.0]


def test_gives_up_after_the_configured_rounds(engine: Engine) -> None:
    flaky = FlakyTransport(EngineTransport(engine), failures=10**6)
    pauses: list[float] = []
    kms = KmsClient(ClientConfig(retries=2, backoff=0.1), transports=[flaky], sleep=pauses.append)
    with pytest.raises(KmsConnectionError, match="no KMS reachable after 3 round"):
        kms.create_symmetric_key()
    assert flaky.calls == 3 and pauses == pytest.approx([0.1, 0.2])


def test_a_possibly_delivered_request_is_never_retried(engine: Engine) -> None:
    flaky = FlakyTransport(EngineTransport(engine), failures=1, delivered=True)
    other = EngineTransport(engine)
    kms = KmsClient(ClientConfig(retries=3), transports=[flaky, other], sleep=lambda _s: None)
    with pytest.raises(KmsConnectionError, match="not retried"):
        kms.create_symmetric_key()
    assert flaky.calls == 1 and other.exchanges == 0


def test_exchange_hook_sees_request_and_response(engine: Engine) -> None:
    seen: list[tuple[Item, Item]] = []
    kms = KmsClient(ClientConfig(), transports=[EngineTransport(engine)], on_exchange=lambda a, b: seen.append((a, b)))
    kms.rng_retrieve(8)
    assert len(seen) == 1 and seen[0][0].tag == Tag.REQUEST_MESSAGE and seen[0][1].tag == Tag.RESPONSE_MESSAGE


def test_the_client_imports_nothing_from_engine_store_or_server() -> None:
    forbidden = ("engine", "store", "server", "hsm", "crypto")
    for path in CLIENT_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                absolute = parts[0] == "kms_backend" and len(parts) > 1 and parts[1] in forbidden
                relative = node.level >= 2 and parts[0] in forbidden
                assert not (absolute or relative), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not any(alias.name.startswith(f"kms_backend.{f}") for f in forbidden), path.name
