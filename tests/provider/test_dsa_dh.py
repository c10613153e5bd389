"""DSA and PKCS #3 Diffie-Hellman through the provider (Current Mechanisms 3.0 §2.2, §2.5): domain parameters
generated and created as CKO_DOMAIN_PARAMETERS, key pairs made by the KMS on them, DSA signatures and DH derivation
checked against the textbook formulas (no deprecated `cryptography` class is touched here, and the run treats
warnings as errors, so none may escape the provider either)."""

from __future__ import annotations

import functools
import hashlib
import warnings

import pytest

from kms_backend import crypto
from kms_backend.kmip._registry_data import CryptographicAlgorithm
from provider import keys, objects, signatures
from provider.constants import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass, ReturnValue
from provider.library import Library
from provider.mechanisms import MECHANISMS

from .test_library import attribute, boolean, find, rv_of, ulong

A = Attribute
M = Mechanism


def _int(data: bytes | None) -> int:
    assert data is not None
    return int.from_bytes(data, "big")


def _dsa_verifies(p: int, q: int, g: int, y: int, digest: bytes, signature: bytes) -> bool:
    """FIPS 186-4 §4.7 verification, by hand."""
    half = len(signature) // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    if not (0 < r < q and 0 < s < q):
        return False
    z = int.from_bytes(digest[: (q.bit_length() + 7) // 8], "big")
    w = pow(s, -1, q)
    v = (pow(g, z * w % q, p) * pow(y, r * w % q, p)) % p % q
    return v == r


def test_mechanisms_are_listed_with_their_flags():
    assert MECHANISMS[M.DSA_PARAMETER_GEN].flags & MechanismFlag.GENERATE
    assert MECHANISMS[M.DSA_KEY_PAIR_GEN].flags & MechanismFlag.GENERATE_KEY_PAIR
    assert MECHANISMS[M.DSA_SHA256].flags & MechanismFlag.SIGN
    assert MECHANISMS[M.DH_PKCS_DERIVE].flags & MechanismFlag.DERIVE
    assert MECHANISMS[M.DH_PKCS_PARAMETER_GEN].flags & MechanismFlag.GENERATE


def _dsa_parameters(lib: Library, session: int) -> int:
    template = [(A.CLASS, ulong(ObjectClass.DOMAIN_PARAMETERS)), (A.PRIME_BITS, ulong(1024))]
    return keys.generate_key(lib, session, M.DSA_PARAMETER_GEN, template)


def test_dsa_parameters_key_pair_and_signatures(lib: Library, user_session: int):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params = _dsa_parameters(lib, user_session)
        assert _int(attribute(lib, user_session, params, A.PRIME_BITS)) == int.from_bytes(ulong(1024), "big")
        p, q, g = (_int(attribute(lib, user_session, params, a)) for a in (A.PRIME, A.SUBPRIME, A.BASE))
        assert (p.bit_length(), q.bit_length(), (p - 1) % q, pow(g, q, p)) == (1024, 160, 0, 1)
        assert find(lib, user_session, [(A.CLASS, ulong(ObjectClass.DOMAIN_PARAMETERS))]) == [params]
        assert params not in find(lib, user_session, [(A.CLASS, ulong(ObjectClass.DATA))])

        domain = [(a, attribute(lib, user_session, params, a)) for a in (A.PRIME, A.SUBPRIME, A.BASE)]
        public, private = keys.generate_key_pair(
            lib,
            user_session,
            M.DSA_KEY_PAIR_GEN,
            [(A.TOKEN, boolean(True)), *domain],
            [(A.TOKEN, boolean(True)), (A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True))],
        )
        y = _int(attribute(lib, user_session, public, A.VALUE))
        x = _int(attribute(lib, user_session, private, A.VALUE))
        assert pow(g, x, p) == y
        assert _int(attribute(lib, user_session, private, A.SUBPRIME)) == q
        assert attribute(lib, user_session, public, A.KEY_TYPE) == ulong(KeyType.DSA)

        for mechanism, name in ((M.DSA_SHA1, "sha1"), (M.DSA_SHA256, "sha256"), (M.DSA_SHA512, "sha512")):
            signatures.sign_init(lib, user_session, mechanism, None, private)
            signature = signatures.sign(lib, user_session, b"message", 1024)
            assert len(signature) == 40  # r ‖ s, 20 bytes each for a 160-bit subprime
            assert _dsa_verifies(p, q, g, y, hashlib.new(name, b"message").digest(), signature)
            signatures.verify_init(lib, user_session, mechanism, None, public)
            signatures.verify(lib, user_session, b"message", signature)
            signatures.verify_init(lib, user_session, mechanism, None, public)
            assert rv_of(signatures.verify, lib, user_session, b"massage", signature) == ReturnValue.SIGNATURE_INVALID
            signatures.verify_init(lib, user_session, mechanism, None, public)
            assert rv_of(signatures.verify, lib, user_session, b"message", signature[:-1]) == (
                ReturnValue.SIGNATURE_LEN_RANGE
            )

        digest = hashlib.sha256(b"raw").digest()  # CKM_DSA: the caller hashes
        signatures.sign_init(lib, user_session, M.DSA, None, private)
        assert _dsa_verifies(p, q, g, y, digest, signatures.sign(lib, user_session, digest, 1024))
        signatures.sign_init(lib, user_session, M.DSA, None, private)
        assert rv_of(signatures.sign, lib, user_session, b"17 bytes of data!", 1024) == ReturnValue.DATA_LEN_RANGE


def test_dsa_public_key_import_verifies(lib: Library, user_session: int):
    params = _dsa_parameters(lib, user_session)
    domain = [(a, attribute(lib, user_session, params, a)) for a in (A.PRIME, A.SUBPRIME, A.BASE)]
    public, private = keys.generate_key_pair(lib, user_session, M.DSA_KEY_PAIR_GEN, domain, [])
    assert attribute(lib, user_session, private, A.VALUE) is None  # sensitive by default
    imported = objects.create_object(
        lib,
        user_session,
        [
            (A.CLASS, ulong(ObjectClass.PUBLIC_KEY)),
            (A.KEY_TYPE, ulong(KeyType.DSA)),
            *domain,
            (A.VALUE, attribute(lib, user_session, public, A.VALUE)),
        ],
    )
    signatures.sign_init(lib, user_session, M.DSA_SHA224, None, private)
    signature = signatures.sign(lib, user_session, b"certificate body", 1024)
    signatures.verify_init(lib, user_session, M.DSA_SHA224, None, imported)
    signatures.verify(lib, user_session, b"certificate body", signature)
    bad_base = [(A.CLASS, ulong(ObjectClass.PUBLIC_KEY)), (A.KEY_TYPE, ulong(KeyType.DSA))]
    bad_base += [domain[0], domain[1], (A.BASE, b"\x01"), (A.VALUE, b"\x05")]
    assert rv_of(objects.create_object, lib, user_session, bad_base) == ReturnValue.ATTRIBUTE_VALUE_INVALID


def test_dsa_parameter_sizes_and_templates_are_checked(lib: Library, user_session: int):
    gen = M.DSA_PARAMETER_GEN
    odd = [(A.CLASS, ulong(ObjectClass.DOMAIN_PARAMETERS)), (A.PRIME_BITS, ulong(1536))]
    assert rv_of(keys.generate_key, lib, user_session, gen, odd) == ReturnValue.ATTRIBUTE_VALUE_INVALID
    assert rv_of(keys.generate_key, lib, user_session, gen, []) == ReturnValue.TEMPLATE_INCOMPLETE
    secret = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.PRIME_BITS, ulong(1024))]
    assert rv_of(keys.generate_key, lib, user_session, gen, secret) == ReturnValue.TEMPLATE_INCONSISTENT
    # A key pair needs its domain parameters in the public template.
    assert rv_of(keys.generate_key_pair, lib, user_session, M.DSA_KEY_PAIR_GEN, [], []) == (
        ReturnValue.TEMPLATE_INCOMPLETE
    )


def _dh_domain(lib: Library, session: int) -> tuple[int, list[tuple[int, bytes]]]:
    der = crypto.generate_domain_parameters(CryptographicAlgorithm.DH, 512)
    p, g, _q = crypto.decode_domain_parameters(CryptographicAlgorithm.DH, der)
    template = [
        (A.CLASS, ulong(ObjectClass.DOMAIN_PARAMETERS)),
        (A.KEY_TYPE, ulong(KeyType.DH)),
        (A.PRIME, p.to_bytes(64, "big")),
        (A.BASE, g.to_bytes(1, "big")),
    ]
    return objects.create_object(lib, session, template), template[2:]


def test_dh_key_pairs_agree_and_derive_the_same_key(lib: Library, user_session: int):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        params, domain = _dh_domain(lib, user_session)
        assert _int(attribute(lib, user_session, params, A.PRIME_BITS)) == int.from_bytes(ulong(512), "big")
        assert attribute(lib, user_session, params, A.SUBPRIME) is None  # PKCS #3 groups have none
        p = _int(attribute(lib, user_session, params, A.PRIME))
        private_template = [(A.DERIVE, boolean(True)), (A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True))]
        pairs = [
            keys.generate_key_pair(lib, user_session, M.DH_PKCS_KEY_PAIR_GEN, domain, private_template)
            for _ in range(2)
        ]
        ys = [_int(attribute(lib, user_session, public, A.VALUE)) for public, _ in pairs]
        x0 = _int(attribute(lib, user_session, pairs[0][1], A.VALUE))
        shared = pow(ys[1], x0, p).to_bytes(64, "big")
        template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.AES))]
        template += [(A.VALUE_LEN, ulong(16)), (A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True))]
        derived = [
            keys.derive_key(
                lib,
                user_session,
                M.DH_PKCS_DERIVE,
                ys[1 - i].to_bytes(64, "big"),
                base_handle=pairs[i][1],
                raw_template=template,
            )
            for i in range(2)
        ]
        values = [attribute(lib, user_session, d, A.VALUE) for d in derived]
        assert values[0] == values[1] == shared[:16]
        generic = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.SENSITIVE, boolean(False))]
        generic += [(A.EXTRACTABLE, boolean(True))]
        whole = keys.derive_key(
            lib,
            user_session,
            M.DH_PKCS_DERIVE,
            ys[1].to_bytes(64, "big"),
            base_handle=pairs[0][1],
            raw_template=generic,
        )
        assert attribute(lib, user_session, whole, A.VALUE) == shared  # a generic secret is all of Z


@pytest.mark.parametrize("peer", [b"\x01", b"", b"\xff" * 65])
def test_dh_derive_refuses_bad_peer_values(lib: Library, user_session: int, peer: bytes):
    _params, domain = _dh_domain(lib, user_session)
    _public, private = keys.generate_key_pair(
        lib, user_session, M.DH_PKCS_KEY_PAIR_GEN, domain, [(A.DERIVE, boolean(True))]
    )
    template = [(A.CLASS, ulong(ObjectClass.SECRET_KEY)), (A.KEY_TYPE, ulong(KeyType.GENERIC_SECRET))]
    template += [(A.VALUE_LEN, ulong(16))]
    derive = functools.partial(keys.derive_key, base_handle=private, raw_template=template)
    assert rv_of(derive, lib, user_session, M.DH_PKCS_DERIVE, peer) == ReturnValue.MECHANISM_PARAM_INVALID


def test_dh_domain_parameters_template_checks(lib: Library, user_session: int):
    base = [(A.CLASS, ulong(ObjectClass.DOMAIN_PARAMETERS)), (A.KEY_TYPE, ulong(KeyType.DH))]
    assert rv_of(objects.create_object, lib, user_session, [*base, (A.PRIME, b"\x17")]) == (
        ReturnValue.TEMPLATE_INCOMPLETE
    )
    given_bits = [*base, (A.PRIME, b"\x17"), (A.BASE, b"\x05"), (A.PRIME_BITS, ulong(5))]
    assert rv_of(objects.create_object, lib, user_session, given_bits) == ReturnValue.TEMPLATE_INCONSISTENT
    rsa = [(A.CLASS, ulong(ObjectClass.DOMAIN_PARAMETERS)), (A.KEY_TYPE, ulong(KeyType.RSA))]
    assert rv_of(objects.create_object, lib, user_session, [*rsa, (A.PRIME, b"\x17"), (A.BASE, b"\x05")]) == (
        ReturnValue.TEMPLATE_INCONSISTENT
    )
