"""Access control, for every routed operation (the engine's ``context.authorize`` / ``check_create``).

Every operation the router knows must appear in ``REQUESTS`` below (a test fails otherwise), so a new handler is
covered as soon as it is routed: on another user's object it is Permission Denied without a grant and allowed
with one; a grant to everyone (``*``) allows it too, except Destroy and Revoke, which need a grant naming the user;
owners and administrators are always allowed. Operations that create objects are limited to privileged users when
the server restricts creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kms_backend import crypto
from kms_backend.engine import Engine, EngineConfig, access
from kms_backend.engine.router import ROUTES
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    AdjustmentType,
    CertificateRequestType,
    CryptographicAlgorithm,
    CryptographicUsageMask,
    DerivationMethod,
    EndpointRole,
    HashingAlgorithm,
    InteropFunction,
    ItemType,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    PKCS11Function,
    QueryFunction,
    RecommendedCurve,
    ResultReason,
    RevocationReasonCode,
    SplitKeyMethod,
    Tag,
    UsageLimitsUnit,
)
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes, Struct
from kms_backend.kmip.ttlv import Item
from kms_backend.store.base import EVERYONE
from kms_backend.store.memory import MemoryStore

from .conftest import ADMIN, NOW, OTHER, OWNER, Clock, Kms, create_request

# -- one minimal valid request per operation -------------------------------------------------------------------

#: What every object-level request acts on: a fresh Pre-Active AES key with a few client attributes.
TARGET_ATTRIBUTES = (
    (Tag.COMMENT, "comment"),
    (Tag.OBJECT_GROUP, "group"),
    (Tag.DEACTIVATION_DATE, NOW + 10**6),
)


def _symmetric_key() -> S.SymmetricKey:
    return S.SymmetricKey(
        key_block=S.KeyBlock(
            key_format_type=KeyFormatType.RAW,
            key_value=S.KeyValue(key_material=bytes(range(32))),
            cryptographic_algorithm=CryptographicAlgorithm.AES,
            cryptographic_length=256,
        )
    )


def _key_pair_request() -> S.CreateKeyPairRequest:
    return S.CreateKeyPairRequest(
        common_attributes=Attributes(
            [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA), (Tag.CRYPTOGRAPHIC_LENGTH, 2048)]
        )
    )


def _new_key(kms: Kms) -> str:
    return kms.create_key(*TARGET_ATTRIBUTES)


def _new_private_key(kms: Kms) -> str:
    return str(kms.run(Operation.CREATE_KEY_PAIR, _key_pair_request()).private_key_unique_identifier)


def _active_key_pair(kms: Kms) -> str:
    """An Active pair: Re-key Key Pair replaces only Active pairs (as Cosmian KMS does)."""
    request = _key_pair_request()
    assert request.common_attributes is not None
    request.common_attributes.set(Tag.ACTIVATION_DATE, kms.clock.now)
    return str(kms.run(Operation.CREATE_KEY_PAIR, request).private_key_unique_identifier)


# PKI: a CA (Active key pair and self-signed certificate) in the KMS, and a CSR from outside it.
def _subject(value: str) -> tuple[int, S.VendorAttribute]:
    return (
        Tag.ATTRIBUTE,
        S.VendorAttribute(
            vendor_identification="cosmian",
            attribute_name="subject_name",
            attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, value),
        ),
    )


def _certify(kms: Kms, public: str, *attrs: tuple[int, Any]) -> str:
    request = S.CertifyRequest(unique_identifier=public, attributes=Attributes([_subject("CN=test"), *attrs]))
    return str(kms.run(Operation.CERTIFY, request).unique_identifier)


def _new_certifying_pair(kms: Kms) -> tuple[str, str]:
    request = S.CreateKeyPairRequest(
        common_attributes=Attributes(
            [
                (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.EC),
                (Tag.CRYPTOGRAPHIC_LENGTH, 256),
                (Tag.ACTIVATION_DATE, NOW),
            ]
        )
    )
    response = kms.run(Operation.CREATE_KEY_PAIR, request)
    return str(response.private_key_unique_identifier), str(response.public_key_unique_identifier)


def _new_ca_key(kms: Kms) -> str:
    """The private key of a CA: Certify acts on it (its certificate is read on its authority)."""
    private, public = _new_certifying_pair(kms)
    extension = S.VendorAttribute(
        vendor_identification="cosmian",
        attribute_name="x509-extension",
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, "basicConstraints = critical,CA:TRUE"),
    )
    _certify(kms, public, (Tag.ATTRIBUTE, extension))
    return private


def _new_certificate(kms: Kms) -> str:
    return _certify(kms, _new_certifying_pair(kms)[1])


def _new_open_ca_certificate(kms: Kms) -> str:
    """A certificate issued by a CA whose owner lets everyone have certificates signed (Certify granted to
    everyone on its key): Re-certify is then governed by the right on the certificate alone."""
    ca_key = _new_ca_key(kms)
    access.grant(kms.engine, OWNER, ca_key, EVERYONE, [Operation.CERTIFY])
    link = S.Link(link_type=LinkType.PRIVATE_KEY_LINK, linked_object_identifier=ca_key)
    return _certify(kms, _new_certifying_pair(kms)[1], (Tag.LINK, link))


_CSR_KEY = ec.generate_private_key(ec.SECP256R1())
_CSR = (
    x509.CertificateSigningRequestBuilder()
    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outside")]))
    .sign(_CSR_KEY, hashes.SHA256())
    .public_bytes(serialization.Encoding.DER)
)


# -- cryptographic operations: Active keys and data that verify ---------------------------------------------------

_AES_KEY = bytes(range(32))
_NONCE = bytes(12)
_SEALED = crypto.encrypt(
    _AES_KEY,
    crypto.CipherParams(cryptographic_algorithm=CryptographicAlgorithm.AES),
    b"plaintext",
    iv=_NONCE,
)
_EC_PRIVATE, _EC_PUBLIC = crypto.generate_key_pair(CryptographicAlgorithm.EC, curve=RecommendedCurve.P_256)
_SIGNATURE = crypto.sign(_EC_PRIVATE, crypto.CipherParams(), b"message")


def _register_active(kms: Kms, object_type: ObjectType, obj: Struct) -> str:
    request = S.RegisterRequest(
        object_type=object_type, attributes=Attributes([(Tag.ACTIVATION_DATE, NOW)]), managed_object=obj
    )
    return str(kms.run(Operation.REGISTER, request).unique_identifier)


def _limited_key(kms: Kms) -> str:
    limits = S.UsageLimits(usage_limits_total=100, usage_limits_unit=UsageLimitsUnit.OBJECT)
    return kms.create_key(*TARGET_ATTRIBUTES, (Tag.USAGE_LIMITS, limits))


def _active_key(kms: Kms) -> str:
    return _register_active(kms, ObjectType.SYMMETRIC_KEY, _symmetric_key())


def _ec_block(material: bytes, key_format: KeyFormatType) -> S.KeyBlock:
    return S.KeyBlock(
        key_format_type=key_format,
        key_value=S.KeyValue(key_material=material),
        cryptographic_algorithm=CryptographicAlgorithm.EC,
        cryptographic_length=256,
    )


def _active_private_key(kms: Kms) -> str:
    return _register_active(
        kms, ObjectType.PRIVATE_KEY, S.PrivateKey(key_block=_ec_block(_EC_PRIVATE, KeyFormatType.PKCS_8))
    )


def _active_public_key(kms: Kms) -> str:
    return _register_active(
        kms, ObjectType.PUBLIC_KEY, S.PublicKey(key_block=_ec_block(_EC_PUBLIC, KeyFormatType.X_509))
    )


def _split_part(kms: Kms) -> str:
    """One part of a 1-of-1 split, which alone joins back into the key."""
    response = kms.run(
        Operation.CREATE_SPLIT_KEY,
        S.CreateSplitKeyRequest(
            object_type=ObjectType.SYMMETRIC_KEY,
            split_key_parts=1,
            split_key_threshold=1,
            split_key_method=SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8,
            attributes=Attributes(),
        ),
    )
    return str(response.unique_identifier[0])


def _derive_request(uid: str) -> S.DeriveKeyRequest:
    return S.DeriveKeyRequest(
        object_type=ObjectType.SYMMETRIC_KEY,
        unique_identifier=[uid],
        derivation_method=DerivationMethod.HKDF,
        derivation_parameters=S.DerivationParameters(derivation_data=[b"info"]),
        attributes=Attributes(
            [(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES), (Tag.CRYPTOGRAPHIC_LENGTH, 128)]
        ),
    )


@dataclass(frozen=True)
class Case:
    """How to exercise one operation: ``object`` acts on an existing object, ``create`` makes new objects,
    ``server`` concerns no object, ``asynchronous`` acts on the requester's own pending operations or
    PKCS#11 contexts (tests/provider/test_kmip_pkcs11.py checks another user's refusal)."""

    kind: str
    request: Callable[[str], Struct]
    setup: Callable[[Kms], str] = _new_key


REQUESTS: dict[Operation, Case] = {
    Operation.DISCOVER_VERSIONS: Case("server", lambda _: S.DiscoverVersionsRequest()),
    Operation.QUERY: Case("server", lambda _: S.QueryRequest(query_function=[QueryFunction.QUERY_OPERATIONS])),
    Operation.LOCATE: Case("server", lambda _: S.LocateRequest()),
    Operation.LOG: Case("server", lambda _: S.LogRequest(log_message="access-control")),
    Operation.INTEROP: Case(
        "server",
        lambda _: S.InteropRequest(interop_function=InteropFunction.BEGIN, interop_identifier="access-control"),
    ),
    Operation.CREATE: Case("create", lambda _: create_request()),
    Operation.REGISTER: Case(
        "create",
        lambda _: S.RegisterRequest(
            object_type=ObjectType.SYMMETRIC_KEY, attributes=Attributes(), managed_object=_symmetric_key()
        ),
    ),
    Operation.CREATE_KEY_PAIR: Case("create", lambda _: _key_pair_request()),
    Operation.IMPORT: Case(
        "create",
        lambda hint: S.ImportRequest(
            unique_identifier=f"imported-{hint}",
            object_type=ObjectType.SYMMETRIC_KEY,
            attributes=Attributes(),
            managed_object=_symmetric_key(),
        ),
    ),
    Operation.GET: Case("object", lambda uid: S.GetRequest(unique_identifier=uid)),
    Operation.EXPORT: Case("object", lambda uid: S.ExportRequest(unique_identifier=uid)),
    Operation.GET_ATTRIBUTES: Case("object", lambda uid: S.GetAttributesRequest(unique_identifier=uid)),
    Operation.GET_ATTRIBUTE_LIST: Case("object", lambda uid: S.GetAttributeListRequest(unique_identifier=uid)),
    Operation.ACTIVATE: Case("object", lambda uid: S.ActivateRequest(unique_identifier=uid)),
    Operation.REVOKE: Case(
        "object",
        lambda uid: S.RevokeRequest(
            unique_identifier=uid,
            revocation_reason=S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION),
        ),
    ),
    Operation.DESTROY: Case("object", lambda uid: S.DestroyRequest(unique_identifier=uid)),
    Operation.ADD_ATTRIBUTE: Case(
        "object",
        lambda uid: S.AddAttributeRequest(
            unique_identifier=uid, new_attribute=Attributes([(Tag.OBJECT_GROUP, "another")])
        ),
    ),
    Operation.SET_ATTRIBUTE: Case(
        "object",
        lambda uid: S.SetAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "new")])),
    ),
    Operation.MODIFY_ATTRIBUTE: Case(
        "object",
        lambda uid: S.ModifyAttributeRequest(
            unique_identifier=uid, new_attribute=Attributes([(Tag.COMMENT, "modified")])
        ),
    ),
    Operation.DELETE_ATTRIBUTE: Case(
        "object", lambda uid: S.DeleteAttributeRequest(unique_identifier=uid, attribute_reference=Tag.COMMENT)
    ),
    Operation.ADJUST_ATTRIBUTE: Case(
        "object",
        lambda uid: S.AdjustAttributeRequest(
            unique_identifier=uid,
            attribute_reference=Tag.DEACTIVATION_DATE,
            adjustment_type=AdjustmentType.INCREMENT,
            adjustment_value=Item(Tag.ADJUSTMENT_VALUE, ItemType.INTERVAL, 60),
        ),
    ),
    Operation.ARCHIVE: Case("object", lambda uid: S.ArchiveRequest(unique_identifier=uid)),
    Operation.RECOVER: Case("object", lambda uid: S.RecoverRequest(unique_identifier=uid)),
    Operation.CHECK: Case(
        "object",
        lambda uid: S.CheckRequest(unique_identifier=uid, cryptographic_usage_mask=CryptographicUsageMask.ENCRYPT),
    ),
    Operation.RE_KEY: Case("object", lambda uid: S.ReKeyRequest(unique_identifier=uid)),
    Operation.RE_KEY_KEY_PAIR: Case(
        "object", lambda uid: S.ReKeyKeyPairRequest(private_key_unique_identifier=uid), _active_key_pair
    ),
    Operation.ENCRYPT: Case("object", lambda uid: S.EncryptRequest(unique_identifier=uid, data=b"x"), _active_key),
    Operation.DECRYPT: Case(
        "object",
        lambda uid: S.DecryptRequest(
            unique_identifier=uid,
            data=_SEALED.data,
            iv_counter_nonce=_NONCE,
            authenticated_encryption_tag=_SEALED.tag,
        ),
        _active_key,
    ),
    Operation.SIGN: Case("object", lambda uid: S.SignRequest(unique_identifier=uid, data=b"x"), _active_private_key),
    Operation.SIGNATURE_VERIFY: Case(
        "object",
        lambda uid: S.SignatureVerifyRequest(unique_identifier=uid, data=b"message", signature_data=_SIGNATURE),
        _active_public_key,
    ),
    Operation.MAC: Case("object", lambda uid: S.MACRequest(unique_identifier=uid, data=b"x"), _active_key),
    Operation.MAC_VERIFY: Case(
        "object", lambda uid: S.MACVerifyRequest(unique_identifier=uid, data=b"x", mac_data=bytes(16)), _active_key
    ),
    Operation.DERIVE_KEY: Case("object", _derive_request, _active_key),
    Operation.CREATE_SPLIT_KEY: Case(
        "object",
        lambda uid: S.CreateSplitKeyRequest(
            object_type=ObjectType.SYMMETRIC_KEY,
            unique_identifier=uid,
            split_key_parts=3,
            split_key_threshold=2,
            split_key_method=SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8,
            attributes=Attributes(),
        ),
    ),
    Operation.JOIN_SPLIT_KEY: Case(
        "object",
        lambda uid: S.JoinSplitKeyRequest(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=[uid]),
        _split_part,
    ),
    Operation.HASH: Case(
        "server",
        lambda _: S.HashRequest(
            cryptographic_parameters=S.CryptographicParameters(hashing_algorithm=HashingAlgorithm.SHA_256), data=b"x"
        ),
    ),
    Operation.RNG_RETRIEVE: Case("server", lambda _: S.RNGRetrieveRequest(data_length=16)),
    Operation.RNG_SEED: Case("server", lambda _: S.RNGSeedRequest(data=b"seed")),
    Operation.CERTIFY: Case(
        "object",
        lambda uid: S.CertifyRequest(
            certificate_request_type=CertificateRequestType.PKCS_10,
            certificate_request_value=_CSR,
            attributes=Attributes(
                [(Tag.LINK, S.Link(link_type=LinkType.PRIVATE_KEY_LINK, linked_object_identifier=uid))]
            ),
        ),
        _new_ca_key,
    ),
    Operation.RE_CERTIFY: Case(
        "object", lambda uid: S.ReCertifyRequest(unique_identifier=uid), _new_open_ca_certificate
    ),
    Operation.VALIDATE: Case("object", lambda uid: S.ValidateRequest(unique_identifier=[uid]), _new_certificate),
    Operation.OBTAIN_LEASE: Case("object", lambda uid: S.ObtainLeaseRequest(unique_identifier=uid)),
    Operation.GET_USAGE_ALLOCATION: Case(
        "object",
        lambda uid: S.GetUsageAllocationRequest(unique_identifier=uid, usage_limits_count=1),
        _limited_key,
    ),
    # Asynchronous requests are the submitter's alone; test_asynchronous covers another user's refusal.
    Operation.POLL: Case("asynchronous", lambda _: S.PollRequest(asynchronous_correlation_value=b"\0" * 16)),
    Operation.CANCEL: Case("asynchronous", lambda _: S.CancelRequest(asynchronous_correlation_value=b"\0" * 16)),
    Operation.QUERY_ASYNCHRONOUS_REQUESTS: Case("server", lambda _: S.QueryAsynchronousRequestsRequest()),
    # Unwired in these engines (no PKCS#11 implementation): Operation Not Supported for everyone alike.
    Operation.PKCS_11: Case("asynchronous", lambda _: S.PKCS11Request(pkcs_11_function=PKCS11Function.C_INITIALIZE)),
    Operation.SET_ENDPOINT_ROLE: Case("server", lambda _: S.SetEndpointRoleRequest(endpoint_role=EndpointRole.SERVER)),
}

ROUTED = sorted(ROUTES)
OBJECT_OPERATIONS = [op for op in ROUTED if op in REQUESTS and REQUESTS[op].kind == "object"]
CREATE_OPERATIONS = [op for op in ROUTED if op in REQUESTS and REQUESTS[op].kind == "create"]
SERVER_OPERATIONS = [op for op in ROUTED if op in REQUESTS and REQUESTS[op].kind == "server"]
EXPLICIT_ONLY = {Operation.DESTROY, Operation.REVOKE}


def test_every_routed_operation_has_a_request_here(kms: Kms) -> None:
    missing = [op.name for op in kms.engine.routes if op not in REQUESTS]
    assert not missing, f"add a minimal request for {missing} to REQUESTS so access control covers it"


def _attempt(kms: Kms, operation: Operation, payload: Struct, user: str) -> KmipError | None:
    try:
        kms.run(operation, payload, user)
    except KmipError as exc:
        return exc
    return None


def _allowed(kms: Kms, operation: Operation, uid: str, user: str) -> None:
    error = _attempt(kms, operation, REQUESTS[operation].request(uid), user)
    assert error is None, f"{user} should be allowed {operation.name}: {error!r}"


def _denied(kms: Kms, operation: Operation, uid: str, user: str) -> None:
    error = _attempt(kms, operation, REQUESTS[operation].request(uid), user)
    assert error is not None, f"{user} should not be allowed {operation.name}"
    assert error.reason == ResultReason.PERMISSION_DENIED


# -- operations on objects -------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_another_user_needs_a_grant(kms: Kms, operation: Operation) -> None:
    case = REQUESTS[operation]
    uid = case.setup(kms)
    _denied(kms, operation, uid, OTHER)
    kms.grant(uid, OTHER, [Operation.GET_ATTRIBUTES, Operation.GET])  # other rights do not help
    if operation not in (Operation.GET_ATTRIBUTES, Operation.GET):
        _denied(kms, operation, uid, OTHER)
    kms.grant(uid, OTHER, [operation])
    _allowed(kms, operation, uid, OTHER)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_a_grant_to_everyone(kms: Kms, operation: Operation) -> None:
    uid = REQUESTS[operation].setup(kms)
    kms.grant(uid, EVERYONE, [operation])
    if operation in EXPLICIT_ONLY:
        _denied(kms, operation, uid, OTHER)
    else:
        _allowed(kms, operation, uid, OTHER)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_owner_and_administrators_are_always_allowed(kms: Kms, operation: Operation) -> None:
    _allowed(kms, operation, REQUESTS[operation].setup(kms), OWNER)
    _allowed(kms, operation, REQUESTS[operation].setup(kms), ADMIN)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_a_revoked_grant_no_longer_allows(kms: Kms, operation: Operation) -> None:
    uid = REQUESTS[operation].setup(kms)
    kms.grant(uid, OTHER, [operation])
    access.revoke(kms.engine, OWNER, uid, OTHER, [operation])
    _denied(kms, operation, uid, OTHER)


@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=lambda op: op.name)
def test_refused_requests_change_nothing(kms: Kms, operation: Operation) -> None:
    uid = REQUESTS[operation].setup(kms)
    before = kms.attributes(uid)
    _denied(kms, operation, uid, OTHER)
    assert kms.attributes(uid) == before


def test_denial_through_an_id_placeholder_batch(kms: Kms) -> None:
    uid = _new_key(kms)
    response = kms.batch(
        (Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=uid)),
        (Operation.ACTIVATE, S.ActivateRequest()),
        user=OTHER,
    )
    assert response.batch_item[0].result_reason == ResultReason.PERMISSION_DENIED
    assert len(response.batch_item) == 1


def test_only_owners_and_administrators_grant(kms: Kms) -> None:
    uid = _new_key(kms)
    with pytest.raises(KmipError) as info:
        access.grant(kms.engine, OTHER, uid, OTHER, [Operation.GET])
    assert info.value.reason == ResultReason.PERMISSION_DENIED
    access.grant(kms.engine, ADMIN, uid, OTHER, [Operation.GET])
    _allowed(kms, Operation.GET, uid, OTHER)


# -- operations that create objects ----------------------------------------------------------------------------


@pytest.fixture
def restricted(clock: Clock) -> Kms:
    """A server where only ``alice`` (and administrators) may create objects."""
    store = MemoryStore()
    config = EngineConfig(admin_users=frozenset({ADMIN}), privileged_users=frozenset({OWNER}))
    return Kms(engine=Engine(store, config, clock=clock), clock=clock, store=store)


@pytest.mark.parametrize("operation", CREATE_OPERATIONS, ids=lambda op: op.name)
def test_creation_is_limited_to_privileged_users(restricted: Kms, operation: Operation) -> None:
    request: Callable[[str], Any] = REQUESTS[operation].request  # the argument keeps imported uids apart
    error = _attempt(restricted, operation, request("1"), OTHER)
    assert error is not None
    assert error.reason == ResultReason.PERMISSION_DENIED
    assert list(restricted.store.all_uids()) == []
    assert _attempt(restricted, operation, request("2"), OWNER) is None
    access.set_privileged(restricted.engine, ADMIN, OTHER, True)
    assert _attempt(restricted, operation, request("3"), OTHER) is None


@pytest.mark.parametrize("operation", CREATE_OPERATIONS, ids=lambda op: op.name)
def test_administrators_always_create(restricted: Kms, operation: Operation) -> None:
    assert _attempt(restricted, operation, REQUESTS[operation].request(""), ADMIN) is None


@pytest.mark.parametrize("operation", CREATE_OPERATIONS, ids=lambda op: op.name)
def test_anyone_creates_when_creation_is_not_restricted(kms: Kms, operation: Operation) -> None:
    assert _attempt(kms, operation, REQUESTS[operation].request(""), OTHER) is None


def test_only_administrators_manage_privileged_users(restricted: Kms) -> None:
    with pytest.raises(KmipError) as info:
        access.set_privileged(restricted.engine, OWNER, OTHER, True)
    assert info.value.reason == ResultReason.PERMISSION_DENIED


# -- operations that concern no object -------------------------------------------------------------------------


@pytest.mark.parametrize("operation", SERVER_OPERATIONS, ids=lambda op: op.name)
def test_server_operations_are_open_to_every_user(kms: Kms, operation: Operation) -> None:
    assert _attempt(kms, operation, REQUESTS[operation].request(""), OTHER) is None


def test_rights_on_hsm_keys_need_a_configured_hsm(kms: Kms) -> None:
    from kms_backend.engine import access

    with pytest.raises(KmipError) as exc:
        access.grant(kms.engine, OWNER, "hsm::0::key", OTHER, ["encrypt"])
    assert exc.value.reason == ResultReason.ITEM_NOT_FOUND
