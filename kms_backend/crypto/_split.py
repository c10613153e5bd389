"""Split Key (KMIP 2.1 §2.2.5, §11.54): Shamir secret sharing over GF(2^8) and the XOR method.

Shamir (Shamir 1979): each byte of the secret is the constant term of its own random polynomial of degree
``threshold - 1`` over GF(2^8) with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1 (FIPS 197 §4.2); share
``i`` (Key Part Identifier, 1..255) holds the polynomials evaluated at x = i. Any ``threshold`` shares determine the
secret by Lagrange interpolation at 0; fewer are consistent with every secret. Coefficients come from the OS CSPRNG.

Arithmetic is table-driven and works a whole share at a time: multiplying a byte string by a constant is one
``bytes.translate`` with that constant's 256-entry product table, and addition is XOR over the string read as an
integer. Table lookups are not constant-time; shares are created and joined inside the server, away from
attacker-timed paths.

XOR (SplitKeyMethod.XOR): ``parts - 1`` random strings and the secret XOR all of them; every part is needed.
"""

from __future__ import annotations

import os

from kms_backend.kmip._registry_data import ResultReason, SplitKeyMethod

from ._common import enum_name, fail


def _tables() -> tuple[list[int], list[int]]:
    exp = [0] * 510
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        # Multiply by the generator 3 = x + 1: x*2 (reduced by 0x11B) XOR x.
        doubled = (x << 1) ^ (0x11B if x & 0x80 else 0)
        x = doubled ^ x
    for i in range(255, 510):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _inverse(a: int) -> int:
    return _EXP[255 - _LOG[a]]


# _PRODUCTS[c] maps every byte v to c*v: multiplying a share by c is share.translate(_PRODUCTS[c]).
_PRODUCTS: list[bytes] = [bytes(_mul(c, v) for v in range(256)) for c in range(256)]


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


MAX_PARTS = 255


def split_secret(
    secret: bytes,
    parts: int,
    threshold: int,
    method: SplitKeyMethod = SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8,
) -> list[tuple[int, bytes]]:
    """Split ``secret`` into ``parts`` shares, any ``threshold`` of which rebuild it (Create Split Key, KMIP 2.1
    §6.1.10). Returns ``[(key_part_identifier, share)]`` with identifiers 1..parts. XOR requires threshold == parts.
    """
    if not secret:
        fail(ResultReason.INVALID_FIELD, "the secret to split is empty")
    if not 1 <= parts <= MAX_PARTS:
        fail(ResultReason.INVALID_FIELD, f"Split Key Parts must be 1 to {MAX_PARTS}, got {parts}")
    if not 1 <= threshold <= parts:
        fail(ResultReason.INVALID_FIELD, f"Split Key Threshold must be 1 to {parts}, got {threshold}")
    if method == SplitKeyMethod.XOR:
        if threshold != parts:
            fail(ResultReason.INVALID_FIELD, "the XOR method needs every part: Split Key Threshold must equal Parts")
        randoms = [os.urandom(len(secret)) for _ in range(parts - 1)]
        last = secret
        for r in randoms:
            last = _xor(last, r)
        return list(enumerate([*randoms, last], start=1))
    if method != SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"Split Key Method {enum_name(method)}")
    coefficients = [os.urandom(len(secret)) for _ in range(threshold - 1)]
    shares: list[tuple[int, bytes]] = []
    for x in range(1, parts + 1):
        value = secret
        power = 1
        for coefficient in coefficients:
            power = _mul(power, x)
            value = _xor(value, coefficient.translate(_PRODUCTS[power]))
        shares.append((x, value))
    return shares


def join_secret(
    shares: list[tuple[int, bytes]],
    method: SplitKeyMethod = SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8,
) -> bytes:
    """Rebuild a secret from ``(key_part_identifier, share)`` pairs (Join Split Key, KMIP 2.1 §6.1.28).

    With fewer shares than the threshold the result is a different, unrelated value; the caller checks the
    threshold from the Split Key objects' attributes.
    """
    if not shares:
        fail(ResultReason.INVALID_FIELD, "no shares to join")
    length = len(shares[0][1])
    identifiers = [x for x, _ in shares]
    if any(len(share) != length for _, share in shares) or length == 0:
        fail(ResultReason.INVALID_FIELD, "shares must all have the same, non-zero length")
    if len(set(identifiers)) != len(identifiers):
        fail(ResultReason.INVALID_FIELD, "duplicate Key Part Identifier")
    if any(not 1 <= x <= MAX_PARTS for x in identifiers):
        fail(ResultReason.INVALID_FIELD, f"Key Part Identifiers are 1 to {MAX_PARTS}")
    if method == SplitKeyMethod.XOR:
        result = shares[0][1]
        for _, share in shares[1:]:
            result = _xor(result, share)
        return result
    if method != SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"Split Key Method {enum_name(method)}")
    result_int = 0
    for xi, share in shares:
        # Lagrange basis at 0: prod_{j != i} x_j / (x_j - x_i); subtraction in GF(2^8) is XOR.
        basis = 1
        for xj in identifiers:
            if xj != xi:
                basis = _mul(basis, _mul(xj, _inverse(xj ^ xi)))
        result_int ^= int.from_bytes(share.translate(_PRODUCTS[basis]), "big")
    return result_int.to_bytes(length, "big")
