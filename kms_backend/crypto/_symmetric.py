"""Symmetric Encrypt/Decrypt (KMIP 2.1 §6.1.18, §6.1.14) over AES, ChaCha20 and Triple-DES, one-shot or streamed.

Defaults when Cryptographic Parameters leave a field out (KMIP leaves them to the server):

- Block Cipher Mode: AES → GCM; ChaCha20-Poly1305 → AEAD; Triple-DES → CBC; ChaCha20 is a stream cipher.
- Padding Method: CBC → PKCS5; ECB → None (the OASIS CS-BC-M-1..7 test cases encrypt one block into one block).
- IV/Counter/Nonce on Encrypt, when absent: generated from the OS CSPRNG (IV Length bits, else 12 bytes for GCM,
  GCM-SIV, ChaCha20(-Poly1305), 13 for CCM, the block size otherwise) unless Random IV is False. A Fixed Field
  Length plus Invocation Field Length with an IV exactly the fixed field builds the SP 800-38D §8.2.2 RBG IV:
  fixed field ‖ random invocation field. ECB and the key-wrap modes take no IV (one supplied is ignored).
- Tag Length: 16 bytes. GCM and ChaCha20-Poly1305 accept 12 to 16 (SP 800-38D §5.2.1.2; RFC 8439 tags truncated
  by the AEAD profile); other lengths fail with General Failure, as OASIS CS-BC-M-GCM-1-21 steps 7-8 expect.

Mode notes: CTR takes the whole 16-byte initial counter block as IV and counts over all 128 bits (SP 800-38A
§B.1); XTS takes a double-length key (two AES keys, IEEE 1619) and the 16-byte tweak as IV; NISTKeyWrap is RFC
3394 / SP 800-38F KW and AESKeyWrapPadding RFC 5649 / KWP; ChaCha20 alone takes an 8-byte nonce (original
Bernstein layout, 64-bit block counter, as OASIS CS-BC-M-CHACHA20-1-21), a 12-byte nonce (RFC 8439 §2.4, 32-bit
counter) or the 16-byte counter‖nonce block; Initial Counter Value sets the starting block counter (default 0).
"""

from __future__ import annotations

import functools
import hmac
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, AESGCMSIV, ChaCha20Poly1305

from kms_backend.kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, PaddingMethod, ResultReason

from ._common import DECRYPTION_FAILED, enum_name, fail
from ._keys import as_bytes, register_cache
from ._params import CipherParams, EncryptResult


def _load_triple_des() -> Any:
    # Triple-DES moved to the "decrepit" package in cryptography 43; legacy PKCS#11 clients still use it.
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # pragma: no cover - cryptography < 43
        return getattr(algorithms, "TripleDES", None)
    return TripleDES


_TripleDES: Any = _load_triple_des()


def _three_keys(key: bytes) -> bytes:
    """A two-key Triple-DES key (K1 ‖ K2) as the equivalent three-key one (K1 ‖ K2 ‖ K1, SP 800-67 keying option
    2): cryptography 47 deprecates 16-byte keys, and the result is the same cipher."""
    return key + key[:8] if len(key) == 16 else key


def _load_legacy_modes() -> tuple[Any, Any]:
    # CFB and OFB moved to the "decrepit" package in cryptography 47 (SP 800-38A still defines them; KMIP too).
    try:
        from cryptography.hazmat.decrepit.ciphers import modes as decrepit_modes
    except ImportError:  # pragma: no cover - cryptography < 47
        return modes.CFB, modes.OFB
    return decrepit_modes.CFB, decrepit_modes.OFB


_CFB, _OFB = _load_legacy_modes()
SYMMETRIC_ALGORITHMS = frozenset(
    {
        CryptographicAlgorithm.AES,
        CryptographicAlgorithm.CHACHA20,
        CryptographicAlgorithm.CHACHA20POLY1305,
        CryptographicAlgorithm.DES3,
    }
)
_AEAD_MODES = frozenset({BlockCipherMode.GCM, BlockCipherMode.CCM, BlockCipherMode.GCM_SIV, BlockCipherMode.AEAD})
_WRAP_MODES = frozenset({BlockCipherMode.NISTKEYWRAP, BlockCipherMode.AESKEYWRAPPADDING})
_BLOCK_MODES = frozenset({BlockCipherMode.CBC, BlockCipherMode.ECB})
_STREAM_MODES = frozenset({BlockCipherMode.CTR, BlockCipherMode.CFB, BlockCipherMode.OFB})
_PADDINGS = frozenset({PaddingMethod.NONE, PaddingMethod.PKCS5, PaddingMethod.ANSI_X9_23})
_DEFAULT_TAG = 16
_GCM = BlockCipherMode.GCM
_CBC = BlockCipherMode.CBC
_AES = CryptographicAlgorithm.AES
_PKCS5 = PaddingMethod.PKCS5
_NO_PADDING = PaddingMethod.NONE
_MIN_TAG = 12
#: Bound on what buffered streams (modes without an incremental API) hold in memory.
MAX_BUFFERED_STREAM = 64 * 1024 * 1024


@functools.lru_cache(maxsize=256)
def _aesgcm(key: bytes) -> AESGCM:
    # Constructing AESGCM expands the key schedule; caching it per key saves ~1 µs per small message. Bounded, and
    # keyed by the key bytes themselves (never by id(), which Python reuses after garbage collection).
    return AESGCM(key)


register_cache(_aesgcm.cache_clear)


_Resolved = tuple[CryptographicAlgorithm, BlockCipherMode | None, PaddingMethod, int, int | None]


@functools.lru_cache(maxsize=512)
def _resolve(params: CipherParams, key_length: int) -> _Resolved:
    """Validate parameters against a key length once. Cached: the engine repeats a few parameter sets, and this
    validation was most of the per-call overhead (exceptions are never cached)."""
    algorithm = params.cryptographic_algorithm
    mode = params.block_cipher_mode
    if algorithm == CryptographicAlgorithm.CHACHA20 and mode == BlockCipherMode.AEAD:
        algorithm = CryptographicAlgorithm.CHACHA20POLY1305
    if algorithm == CryptographicAlgorithm.AES:
        mode = BlockCipherMode.GCM if mode is None else mode
        if mode in (BlockCipherMode.AEAD, BlockCipherMode.PCBC) or mode not in _SUPPORTED_AES_MODES:
            fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"AES mode {enum_name(mode)} is not supported")
    elif algorithm == CryptographicAlgorithm.CHACHA20POLY1305:
        if mode not in (None, BlockCipherMode.AEAD):
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "ChaCha20-Poly1305 takes Block Cipher Mode AEAD")
        mode = BlockCipherMode.AEAD
    elif algorithm == CryptographicAlgorithm.CHACHA20:
        if mode is not None:
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "ChaCha20 is a stream cipher: no Block Cipher Mode")
    elif algorithm == CryptographicAlgorithm.DES3:
        mode = BlockCipherMode.CBC if mode is None else mode
        if mode not in _BLOCK_MODES:
            fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, "Triple-DES supports CBC and ECB only")
        if _TripleDES is None:  # pragma: no cover
            fail(ResultReason.FEATURE_NOT_SUPPORTED, "Triple-DES is not available in this cryptography")
    else:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"{enum_name(algorithm)} is not a symmetric cipher")
    padding = params.padding_method
    if padding is None:
        padding = PaddingMethod.PKCS5 if mode == BlockCipherMode.CBC else PaddingMethod.NONE
    if padding != PaddingMethod.NONE and mode not in _BLOCK_MODES:
        fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{enum_name(mode)} does not take a Padding Method")
    if padding not in _PADDINGS:
        fail(ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS, f"padding {enum_name(padding)} is not supported")
    tag_length = _DEFAULT_TAG if params.tag_length is None else params.tag_length
    if mode in (BlockCipherMode.GCM, BlockCipherMode.AEAD) and not _MIN_TAG <= tag_length <= _DEFAULT_TAG:
        # OASIS CS-BC-M-GCM-1-21 / CHACHA20POLY1305-1-21 steps 7-8 expect General Failure for Tag Length 1 or 32.
        fail(ResultReason.GENERAL_FAILURE, f"Tag Length must be 12 to 16 bytes, got {tag_length}")
    if mode == BlockCipherMode.CCM and (tag_length % 2 or not 4 <= tag_length <= 16):
        fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"CCM Tag Length must be even, 4 to 16, got {tag_length}")
    if mode == BlockCipherMode.GCM_SIV and tag_length != _DEFAULT_TAG:
        fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "AES-GCM-SIV tags are 16 bytes")
    _check_key(algorithm, mode, key_length)
    default_iv: int | None
    if mode in (BlockCipherMode.ECB, *_WRAP_MODES):
        default_iv = None
    elif mode in (BlockCipherMode.GCM, BlockCipherMode.GCM_SIV, BlockCipherMode.AEAD) or mode is None:
        default_iv = 12
    elif mode == BlockCipherMode.CCM:
        default_iv = 13
    else:
        default_iv = 8 if algorithm == CryptographicAlgorithm.DES3 else 16
    return algorithm, mode, padding, tag_length, default_iv


class _Plan:
    """The resolved cipher of one request: algorithm, mode, padding, tag length, key. Validates as it resolves."""

    __slots__ = ("algorithm", "default_iv", "key", "mode", "padding", "params", "tag_length")

    def __init__(self, key: bytes, params: CipherParams) -> None:
        self.algorithm, self.mode, self.padding, self.tag_length, self.default_iv = _resolve(params, len(key))
        self.key = key
        self.params = params

    @property
    def block_size(self) -> int:
        return 8 if self.algorithm == CryptographicAlgorithm.DES3 else 16

    @property
    def incremental(self) -> bool:
        """True if `cryptography` has an incremental context for this cipher (else streams buffer)."""
        return (
            self.mode in _BLOCK_MODES
            or self.mode in _STREAM_MODES
            or self.mode == BlockCipherMode.GCM
            or (self.algorithm == CryptographicAlgorithm.CHACHA20)
        )

    def check_iv(self, iv: bytes) -> None:
        n = len(iv)
        mode = self.mode
        if mode is _GCM:
            ok = 8 <= n <= 128  # SP 800-38D allows any length; 96 bits is the recommended one.
        elif mode in (BlockCipherMode.GCM_SIV, BlockCipherMode.AEAD):
            ok = n == 12
        elif mode == BlockCipherMode.CCM:
            ok = 7 <= n <= 13
        elif mode is None:  # ChaCha20
            ok = n in (8, 12, 16)
        else:
            ok = n == self.block_size
        if not ok:
            fail(ResultReason.INVALID_FIELD, f"IV/Counter/Nonce of {n} bytes is not valid for {self.describe()}")
        if self.params.iv_length is not None and self.params.iv_length != 8 * n:
            fail(
                ResultReason.INVALID_FIELD, f"IV/Counter/Nonce is {8 * n} bits, IV Length says {self.params.iv_length}"
            )

    def describe(self) -> str:
        return f"{self.algorithm.name}-{self.mode.name}" if self.mode is not None else self.algorithm.name

    def iv_for(self, iv: bytes | None, *, encrypting: bool) -> tuple[bytes | None, bytes | None]:
        """``(iv to use, iv to return to the client)``; generates one on Encrypt when none is given."""
        default = self.default_iv
        if default is None:
            return None, None
        params = self.params
        if iv is None:
            if not encrypting:
                fail(ResultReason.INVALID_MESSAGE, "missing IV/Counter/Nonce")
            if params.random_iv is False:
                fail(ResultReason.INVALID_MESSAGE, "missing IV/Counter/Nonce and Random IV is false")
            length = default if params.iv_length is None else params.iv_length // 8
            iv = os.urandom(length)
            self.check_iv(iv)
            return iv, iv
        iv = as_bytes(iv)
        if encrypting and params.random_iv:
            fail(ResultReason.INVALID_MESSAGE, "IV/Counter/Nonce given while Random IV is true")
        fixed, invocation = params.fixed_field_length, params.invocation_field_length
        if encrypting and fixed and invocation and len(iv) * 8 == fixed:
            iv += os.urandom(invocation // 8)
            self.check_iv(iv)
            return iv, iv
        self.check_iv(iv)
        return iv, None

    def cipher(self, iv: bytes | None, *, tag: bytes | None = None) -> Cipher[Any]:
        """A `cryptography` Cipher for the incremental modes."""
        if self.algorithm == CryptographicAlgorithm.CHACHA20:
            assert iv is not None
            return Cipher(algorithms.ChaCha20(self.key, _chacha_block(iv, self.params.initial_counter_value)), None)
        algorithm: Any = (
            _TripleDES(_three_keys(self.key))
            if self.algorithm == CryptographicAlgorithm.DES3
            else algorithms.AES(self.key)
        )
        mode: Any
        if self.mode == BlockCipherMode.ECB:
            mode = modes.ECB()  # noqa: S305 - the client asked for ECB (KMIP Block Cipher Mode ECB)
        elif self.mode == BlockCipherMode.CBC:
            mode = modes.CBC(iv)  # type: ignore[arg-type]
        elif self.mode == BlockCipherMode.CTR:
            mode = modes.CTR(iv)  # type: ignore[arg-type]
        elif self.mode == BlockCipherMode.CFB:
            mode = _CFB(iv)
        elif self.mode == BlockCipherMode.OFB:
            mode = _OFB(iv)
        elif self.mode == BlockCipherMode.GCM:
            mode = modes.GCM(iv, tag, min_tag_length=self.tag_length)  # type: ignore[arg-type]
        else:  # pragma: no cover - guarded by `incremental`
            raise AssertionError(self.mode)
        return Cipher(algorithm, mode)

    def padder(self, encrypting: bool) -> sym_padding.PaddingContext | None:
        if self.padding == PaddingMethod.NONE:
            return None
        bits = self.block_size * 8
        scheme: Any = sym_padding.PKCS7(bits) if self.padding == PaddingMethod.PKCS5 else sym_padding.ANSIX923(bits)
        return scheme.padder() if encrypting else scheme.unpadder()  # type: ignore[no-any-return]


_SUPPORTED_AES_MODES = frozenset(
    {*_BLOCK_MODES, *_STREAM_MODES, *_WRAP_MODES, BlockCipherMode.GCM, BlockCipherMode.CCM, BlockCipherMode.XTS}
    | {BlockCipherMode.GCM_SIV}
)


def _chacha_block(iv: bytes, counter: int | None) -> bytes:
    start = counter or 0
    if len(iv) == 8:
        return start.to_bytes(8, "little") + iv
    if len(iv) == 12:
        return start.to_bytes(4, "little") + iv
    return iv


def _check_key(algorithm: CryptographicAlgorithm, mode: BlockCipherMode | None, n: int) -> None:
    if algorithm == CryptographicAlgorithm.AES:
        if mode == BlockCipherMode.XTS:
            ok, expected = n in (32, 64), "32 or 64 bytes (two AES keys)"
        elif mode == BlockCipherMode.GCM_SIV:
            ok, expected = n in (16, 32), "16 or 32 bytes"
        else:
            ok, expected = n in (16, 24, 32), "16, 24 or 32 bytes"
    elif algorithm == CryptographicAlgorithm.DES3:
        ok, expected = n in (16, 24), "16 or 24 bytes"
    else:
        ok, expected = n == 32, "32 bytes"
    if not ok:
        fail(ResultReason.INVALID_FIELD, f"{algorithm.name} key must be {expected} for this mode, got {n} bytes")


def plan(key: bytes | bytearray | memoryview, params: CipherParams) -> _Plan:
    """Resolve and validate a symmetric request (exposed to the dispatcher and the approved-mode check)."""
    return _Plan(as_bytes(key), params)


# ---------------------------------------------------------------------------------------------------------------
# One-shot
# ---------------------------------------------------------------------------------------------------------------


def prepared_encrypt(p: _Plan) -> Callable[[bytes, bytes | None, bytes | None], EncryptResult]:
    """``encrypt`` bound to ``p`` (every one-shot encryption goes through here, ``_cipher.encrypt`` included).
    AES-CBC with PKCS#5 or no padding, the hot one-shot cipher of PKCS#11 applications, gets a closure holding the
    algorithm object, PKCS#7 padding appended directly (no padder object); other modes take ``encrypt``."""
    if not (p.mode is _CBC and p.algorithm is _AES and (p.padding is _PKCS5 or p.padding is _NO_PADDING)):
        return functools.partial(encrypt, p)
    aes = algorithms.AES(p.key)
    padded = p.padding is _PKCS5
    params = p.params
    # A given 16-byte IV needs none of iv_for's work when no IV rule is in the parameters.
    plain_iv = not params.random_iv and params.iv_length is None and not params.fixed_field_length

    # CBC contexts kept for the plan's life instead of one per call (building a Cipher costs more than encrypting
    # a few blocks): a context chains each block on the previous ciphertext block ``last``, so a message with its
    # own IV starts with P1 xor IV xor last, which the context turns into E(P1 xor IV), the first block of CBC
    # under that IV; the rest chains as usual. The contexts are never finalised (no padding is left in them).
    # Those not in use wait in ``idle`` with their ``last`` as a number: a call takes one (list.pop and append are
    # atomic, no lock needed) and makes another when every one is in use by other threads.
    def context() -> tuple[CipherContext, int]:
        return Cipher(aes, modes.CBC(bytes(16))).encryptor(), 0

    idle = [context()]
    # The IV of the last message as a number: an application encrypting under one C_EncryptInit after another
    # hands the same IV object each time (the provider keeps its decided C_EncryptInit).
    last_iv: list[Any] = [None, 0]

    def cbc(data: bytes, iv: bytes | None, aad: bytes | None) -> EncryptResult:
        nonce: bytes | None
        chosen: bytes | None
        if plain_iv and type(iv) is bytes and len(iv) == 16:
            nonce, chosen = iv, None
        else:
            nonce, chosen = p.iv_for(iv, encrypting=True)
        if aad:
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{p.describe()} does not take additional data")
        if padded:
            data = (data if type(data) is bytes else bytes(data)) + _PKCS7[16 - len(data) % 16]
        elif len(data) % 16:
            fail(ResultReason.INVALID_FIELD, "data is not a multiple of the 16-byte block size")
        if not data:
            return EncryptResult(b"", chosen)
        seen, number = last_iv
        if nonce is not seen:
            number = int.from_bytes(nonce)  # type: ignore[arg-type]
            last_iv[:] = nonce, number
        try:
            ctx, last = idle.pop()
        except IndexError:
            ctx, last = context()
        out = ctx.update((int.from_bytes(data[:16]) ^ number ^ last).to_bytes(16) + data[16:])
        idle.append((ctx, int.from_bytes(out[-16:])))
        # A tuple made without EncryptResult's own __new__ (a Python function: most of the cost of building it).
        return _new_tuple(EncryptResult, (out, chosen, None))

    return cbc


#: PKCS#7 padding of a 16-byte block by length (1 to 16 bytes).
_PKCS7 = [bytes((n,)) * n for n in range(17)]
_new_tuple = tuple.__new__


def encrypt(p: _Plan, data: bytes, iv: bytes | None, aad: bytes | None) -> EncryptResult:
    """Encrypt ``data`` with a resolved plan."""
    nonce, chosen = p.iv_for(iv, encrypting=True)
    mode = p.mode
    if mode is _GCM:  # the hot path: module constant and identity test, no enum attribute lookups
        sealed = _aesgcm(p.key).encrypt(nonce, data, aad)  # type: ignore[arg-type]
        return EncryptResult(
            sealed[:-16], chosen, sealed[-16:] if p.tag_length == 16 else sealed[-16 : p.tag_length - 16]
        )
    if mode == BlockCipherMode.AEAD:
        sealed = ChaCha20Poly1305(p.key).encrypt(nonce, data, aad)  # type: ignore[arg-type]
        return EncryptResult(sealed[:-16], chosen, sealed[-16 : len(sealed) - 16 + p.tag_length])
    if mode == BlockCipherMode.GCM_SIV:
        sealed = AESGCMSIV(p.key).encrypt(nonce, data, aad)  # type: ignore[arg-type]
        return EncryptResult(sealed[:-16], chosen, sealed[-16:])
    if mode == BlockCipherMode.CCM:
        sealed = AESCCM(p.key, p.tag_length).encrypt(nonce, data, aad)  # type: ignore[arg-type]
        return EncryptResult(sealed[: -p.tag_length], chosen, sealed[-p.tag_length :])
    if aad:
        fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{p.describe()} does not take additional data")
    if mode == BlockCipherMode.NISTKEYWRAP:
        if len(data) < 16 or len(data) % 8:
            fail(ResultReason.INVALID_FIELD, "RFC 3394 key wrap needs at least 16 bytes, a multiple of 8")
        return EncryptResult(keywrap.aes_key_wrap(p.key, data))
    if mode == BlockCipherMode.AESKEYWRAPPADDING:
        if not data:
            fail(ResultReason.INVALID_FIELD, "RFC 5649 key wrap needs at least one byte")
        return EncryptResult(keywrap.aes_key_wrap_with_padding(p.key, data))
    if mode == BlockCipherMode.XTS:
        return EncryptResult(_xts(p, nonce, data, encrypting=True), chosen)
    stream = _IncrementalStream(p, nonce, chosen, encrypting=True, aad=None)
    out = stream.update(data)
    rest = stream.finalize()
    return EncryptResult(out + rest.data, chosen)


def decrypt(p: _Plan, data: bytes, iv: bytes | None, aad: bytes | None, tag: bytes | None) -> bytes:
    """Decrypt ``data`` with a resolved plan; any integrity failure is CRYPTOGRAPHIC_FAILURE "decryption failed"."""
    nonce, _ = p.iv_for(iv, encrypting=False)
    mode = p.mode
    try:
        if mode in _AEAD_MODES:
            tag = _expect_tag(p, tag)
            if mode is _GCM:
                if len(tag) == 16:
                    return _aesgcm(p.key).decrypt(nonce, data + tag, aad)  # type: ignore[arg-type]
                ctx = p.cipher(nonce, tag=tag).decryptor()
                if aad:
                    ctx.authenticate_additional_data(aad)
                return ctx.update(data) + ctx.finalize()
            if mode == BlockCipherMode.AEAD:
                return _chacha20poly1305_open(p.key, nonce, data, aad, tag)  # type: ignore[arg-type]
            if mode == BlockCipherMode.GCM_SIV:
                return AESGCMSIV(p.key).decrypt(nonce, data + tag, aad)  # type: ignore[arg-type]
            return AESCCM(p.key, p.tag_length).decrypt(nonce, data + tag, aad)  # type: ignore[arg-type]
        if aad:
            fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{p.describe()} does not take additional data")
        if mode == BlockCipherMode.NISTKEYWRAP:
            if len(data) < 24 or len(data) % 8:
                fail(ResultReason.INVALID_FIELD, "RFC 3394 wrapped data is at least 24 bytes, a multiple of 8")
            return keywrap.aes_key_unwrap(p.key, data)
        if mode == BlockCipherMode.AESKEYWRAPPADDING:
            if len(data) < 16 or len(data) % 8:
                fail(ResultReason.INVALID_FIELD, "RFC 5649 wrapped data is at least 16 bytes, a multiple of 8")
            return keywrap.aes_key_unwrap_with_padding(p.key, data)
        if mode == BlockCipherMode.XTS:
            return _xts(p, nonce, data, encrypting=False)
    except (InvalidTag, keywrap.InvalidUnwrap):
        fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
    stream = _IncrementalStream(p, nonce, None, encrypting=False, aad=None)
    out = stream.update(data)
    return out + stream.finalize().data


def _expect_tag(p: _Plan, tag: bytes | None) -> bytes:
    if tag is None:
        fail(ResultReason.INVALID_MESSAGE, "missing Authenticated Encryption Tag")
    if len(tag) != p.tag_length:
        # A tag shorter than the agreed Tag Length would let a forger shrink the check; refuse it.
        fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
    return as_bytes(tag)


def _chacha20poly1305_open(key: bytes, nonce: bytes, data: bytes, aad: bytes | None, tag: bytes) -> bytes:
    if len(tag) == 16:
        return ChaCha20Poly1305(key).decrypt(nonce, data + tag, aad)
    # cryptography checks full 16-byte tags only. A truncated tag is checked by recomputing the full tag: decrypt
    # with the RFC 8439 §2.8 keystream (block counter 1), re-seal, compare the prefix in constant time. The
    # plaintext is returned only after the comparison succeeds.
    stream = Cipher(algorithms.ChaCha20(key, (1).to_bytes(4, "little") + nonce), None).decryptor()
    plaintext = stream.update(data) + stream.finalize()
    expected = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)[-16:]
    if not hmac.compare_digest(expected[: len(tag)], tag):
        raise InvalidTag
    return plaintext


def _xts(p: _Plan, tweak: bytes | None, data: bytes, *, encrypting: bool) -> bytes:
    if len(data) < 16:
        fail(ResultReason.INVALID_FIELD, "XTS needs at least 16 bytes of data (IEEE 1619 §5.1)")
    try:
        cipher = Cipher(algorithms.AES(p.key), modes.XTS(tweak))  # type: ignore[arg-type]
        ctx = cipher.encryptor() if encrypting else cipher.decryptor()
    except ValueError:
        fail(ResultReason.INVALID_FIELD, "the two halves of an XTS key must differ (IEEE 1619 §5.1)")
    return ctx.update(data) + ctx.finalize()


# ---------------------------------------------------------------------------------------------------------------
# Streams (KMIP Init Indicator / Final Indicator, §6.1.18; PKCS#11 C_EncryptUpdate / C_EncryptFinal)
# ---------------------------------------------------------------------------------------------------------------


class CipherStream:
    """An Encrypt or Decrypt spread over several requests (KMIP 2.1 §6.1.18 Init/Final Indicator).

    ``iv_counter_nonce`` is the IV the server chose (to return with the first response), ``None`` if the client gave
    it. ``update`` returns what can be released now; ``finalize`` returns the rest and, when encrypting with an AEAD
    mode, the tag; when decrypting an AEAD mode, pass the tag to ``finalize``. Decrypted GCM data from ``update`` is
    unauthenticated until ``finalize`` succeeds (inherent to streaming GCM; callers must discard it on failure).
    Modes without an incremental implementation (CCM, GCM-SIV, ChaCha20-Poly1305, XTS, key wrap) buffer up to
    ``MAX_BUFFERED_STREAM`` bytes and process everything at ``finalize``; chunked and one-shot results are equal.
    """

    __slots__ = ("_done",)

    iv_counter_nonce: bytes | None

    def __init__(self) -> None:
        self._done = False

    def update(self, data: bytes) -> bytes:
        """Process a chunk; returns the output available so far."""
        raise NotImplementedError

    def finalize(self, data: bytes = b"", *, tag: bytes | None = None) -> EncryptResult:
        """Process the last chunk; returns the remaining output and (encrypting AEAD) the tag."""
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._done:
            fail(ResultReason.INVALID_MESSAGE, "the cipher stream is already finalized")


class _IncrementalStream(CipherStream):
    __slots__ = ("_ctx", "_encrypting", "_padder", "_plan", "iv_counter_nonce")

    def __init__(
        self, p: _Plan, iv: bytes | None, chosen: bytes | None, *, encrypting: bool, aad: bytes | None
    ) -> None:
        super().__init__()
        self._plan = p
        self._encrypting = encrypting
        self.iv_counter_nonce = chosen
        cipher = p.cipher(iv)
        self._ctx: CipherContext = cipher.encryptor() if encrypting else cipher.decryptor()
        if aad:
            if p.mode != BlockCipherMode.GCM:
                fail(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, f"{p.describe()} does not take additional data")
            self._ctx.authenticate_additional_data(aad)
        self._padder = p.padder(encrypting)

    def update(self, data: bytes) -> bytes:
        self._check_open()
        if self._encrypting and self._padder is not None:
            return self._ctx.update(self._padder.update(data))
        out = self._ctx.update(data)
        return self._padder.update(out) if self._padder is not None else out

    def finalize(self, data: bytes = b"", *, tag: bytes | None = None) -> EncryptResult:
        self._check_open()
        out = self.update(data) if data else b""
        self._done = True
        p = self._plan
        if self._encrypting:
            if self._padder is not None:
                out += self._ctx.update(self._padder.finalize())
            try:
                out += self._ctx.finalize()
            except ValueError:
                fail(ResultReason.INVALID_FIELD, f"data is not a multiple of the {p.block_size}-byte block size")
            if p.mode == BlockCipherMode.GCM:
                full: bytes = self._ctx.tag  # type: ignore[attr-defined]
                return EncryptResult(out, self.iv_counter_nonce, full[: p.tag_length])
            return EncryptResult(out, self.iv_counter_nonce)
        try:
            if p.mode == BlockCipherMode.GCM:
                tail = self._ctx.finalize_with_tag(_expect_tag(p, tag))  # type: ignore[attr-defined]
            else:
                tail = self._ctx.finalize()
        except InvalidTag:
            fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)
        except ValueError:
            fail(ResultReason.INVALID_FIELD, f"data is not a multiple of the {p.block_size}-byte block size")
        if self._padder is None:
            return EncryptResult(out + tail)
        try:
            return EncryptResult(out + self._padder.update(tail) + self._padder.finalize())
        except ValueError:
            # Bad padding reads exactly like a bad tag: one message, no padding oracle (Vaudenay 2002).
            fail(ResultReason.CRYPTOGRAPHIC_FAILURE, DECRYPTION_FAILED)


class _BufferedStream(CipherStream):
    __slots__ = ("_aad", "_buffer", "_encrypting", "_iv", "_plan", "iv_counter_nonce")

    def __init__(
        self, p: _Plan, iv: bytes | None, chosen: bytes | None, *, encrypting: bool, aad: bytes | None
    ) -> None:
        super().__init__()
        self._plan = p
        self._iv = iv
        self._aad = aad
        self._encrypting = encrypting
        self._buffer = bytearray()
        self.iv_counter_nonce = chosen

    def update(self, data: bytes) -> bytes:
        self._check_open()
        if len(self._buffer) + len(data) > MAX_BUFFERED_STREAM:
            fail(ResultReason.SERVER_LIMIT_EXCEEDED, f"{self._plan.describe()} streams are limited to 64 MiB")
        self._buffer += data
        return b""

    def finalize(self, data: bytes = b"", *, tag: bytes | None = None) -> EncryptResult:
        self.update(data)
        self._done = True
        whole = bytes(self._buffer)
        self._buffer.clear()
        if self._encrypting:
            # The IV is fixed already: encrypt as if the client had supplied it, report the chosen one.
            result = encrypt(_Plan(self._plan.key, _without_random_iv(self._plan.params)), whole, self._iv, self._aad)
            return EncryptResult(result.data, self.iv_counter_nonce, result.tag)
        return EncryptResult(decrypt(self._plan, whole, self._iv, self._aad, tag), None)


def _without_random_iv(params: CipherParams) -> CipherParams:
    return replace(params, random_iv=None, fixed_field_length=None, invocation_field_length=None)


def open_stream(p: _Plan, *, encrypting: bool, iv: bytes | None, aad: bytes | None) -> CipherStream:
    """Start a :class:`CipherStream` for a resolved plan."""
    nonce, chosen = p.iv_for(iv, encrypting=encrypting)
    if p.incremental:
        return _IncrementalStream(p, nonce, chosen, encrypting=encrypting, aad=aad)
    return _BufferedStream(p, nonce, chosen, encrypting=encrypting, aad=aad)
