"""Session objects (§4.4: CKA_TOKEN defaults to false), certificates (§4.6) and key pair import (§4.8-4.10)."""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, padding, rsa
from cryptography.x509.oid import NameOID

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CertificateType as KmipCertificateType
from kms_backend.kmip._registry_data import LinkType, ObjectType, Operation, RecommendedCurve, Tag
from kms_backend.kmip.schema import Attributes
from kms_backend.store.base import LocateQuery
from provider import keys, objects, sessions, signatures
from provider.attributes import CURVE_PARAMS
from provider.constants import Attribute, CertificateType, KeyType, Mechanism, ObjectClass, ReturnValue, UserType
from provider.library import Library
from provider.mechanisms import Ecdh1Params, EddsaParams
from provider.slots import SLOT_ID

from .conftest import RW, USER_PIN
from .test_library import attribute, boolean, find, rv_of, ulong

A = Attribute
M = Mechanism
RO = 0x4  # CKF_SERIAL_SESSION only


def _certificate(key: ec.EllipticCurvePrivateKey, name: str = "test") -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(0x8123456789)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _cert_template(der: bytes, *extra: tuple[int, bytes]) -> list[tuple[int, bytes]]:
    return [
        (A.CLASS, ulong(ObjectClass.CERTIFICATE)),
        (A.CERTIFICATE_TYPE, ulong(CertificateType.X_509)),
        (A.VALUE, der),
        *extra,
    ]


def test_objects_without_cka_token_are_session_objects_kept_out_of_the_kms(lib: Library, user_session: int):
    assert lib.backend is not None
    store = lib.backend.store  # type: ignore[attr-defined]
    read_only = sessions.open_session(lib, SLOT_ID, RO)
    key = keys.generate_key(lib, read_only, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16))])  # allowed in R/O sessions
    assert attribute(lib, read_only, key, A.TOKEN) == boolean(False)
    with store.transaction() as tx:
        assert tx.locate(LocateQuery()) == []  # nothing reached the KMS's store
    assert find(lib, user_session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))]) == [key]
    token = keys.generate_key(lib, user_session, M.AES_KEY_GEN, [(A.VALUE_LEN, ulong(16)), (A.TOKEN, boolean(True))])
    with store.transaction() as tx:
        assert len(tx.locate(LocateQuery())) == 1
    sessions.close_session(lib, read_only)  # the session object goes with its session
    assert (
        rv_of(objects.get_attribute_value, lib, user_session, key, [(A.TOKEN, 1)]) == ReturnValue.OBJECT_HANDLE_INVALID
    )
    assert find(lib, user_session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))]) == [token]
    token_template = [(A.VALUE_LEN, ulong(16)), (A.TOKEN, boolean(True))]
    read_only = sessions.open_session(lib, SLOT_ID, RO)
    assert rv_of(keys.generate_key, lib, read_only, M.AES_KEY_GEN, token_template) == ReturnValue.SESSION_READ_ONLY


def test_session_pair_signs_and_vanishes_at_close_all(lib: Library, user_session: int):
    public, private = keys.generate_key_pair(
        lib, user_session, M.EC_KEY_PAIR_GEN, [(A.EC_PARAMS, CURVE_PARAMS[RecommendedCurve.P_256])], []
    )
    signatures.sign_init(lib, user_session, M.ECDSA, None, private)
    signature = signatures.sign(lib, user_session, b"\x01" * 100, 1024)  # any length: the leftmost 256 bits
    signatures.verify_init(lib, user_session, M.ECDSA, None, public)
    signatures.verify(lib, user_session, b"\x01" * 100, signature)
    assert lib.in_memory
    sessions.close_all_sessions(lib, SLOT_ID)
    assert not lib.in_memory and not lib.session_objects


def test_certificate_created_found_and_read(lib: Library, user_session: int):
    key = ec.generate_private_key(ec.SECP256R1())
    der = _certificate(key)
    handle = objects.create_object(
        lib, user_session, _cert_template(der, (A.ID, b"\x01\x02"), (A.LABEL, b"mine"), (A.TOKEN, boolean(True)))
    )
    cert = x509.load_der_x509_certificate(der)
    assert attribute(lib, user_session, handle, A.VALUE) == der
    assert attribute(lib, user_session, handle, A.SUBJECT) == cert.subject.public_bytes()
    assert attribute(lib, user_session, handle, A.ISSUER) == cert.issuer.public_bytes()
    assert attribute(lib, user_session, handle, A.SERIAL_NUMBER) == bytes.fromhex("02060081234567 89".replace(" ", ""))
    assert attribute(lib, user_session, handle, A.CHECK_VALUE) == hashlib.sha1(der).digest()[:3]
    assert attribute(lib, user_session, handle, A.CERTIFICATE_TYPE) == ulong(CertificateType.X_509)
    assert attribute(lib, user_session, handle, A.CERTIFICATE_CATEGORY) == ulong(0)
    assert attribute(lib, user_session, handle, A.PRIVATE) == boolean(False)
    assert attribute(lib, user_session, handle, A.TRUSTED) == boolean(False)
    found = find(lib, user_session, [(A.CLASS, ulong(ObjectClass.CERTIFICATE)), (A.ID, b"\x01\x02")])
    assert found == [handle]
    assert find(lib, user_session, [(A.SUBJECT, cert.subject.public_bytes())]) == [handle]
    # stored as a KMIP Certificate
    uid = lib.handles.uid(handle)
    response = lib.run(Operation.GET, S.GetRequest(unique_identifier=uid))
    assert response.object_type == ObjectType.CERTIFICATE and response.managed_object.certificate_value == der


def test_bad_certificates_are_refused(lib: Library, user_session: int):
    der = _certificate(ec.generate_private_key(ec.SECP256R1()))
    assert rv_of(objects.create_object, lib, user_session, _cert_template(b"not DER")) == (
        ReturnValue.ATTRIBUTE_VALUE_INVALID
    )
    wtls = [(A.CLASS, ulong(ObjectClass.CERTIFICATE)), (A.CERTIFICATE_TYPE, ulong(2)), (A.VALUE, der)]
    assert rv_of(objects.create_object, lib, user_session, wtls) == ReturnValue.ATTRIBUTE_VALUE_INVALID
    no_type = [(A.CLASS, ulong(ObjectClass.CERTIFICATE)), (A.VALUE, der)]
    assert rv_of(objects.create_object, lib, user_session, no_type) == ReturnValue.TEMPLATE_INCOMPLETE
    trusted = _cert_template(der, (A.TRUSTED, boolean(True)))
    assert rv_of(objects.create_object, lib, user_session, trusted) == ReturnValue.ATTRIBUTE_READ_ONLY


def test_kms_certificate_shows_its_keys_cka_id(lib: Library, user_session: int):
    public, _private = keys.generate_key_pair(
        lib,
        user_session,
        M.EC_KEY_PAIR_GEN,
        [(A.EC_PARAMS, CURVE_PARAMS[RecommendedCurve.P_256]), (A.TOKEN, boolean(True)), (A.ID, b"\xaa")],
        [(A.TOKEN, boolean(True)), (A.ID, b"\xaa")],
    )
    der = _certificate(ec.generate_private_key(ec.SECP256R1()), "kms")
    attrs = Attributes()
    attrs.add(Tag.LINK, S.Link(link_type=LinkType.PUBLIC_KEY_LINK, linked_object_identifier=lib.handles.uid(public)))
    lib.run(
        Operation.REGISTER,
        S.RegisterRequest(
            object_type=ObjectType.CERTIFICATE,
            attributes=attrs,
            managed_object=S.Certificate(certificate_type=KmipCertificateType.X_509, certificate_value=der),
        ),
    )
    found = find(lib, user_session, [(A.CLASS, ulong(ObjectClass.CERTIFICATE)), (A.ID, b"\xaa")])
    assert len(found) == 1
    assert attribute(lib, user_session, found[0], A.VALUE) == der
    assert attribute(lib, user_session, found[0], A.TOKEN) == boolean(True)


def _ulong_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def test_imported_ec_key_pair_with_named_curve_signs(lib: Library, user_session: int):
    key = ec.generate_private_key(ec.SECP384R1())
    params = CURVE_PARAMS[RecommendedCurve.P_384]
    private = objects.create_object(
        lib,
        user_session,
        [
            (A.CLASS, ulong(ObjectClass.PRIVATE_KEY)),
            (A.KEY_TYPE, ulong(KeyType.EC)),
            (A.EC_PARAMS, params),
            (A.VALUE, key.private_numbers().private_value.to_bytes(48, "big")),
            (A.SIGN, boolean(True)),
        ],
    )
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    public = objects.create_object(
        lib,
        user_session,
        [
            (A.CLASS, ulong(ObjectClass.PUBLIC_KEY)),
            (A.KEY_TYPE, ulong(KeyType.EC)),
            (A.EC_PARAMS, params),
            (A.EC_POINT, b"\x04" + bytes([len(point)]) + point),
        ],
    )
    assert attribute(lib, user_session, private, A.EC_PARAMS) == params
    signatures.sign_init(lib, user_session, M.ECDSA_SHA256, None, private)
    signature = signatures.sign(lib, user_session, b"message", 1024)
    signatures.verify_init(lib, user_session, M.ECDSA_SHA256, None, public)
    signatures.verify(lib, user_session, b"message", signature)
    signatures.verify_init(lib, user_session, M.ECDSA_SHA256, None, public)
    assert rv_of(signatures.verify, lib, user_session, b"other", signature) == ReturnValue.SIGNATURE_INVALID
    bad = [(A.CLASS, ulong(ObjectClass.PUBLIC_KEY)), (A.KEY_TYPE, ulong(KeyType.EC)), (A.EC_PARAMS, params)]
    assert rv_of(objects.create_object, lib, user_session, [*bad, (A.EC_POINT, b"\x04\x03abc")]) == (
        ReturnValue.ATTRIBUTE_VALUE_INVALID
    )


def test_imported_rsa_key_pair_signs(lib: Library, user_session: int):
    key = rsa.generate_private_key(65537, 2048)
    n = key.private_numbers()
    common = [(A.MODULUS, _ulong_bytes(n.public_numbers.n)), (A.PUBLIC_EXPONENT, _ulong_bytes(n.public_numbers.e))]
    private = objects.create_object(
        lib,
        user_session,
        [
            (A.CLASS, ulong(ObjectClass.PRIVATE_KEY)),
            (A.KEY_TYPE, ulong(KeyType.RSA)),
            *common,
            (A.PRIVATE_EXPONENT, _ulong_bytes(n.d)),
            (A.PRIME_1, _ulong_bytes(n.p)),
            (A.PRIME_2, _ulong_bytes(n.q)),
            (A.EXPONENT_1, _ulong_bytes(n.dmp1)),
            (A.EXPONENT_2, _ulong_bytes(n.dmq1)),
            (A.COEFFICIENT, _ulong_bytes(n.iqmp)),
        ],
    )
    signatures.sign_init(lib, user_session, M.SHA256_RSA_PKCS, None, private)
    signature = signatures.sign(lib, user_session, b"message", 1024)
    key.public_key().verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())
    assert attribute(lib, user_session, private, A.PRIVATE_EXPONENT) is None  # sensitive by default


def test_ed448_key_pair_signs(lib: Library, user_session: int):
    params = CURVE_PARAMS[RecommendedCurve.CURVEED448]
    public, private = keys.generate_key_pair(lib, user_session, M.EC_EDWARDS_KEY_PAIR_GEN, [(A.EC_PARAMS, params)], [])
    pure = EddsaParams(0, b"")
    signatures.sign_init(lib, user_session, M.EDDSA, pure, private)
    signature = signatures.sign(lib, user_session, b"message", 1024)
    point = objects.public_values(lib, objects.object_view(lib, public))[A.EC_POINT]
    ed448.Ed448PublicKey.from_public_bytes(point[2:]).verify(signature, b"message")
    assert rv_of(signatures.sign_init, lib, user_session, M.EDDSA, EddsaParams(1, b""), private) == (
        ReturnValue.MECHANISM_PARAM_INVALID
    )


def test_ecdh_derive_between_session_keys(lib: Library, user_session: int):
    pairs = [
        keys.generate_key_pair(
            lib,
            user_session,
            M.EC_KEY_PAIR_GEN,
            [(A.EC_PARAMS, CURVE_PARAMS[RecommendedCurve.P_192])],
            [(A.DERIVE, boolean(True))],
        )
        for _ in range(2)
    ]
    points = [objects.public_values(lib, objects.object_view(lib, p))[A.EC_POINT] for p, _ in pairs]
    template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET))]
    template += [(A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True))]
    derived = [
        keys.derive_key(
            lib,
            user_session,
            M.ECDH1_DERIVE,
            Ecdh1Params(1, b"", points[1 - i]),
            base_handle=pairs[i][1],
            raw_template=template,
        )
        for i in range(2)
    ]
    assert attribute(lib, user_session, derived[0], A.VALUE) == attribute(lib, user_session, derived[1], A.VALUE)
    assert all(lib.handles.uid(d) in lib.in_memory for d in derived)


def test_session_key_copied_to_a_token_object_keeps_its_public_values(lib: Library, user_session: int):
    """Java's keystore generates session keys and stores them with C_CopyObject(CKA_TOKEN true)."""
    _public, private = keys.generate_key_pair(
        lib, user_session, M.RSA_PKCS_KEY_PAIR_GEN, [(A.MODULUS_BITS, ulong(2048))], [(A.SIGN, boolean(True))]
    )
    modulus = attribute(lib, user_session, private, A.MODULUS)
    copy = objects.copy_object(lib, user_session, private, [(A.TOKEN, boolean(True)), (A.ID, b"\x07")])
    assert lib.handles.uid(copy) not in lib.in_memory
    sessions.close_all_sessions(lib, SLOT_ID)  # the session pair is gone; the token copy stays and works
    session = sessions.open_session(lib, SLOT_ID, RW)
    sessions.login(lib, session, UserType.USER, USER_PIN)
    assert find(lib, session, [(A.ID, b"\x07")]) == [copy]
    assert attribute(lib, session, copy, A.MODULUS) == modulus
    assert attribute(lib, session, copy, A.TOKEN) == boolean(True)
    signatures.sign_init(lib, session, M.SHA256_RSA_PKCS, None, copy)
    assert len(signatures.sign(lib, session, b"data", 1024)) == 256
