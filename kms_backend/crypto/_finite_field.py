"""DSA (FIPS 186-4 §4) and finite-field Diffie-Hellman (PKCS #3; SP 800-56A §5.7.1.1 FFC DH), on `cryptography`.

`cryptography` 51 deprecates both: it warns when their classes are named, their parameters built or their keys
loaded. Clients still bring such keys (PKCS#11 applications generate DSA and DH pairs, and X.509 certificates signed
with DSA are verified), so they keep working, and every use here happens inside :func:`quiet`, so that no
deprecation warning reaches the server's log, a PKCS#11 host application or a test run with warnings as errors.
Nothing outside this module names the deprecated classes, and it imports them only when a key of theirs is in play.

Domain parameters travel as DER: DSA as RFC 3279 ``Dss-Parms`` (p, q, g), Diffie-Hellman as PKCS #3
``DHParameter`` (p, g). Keys are PKCS#8 / SubjectPublicKeyInfo like every other key (``id-dsa``,
``dhKeyAgreement``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, ClassVar

from asn1crypto import core as asn1
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from kms_backend.kmip._registry_data import CryptographicAlgorithm, ResultReason

from ._common import fail

DSA = CryptographicAlgorithm.DSA
DH = CryptographicAlgorithm.DH
#: DER of the algorithm OIDs (id-dsa 1.2.840.10040.4.1, dhKeyAgreement 1.2.840.113549.1.3.1, dhpublicnumber
#: 1.2.840.10046.2.1): a key whose DER holds none of them is not one of these, and is loaded without ``quiet``.
_OIDS = (
    bytes.fromhex("06072a8648ce380401"),
    bytes.fromhex("06092a864886f70d010301"),
    bytes.fromhex("06072a8648ce3e0201"),
)
#: DSA (L, N) sizes FIPS 186-4 §4.2 defines, by L; Diffie-Hellman primes of at least this many bits.
DSA_SUBPRIME_BITS = {1024: 160, 2048: 256, 3072: 256}
DH_MIN_BITS = 512
DH_MAX_BITS = 8192
#: Fresh Diffie-Hellman parameters are safe primes, whose search grows steeply with size (seconds at 1024 bits,
#: minutes at 3072, hours at 8192): larger groups are brought by the client (RFC 3526, RFC 7919), not generated.
DH_MAX_GENERATED_BITS = 2048
#: RFC 7919 §A: the X of each named group ffdhe<b>, whose prime is 2^b - 2^(b-64) + (floor(2^(b-130) e) + X) 2^64 - 1,
#: a safe prime, with generator 2. A key pair asked for at one of these sizes without domain parameters is made on
#: that group: no prime search (a fresh safe prime of 2048 bits takes from seconds to a minute), and the groups TLS
#: and SSH use.
FFDHE_X = {2048: 560316, 3072: 2625351, 4096: 5736041, 6144: 15705020, 8192: 10965728}
_FFDHE_PRIMES: dict[int, int] = {}
#: ``warnings.catch_warnings`` changes process-wide state: one thread at a time (re-entrant for nested uses).
_QUIET = threading.RLock()


@contextmanager
def quiet() -> Iterator[None]:
    """Silence `cryptography`'s DSA / FFDH deprecation warnings for the block (and nothing else)."""
    with _QUIET, warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


def involves(der: bytes) -> bool:
    """Whether a DER key names the DSA or Diffie-Hellman algorithm (its loading must then be :func:`quiet`)."""
    return any(oid in der for oid in _OIDS)


def _modules() -> tuple[ModuleType, ModuleType]:
    from cryptography.hazmat.primitives.asymmetric import dh, dsa

    return dsa, dh


def family(key: object) -> CryptographicAlgorithm | None:
    """DSA or DH for a key object of those families, else None."""
    with quiet():
        dsa, dh = _modules()
        if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
            return DSA
        if isinstance(key, dh.DHPrivateKey | dh.DHPublicKey):
            return DH
    return None


def key_bits(key: Any) -> int:
    """The bit length of the key's prime p (its Cryptographic Length)."""
    return int(key.key_size)


# -- domain parameters -----------------------------------------------------------------------------------------------
class _DHParameter(asn1.Sequence):  # type: ignore[misc]  # asn1crypto has no type hints
    """PKCS #3 §9 DHParameter (privateValueLength left out)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("p", asn1.Integer),
        ("g", asn1.Integer),
        ("private_value_length", asn1.Integer, {"optional": True}),
    ]


def encode_parameters(algorithm: CryptographicAlgorithm, p: int, g: int, q: int | None = None) -> bytes:
    """The DER of domain parameters: ``Dss-Parms`` for DSA (q required), ``DHParameter`` for DH."""
    if algorithm == DSA:
        if q is None:
            fail(ResultReason.INVALID_FIELD, "DSA domain parameters need a subprime q")
        return bytes(asn1_keys.DSAParams({"p": p, "q": q, "g": g}).dump())
    return bytes(_DHParameter({"p": p, "g": g}).dump())


def decode_parameters(algorithm: CryptographicAlgorithm, der: bytes) -> tuple[int, int, int | None]:
    """(p, g, q) from :func:`encode_parameters`'s DER (q None for Diffie-Hellman); Invalid Field if malformed."""
    try:
        if algorithm == DSA:
            dss = asn1_keys.DSAParams.load(der)
            return int(dss["p"].native), int(dss["g"].native), int(dss["q"].native)
        parameter = _DHParameter.load(der)
        return int(parameter["p"].native), int(parameter["g"].native), None
    except (ValueError, TypeError, KeyError):
        fail(ResultReason.INVALID_FIELD, f"malformed {algorithm.name} domain parameters")


def generate_parameters(algorithm: CryptographicAlgorithm, bits: int) -> bytes:
    """Fresh domain parameters of a ``bits``-bit prime: DSA per FIPS 186-4 A.1 (L = 1024, 2048 or 3072), Diffie-
    Hellman a safe prime with generator 2, of at most ``DH_MAX_GENERATED_BITS``."""
    with quiet():
        dsa, dh = _modules()
        if algorithm == DSA:
            if bits not in DSA_SUBPRIME_BITS:
                fail(ResultReason.INVALID_FIELD, f"DSA primes are 1024, 2048 or 3072 bits, got {bits}")
            numbers = dsa.generate_parameters(bits).parameter_numbers()
            return encode_parameters(DSA, numbers.p, numbers.g, numbers.q)
        if algorithm == DH:
            if not DH_MIN_BITS <= bits <= DH_MAX_GENERATED_BITS:
                fail(
                    ResultReason.INVALID_FIELD,
                    f"fresh Diffie-Hellman primes are {DH_MIN_BITS} to {DH_MAX_GENERATED_BITS} bits (bring larger)",
                )
            numbers = dh.generate_parameters(generator=2, key_size=bits).parameter_numbers()
            return encode_parameters(DH, numbers.p, numbers.g)
    fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"no domain parameters for {algorithm.name}")


def ffdhe_prime(bits: int) -> int:
    """The prime of RFC 7919's group ffdhe<bits> (``FFDHE_X``), from its definition."""
    prime = _FFDHE_PRIMES.get(bits)
    if prime is None:
        n = bits - 130
        # floor(2^n e) = floor(sum over k of 2^n / k!), summed with 64 guard bits
        e_scaled, k, term = 0, 0, 1 << (n + 64)
        while term:
            e_scaled += term
            k += 1
            term //= k
        prime = (1 << bits) - (1 << (bits - 64)) + ((e_scaled >> 64) + FFDHE_X[bits]) * (1 << 64) - 1
        _FFDHE_PRIMES[bits] = prime
    return prime


def default_parameters(algorithm: CryptographicAlgorithm, bits: int) -> bytes:
    """Domain parameters for a key pair the client gave none for: RFC 7919's group of that size for Diffie-Hellman
    when there is one, else fresh ones (``generate_parameters``)."""
    if algorithm == DH and bits in FFDHE_X:
        return encode_parameters(DH, ffdhe_prime(bits), 2)
    return generate_parameters(algorithm, bits)


def _parameters(algorithm: CryptographicAlgorithm, der: bytes) -> Any:
    p, g, q = decode_parameters(algorithm, der)
    if algorithm == DH and not DH_MIN_BITS <= p.bit_length() <= DH_MAX_BITS:
        fail(ResultReason.INVALID_FIELD, f"Diffie-Hellman primes are {DH_MIN_BITS} to {DH_MAX_BITS} bits")
    dsa, dh = _modules()
    try:
        if algorithm == DSA:
            assert q is not None
            return dsa.DSAParameterNumbers(p, q, g).parameters()
        return dh.DHParameterNumbers(p, g).parameters()
    except ValueError as exc:
        fail(ResultReason.INVALID_FIELD, f"{algorithm.name} domain parameters refused: {exc}")


def generate_private(algorithm: CryptographicAlgorithm, bits: int | None, parameters: bytes | None) -> Any:
    """A new private key on the given domain parameters (DER), or on ``default_parameters`` of ``bits`` (default
    2048)."""
    with quiet():
        der = parameters if parameters is not None else default_parameters(algorithm, bits or 2048)
        domain = _parameters(algorithm, der)
        if bits is not None and domain.parameter_numbers().p.bit_length() != bits:
            fail(ResultReason.INVALID_FIELD, f"the domain parameters' prime is not {bits} bits")
        try:
            return domain.generate_private_key()
        except ValueError as exc:
            fail(ResultReason.INVALID_FIELD, f"{algorithm.name} key generation refused: {exc}")


def load(loader: Any, der: bytes) -> Any:
    """``serialization.load_der_*(der)`` of a DSA or DH key, quietly."""
    with quiet():
        return loader(der)


# -- Diffie-Hellman key agreement --------------------------------------------------------------------------------------
def agree(private: Any, peer: bytes) -> bytes:
    """The shared secret Z of PKCS #3 §8.2 (padded to the prime's length, SP 800-56A §5.7.1.1) with a peer's public
    value ``peer``: y as a big-endian integer (PKCS#11 CKM_DH_PKCS_DERIVE), or a SubjectPublicKeyInfo DER."""
    with quiet():
        _dsa, dh = _modules()
        numbers = private.parameters().parameter_numbers()
        public: Any = None
        if involves(peer):
            try:
                public = serialization.load_der_public_key(peer)
            except ValueError:
                public = None
        if not isinstance(public, dh.DHPublicKey):
            y = int.from_bytes(peer, "big")
            if not 1 < y < numbers.p - 1:  # SP 800-56A §5.6.2.3.1: 2 <= y <= p - 2
                fail(ResultReason.INVALID_FIELD, "the peer's Diffie-Hellman public value is out of range")
            public = dh.DHPublicNumbers(y, numbers).public_key()
        try:
            return bytes(private.exchange(public))
        except ValueError as exc:
            fail(ResultReason.INVALID_FIELD, f"Diffie-Hellman agreement refused: {exc}")


def numbers(key: Any) -> dict[str, int]:
    """The integers of a DSA/DH key: ``p``, ``g``, ``q`` (DSA, or DH with a subgroup), ``y``, and ``x`` for a
    private key."""
    with quiet():
        private = hasattr(key, "private_numbers")
        public = key.public_key() if private else key
        pub = public.public_numbers()
        domain = pub.parameter_numbers
        out = {"p": domain.p, "g": domain.g, "y": pub.y}
        if getattr(domain, "q", None) is not None:
            out["q"] = domain.q
        if private:
            out["x"] = key.private_numbers().x
        return out


def private_key_from(algorithm: CryptographicAlgorithm, parameters: bytes, x: int) -> Any:
    """A private key from its domain parameters and private value (an imported key)."""
    with quiet():
        p, g, q = decode_parameters(algorithm, parameters)
        dsa, dh = _modules()
        try:
            if algorithm == DSA:
                assert q is not None
                domain = dsa.DSAParameterNumbers(p, q, g)
                return dsa.DSAPrivateNumbers(x, dsa.DSAPublicNumbers(pow(g, x, p), domain)).private_key()
            dh_domain = dh.DHParameterNumbers(p, g)
            return dh.DHPrivateNumbers(x, dh.DHPublicNumbers(pow(g, x, p), dh_domain)).private_key()
        except ValueError as exc:
            fail(ResultReason.INVALID_FIELD, f"not a valid {algorithm.name} private key: {exc}")


def public_key_from(algorithm: CryptographicAlgorithm, parameters: bytes, y: int) -> Any:
    """A public key from its domain parameters and public value (an imported key)."""
    with quiet():
        p, g, q = decode_parameters(algorithm, parameters)
        dsa, dh = _modules()
        try:
            if algorithm == DSA:
                assert q is not None
                return dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()
            return dh.DHPublicNumbers(y, dh.DHParameterNumbers(p, g)).public_key()
        except ValueError as exc:
            fail(ResultReason.INVALID_FIELD, f"not a valid {algorithm.name} public key: {exc}")


__all__ = [
    "DH",
    "DSA",
    "DSA_SUBPRIME_BITS",
    "agree",
    "decode_parameters",
    "default_parameters",
    "encode_parameters",
    "family",
    "ffdhe_prime",
    "generate_parameters",
    "generate_private",
    "involves",
    "key_bits",
    "load",
    "numbers",
    "private_key_from",
    "public_key_from",
    "quiet",
]
