"""Split Key (KMIP 2.1 §2.8, §11.54 Split Key Method): Shamir secret sharing over GF(2^8), GF(2^16) and a prime
field, and the XOR method.

Shamir (Shamir 1979): the secret is the constant term of random polynomials of degree ``threshold - 1``; share
``i`` (Key Part Identifier, 1..255) holds the polynomials evaluated at x = i. Any ``threshold`` shares determine
the secret by Lagrange interpolation at 0; fewer are consistent with every secret. Coefficients come from the OS
CSPRNG. Let L be the secret's length in bits (KMIP 2.1 §2.8 defines each method over L):

- **Polynomial Sharing GF(2^8)**: each byte is shared on its own in GF(2^8) with the AES reduction polynomial
  x^8 + x^4 + x^3 + x + 1 (FIPS 197 §4.2); a share is as long as the secret. Arithmetic is table-driven and works
  a whole share at a time: multiplying a byte string by a constant is one ``bytes.translate`` with that constant's
  256-entry product table, and addition is XOR over the string read as an integer.
- **Polynomial Sharing GF(2^16)**: the secret is shared piecewise, 16 bits (two bytes, big-endian) at a time, and
  a share is the concatenation of the pieces' shares. The field is KMIP's own unless the Prime Field Size says
  otherwise: KMIP defines GF(2^16) as the extension GF(2^8)[y]/(y^2 + y + m) of the FIPS 197 field with
  m = x^5 + x^4 + x^3 + x = 0x3A (absolute trace 1, so the quadratic is irreducible); the element uy + v is the
  byte pair u ‖ v, (ry + s)(uy + v) = ((r + s)(u + v) + sv)y + (rum + sv) and (uy + v)^-1 = (uy + u + v)/d with
  d = (u + v)v + mu^2. A Prime Field Size given with this method is instead read as a reduction polynomial
  (a Keystead extension): a degree-16 irreducible binary polynomial such as x^16 + x^12 + x^3 + x + 1 = 0x1100B,
  the two bytes of a piece being its coefficients of x^15..x^0; anything of another degree, or reducible, is
  Invalid Field. An odd-length secret gets one leading zero byte (its value as a number is unchanged), so its
  shares are one byte longer than it; joining with the secret's length strips that byte again.
- **Polynomial Sharing Prime Field**: the secret read as a big-endian integer is shared in GF(p), p = the Prime
  Field Size, which must be a prime bigger than 2^L (KMIP 2.1 §2.8: every secret of L bits then fits; a prime of
  up to 4096 bits, checked with Miller-Rabin). A share is its value y < p as a big-endian integer of the byte
  length of p (so 33 bytes for a 256-bit secret under a 257-bit prime); joining writes the result back on the
  secret's length.
- **XOR**: ``parts - 1`` random strings and the secret XOR all of them; every part is needed.

Reasons: a missing Prime Field Size for the prime-field method is Invalid Message; a Prime Field Size that is not
a prime, not a degree-16 irreducible polynomial, too large, or given with a method that takes none is Invalid
Field; a prime not bigger than 2^L is Bad Cryptographic Parameters (it contradicts the key). Table lookups and
big-integer arithmetic are not constant-time; shares are created and joined inside the server, away from
attacker-timed paths.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
#: KMIP's GF(2^16) = GF(2^8)[y]/(y^2 + y + m) (module docstring).
KMIP_GF16_M = 0x3A
#: Largest Prime Field Size accepted, in bits (Miller-Rabin on larger numbers would cost seconds per request).
MAX_PRIME_BITS = 4096
_SMALL_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)
_RANDOM_ROUNDS = 16


# ---------------------------------------------------------------------------------------------------------------
# Fields: elements are ints; add/sub/mul/inv/random as functions, so one Shamir serves all three
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    """A finite field: arithmetic on ints, and a uniformly random element."""

    add: Callable[[int, int], int]
    sub: Callable[[int, int], int]
    mul: Callable[[int, int], int]
    inv: Callable[[int], int]
    random: Callable[[], int]


def _xor_int(a: int, b: int) -> int:
    return a ^ b


def _tower_mul(a: int, b: int) -> int:
    r, s, u, v = a >> 8, a & 0xFF, b >> 8, b & 0xFF
    sv = _mul(s, v)
    high = _mul(r ^ s, u ^ v) ^ sv
    low = _mul(_mul(r, u), KMIP_GF16_M) ^ sv
    return (high << 8) | low


def _tower_inv(a: int) -> int:
    u, v = a >> 8, a & 0xFF
    d = _mul(u ^ v, v) ^ _mul(KMIP_GF16_M, _mul(u, u))
    d_inv = _inverse(d)
    return (_mul(u, d_inv) << 8) | _mul(u ^ v, d_inv)


def _random16() -> int:
    return secrets.randbits(16)


_KMIP_GF16 = _Field(_xor_int, _xor_int, _tower_mul, _tower_inv, _random16)


def _poly_mod(a: int, modulus: int) -> int:
    """``a`` modulo ``modulus`` as binary polynomials."""
    degree = modulus.bit_length() - 1
    while a.bit_length() - 1 >= degree:
        a ^= modulus << (a.bit_length() - 1 - degree)
    return a


def _clmul(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a <<= 1
        b >>= 1
    return result


def _irreducible16(polynomial: int) -> bool:
    """True for a binary polynomial of degree exactly 16 with no factor of degree 1..8 (trial division)."""
    if polynomial >> 16 != 1:
        return False
    return all(_poly_mod(polynomial, divisor) for divisor in range(2, 1 << 9))


@functools.lru_cache(maxsize=16)
def _polynomial_field(polynomial: int) -> _Field:
    def mul(a: int, b: int) -> int:
        return _poly_mod(_clmul(a, b), polynomial)

    def inv(a: int) -> int:
        # a^(2^16 - 2) = a^-1 in GF(2^16): square-and-multiply over the exponent 0xFFFE.
        result, base, exponent = 1, a, 0xFFFE
        while exponent:
            if exponent & 1:
                result = mul(result, base)
            base = mul(base, base)
            exponent >>= 1
        return result

    return _Field(_xor_int, _xor_int, mul, inv, _random16)


@functools.lru_cache(maxsize=64)
def _is_probable_prime(n: int) -> bool:
    """Miller-Rabin with the small primes as bases, then random ones (FIPS 186-5 §B.3.1)."""
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    bases = [*_SMALL_PRIMES[:12], *(2 + secrets.randbelow(n - 3) for _ in range(_RANDOM_ROUNDS))]
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime_field(p: int) -> _Field:
    return _Field(
        lambda a, b: (a + b) % p,
        lambda a, b: (a - b) % p,
        lambda a, b: a * b % p,
        lambda a: pow(a, -1, p),
        lambda: secrets.randbelow(p),
    )


def _require_prime(prime_field_size: int | None, secret_bits: int | None) -> int:
    if prime_field_size is None:
        fail(ResultReason.INVALID_MESSAGE, "Polynomial Sharing Prime Field needs a Prime Field Size")
    p = int(prime_field_size)
    if p.bit_length() > MAX_PRIME_BITS:
        fail(ResultReason.INVALID_FIELD, f"Prime Field Size is limited to {MAX_PRIME_BITS} bits")
    if not _is_probable_prime(p):
        fail(ResultReason.INVALID_FIELD, "Prime Field Size is not a prime")
    if secret_bits is not None and p <= 1 << secret_bits:
        fail(
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS,
            f"Prime Field Size must be a prime bigger than 2^{secret_bits} to share a {secret_bits}-bit secret",
        )
    return p


def _gf16_field(polynomial: int | None) -> _Field:
    if polynomial is None:
        return _KMIP_GF16
    if not _irreducible16(int(polynomial)):
        fail(
            ResultReason.INVALID_FIELD,
            f"Prime Field Size {int(polynomial):#x} is not an irreducible binary polynomial of degree 16 "
            "(the GF(2^16) reduction polynomial, e.g. 0x1100B)",
        )
    return _polynomial_field(int(polynomial))


# ---------------------------------------------------------------------------------------------------------------
# Shamir over a _Field
# ---------------------------------------------------------------------------------------------------------------


def _shamir_split(field: _Field, values: Sequence[int], xs: Sequence[int], threshold: int) -> list[list[int]]:
    """For each x, the evaluations at x of one random polynomial per value (constant term = the value)."""
    polynomials = [[value, *(field.random() for _ in range(threshold - 1))] for value in values]
    shares: list[list[int]] = []
    for x in xs:
        row = []
        for coefficients in polynomials:
            acc = 0
            for coefficient in reversed(coefficients):  # Horner
                acc = field.add(field.mul(acc, x), coefficient)
            row.append(acc)
        shares.append(row)
    return shares


def _lagrange_at_zero(field: _Field, xs: Sequence[int]) -> list[int]:
    """The Lagrange basis values at 0: prod_{j != i} x_j / (x_j - x_i)."""
    weights = []
    for xi in xs:
        weight = 1
        for xj in xs:
            if xj != xi:
                weight = field.mul(weight, field.mul(xj, field.inv(field.sub(xj, xi))))
        weights.append(weight)
    return weights


def _shamir_join(field: _Field, xs: Sequence[int], rows: Sequence[Sequence[int]]) -> list[int]:
    weights = _lagrange_at_zero(field, xs)
    values = []
    for column in zip(*rows, strict=True):
        acc = 0
        for weight, y in zip(weights, column, strict=True):
            acc = field.add(acc, field.mul(weight, y))
        values.append(acc)
    return values


def _pieces16(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _from_pieces16(values: Sequence[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


# ---------------------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------------------


def _check_field(method: SplitKeyMethod, prime_field_size: int | None, secret_length: int | None) -> None:
    """Refuse a Prime Field Size that does not fit ``method`` (and a ``secret_length``-byte secret): see the
    module docstring for the rules and their Result Reasons."""
    if method == SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD:
        _require_prime(prime_field_size, secret_length * 8 if secret_length is not None else None)
    elif method == SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16:
        _gf16_field(prime_field_size)
    elif method in (SplitKeyMethod.XOR, SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8):
        if prime_field_size is not None:
            fail(ResultReason.INVALID_FIELD, f"Split Key Method {method.name} takes no Prime Field Size")
    else:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"Split Key Method {enum_name(method)}")


def split_secret(
    secret: bytes,
    parts: int,
    threshold: int,
    method: SplitKeyMethod = SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_8,
    *,
    prime_field_size: int | None = None,
) -> list[tuple[int, bytes]]:
    """Split ``secret`` into ``parts`` shares, any ``threshold`` of which rebuild it (Create Split Key, KMIP 2.1
    §6.1.10). Returns ``[(key_part_identifier, share)]`` with identifiers 1..parts. XOR requires threshold == parts.
    ``prime_field_size``: the prime of Polynomial Sharing Prime Field, or a GF(2^16) reduction polynomial.
    """
    if not secret:
        fail(ResultReason.INVALID_FIELD, "the secret to split is empty")
    if not 1 <= parts <= MAX_PARTS:
        fail(ResultReason.INVALID_FIELD, f"Split Key Parts must be 1 to {MAX_PARTS}, got {parts}")
    if not 1 <= threshold <= parts:
        fail(ResultReason.INVALID_FIELD, f"Split Key Threshold must be 1 to {parts}, got {threshold}")
    _check_field(method, prime_field_size, len(secret))
    xs = range(1, parts + 1)
    if method == SplitKeyMethod.XOR:
        if threshold != parts:
            fail(ResultReason.INVALID_FIELD, "the XOR method needs every part: Split Key Threshold must equal Parts")
        randoms = [os.urandom(len(secret)) for _ in range(parts - 1)]
        last = secret
        for r in randoms:
            last = _xor(last, r)
        return list(enumerate([*randoms, last], start=1))
    if method == SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16:
        padded = b"\x00" + secret if len(secret) % 2 else secret
        rows = _shamir_split(_gf16_field(prime_field_size), _pieces16(padded), xs, threshold)
        return [(x, _from_pieces16(row)) for x, row in zip(xs, rows, strict=True)]
    if method == SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD:
        assert prime_field_size is not None  # _check_field requires it
        p = int(prime_field_size)
        width = (p.bit_length() + 7) // 8
        rows = _shamir_split(_prime_field(p), [int.from_bytes(secret, "big")], xs, threshold)
        return [(x, row[0].to_bytes(width, "big")) for x, row in zip(xs, rows, strict=True)]
    coefficients = [os.urandom(len(secret)) for _ in range(threshold - 1)]
    shares: list[tuple[int, bytes]] = []
    for x in xs:
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
    *,
    prime_field_size: int | None = None,
    length: int | None = None,
) -> bytes:
    """Rebuild a secret from ``(key_part_identifier, share)`` pairs (Join Split Key, KMIP 2.1 §6.1.27).

    ``length``: the secret's length in bytes (the Split Keys' Cryptographic Length / 8), which the prime-field
    and odd-length GF(2^16) shares do not carry; without it the prime-field secret is as long as the field allows
    and a GF(2^16) secret keeps its padding byte. With fewer shares than the threshold the result is a different,
    unrelated value; the caller checks the threshold from the Split Key objects' attributes.
    """
    if not shares:
        fail(ResultReason.INVALID_FIELD, "no shares to join")
    share_length = len(shares[0][1])
    identifiers = [x for x, _ in shares]
    if any(len(share) != share_length for _, share in shares) or share_length == 0:
        fail(ResultReason.INVALID_FIELD, "shares must all have the same, non-zero length")
    if len(set(identifiers)) != len(identifiers):
        fail(ResultReason.INVALID_FIELD, "duplicate Key Part Identifier")
    if any(not 1 <= x <= MAX_PARTS for x in identifiers):
        fail(ResultReason.INVALID_FIELD, f"Key Part Identifiers are 1 to {MAX_PARTS}")
    _check_field(method, prime_field_size, None)
    if method == SplitKeyMethod.XOR:
        result = shares[0][1]
        for _, share in shares[1:]:
            result = _xor(result, share)
        return result
    if method == SplitKeyMethod.POLYNOMIAL_SHARING_GF_2_16:
        return _join_gf16(shares, identifiers, prime_field_size, length)
    if method == SplitKeyMethod.POLYNOMIAL_SHARING_PRIME_FIELD:
        assert prime_field_size is not None  # _check_field requires it
        return _join_prime(shares, identifiers, int(prime_field_size), length)
    result_int = 0
    for xi, share in shares:
        # Lagrange basis at 0: prod_{j != i} x_j / (x_j - x_i); subtraction in GF(2^8) is XOR.
        basis = 1
        for xj in identifiers:
            if xj != xi:
                basis = _mul(basis, _mul(xj, _inverse(xj ^ xi)))
        result_int ^= int.from_bytes(share.translate(_PRODUCTS[basis]), "big")
    return result_int.to_bytes(share_length, "big")


def _join_gf16(
    shares: list[tuple[int, bytes]], identifiers: list[int], polynomial: int | None, length: int | None
) -> bytes:
    if len(shares[0][1]) % 2:
        fail(ResultReason.INVALID_FIELD, "GF(2^16) shares are a whole number of 16-bit pieces")
    rows = [_pieces16(share) for _, share in shares]
    joined = _from_pieces16(_shamir_join(_gf16_field(polynomial), identifiers, rows))
    if length is not None and length == len(joined) - 1:
        if joined[0]:
            fail(ResultReason.INVALID_FIELD, "the parts do not rebuild a secret of the Split Keys' length")
        return joined[1:]
    if length is not None and length != len(joined):
        fail(ResultReason.INVALID_FIELD, f"GF(2^16) shares of {len(joined)} bytes cannot hold a {length}-byte secret")
    return joined


def _join_prime(shares: list[tuple[int, bytes]], identifiers: list[int], p: int, length: int | None) -> bytes:
    if len(shares[0][1]) != (p.bit_length() + 7) // 8:
        fail(ResultReason.INVALID_FIELD, "the shares are not values of the Prime Field Size's length")
    values = [int.from_bytes(share, "big") for _, share in shares]
    if any(value >= p for value in values):
        fail(ResultReason.INVALID_FIELD, "a share is not an element of the prime field")
    (secret,) = _shamir_join(_prime_field(p), identifiers, [[v] for v in values])
    size = length if length is not None else (p.bit_length() - 1) // 8
    if secret >> (8 * size):
        fail(ResultReason.INVALID_FIELD, "the parts do not rebuild a secret of the Split Keys' length")
    return secret.to_bytes(size, "big")
