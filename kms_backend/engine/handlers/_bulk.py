"""Cosmian bulk data in Encrypt and Decrypt (``kmip.bulk_data`` frames the items): each item is encrypted or
decrypted on its own, symmetric items laid out as ``nonce ‖ ciphertext ‖ tag`` (Cosmian's layout)."""

from __future__ import annotations

from ... import crypto
from ...crypto import CipherParams
from ...kmip import bulk_data
from ...kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, ResultReason
from ...kmip.errors import KmipError
from ..keymaterial import Key
from ._params import CHACHA, is_aead


def encrypt(
    key: Key, params: CipherParams, data: bytes, iv: bytes | None, aad: bytes | None, *, approved: bool
) -> bytes:
    """The bulk data ``data`` (a list of plaintexts) encrypted item by item, each with a fresh IV."""
    if iv is not None:
        # One IV for every item would reuse a nonce under one key; each item gets its own.
        raise KmipError(ResultReason.INVALID_MESSAGE, "bulk data takes no IV/Counter/Nonce: each item gets its own")
    out: list[bytes] = []
    for item in bulk_data.parse(data) or []:
        result = crypto.encrypt(key.material, params, item, aad=aad, approved_only=approved)
        out.append((result.iv_counter_nonce or b"") + result.data + (result.tag or b""))
    return bulk_data.encode(out)


def decrypt(key: Key, params: CipherParams, data: bytes, aad: bytes | None, *, approved: bool) -> bytes:
    """The bulk data ``data`` (a list of ciphertexts) decrypted item by item; any bad item fails the whole request
    with the one "decryption failed"."""
    out: list[bytes] = []
    nonce_length, tag_length = item_layout(params) if key.kind == "symmetric" else (0, 0)
    for item in bulk_data.parse(data) or []:
        if key.kind != "symmetric":
            out.append(crypto.decrypt(key.material, params, item, aad=aad, approved_only=approved))
            continue
        if len(item) < nonce_length + tag_length:
            raise KmipError(ResultReason.CRYPTOGRAPHIC_FAILURE, "decryption failed")
        nonce = item[:nonce_length] or None
        body = item[nonce_length : len(item) - tag_length]
        tag = item[len(item) - tag_length :] if tag_length else None
        out.append(crypto.decrypt(key.material, params, body, iv=nonce, aad=aad, tag=tag, approved_only=approved))
    return bulk_data.encode(out)


def item_layout(params: CipherParams) -> tuple[int, int]:
    """``(nonce bytes, tag bytes)`` framing each symmetric bulk item as ``nonce ‖ ciphertext ‖ tag``, from the
    resolved parameters."""
    mode = params.block_cipher_mode
    algorithm = params.cryptographic_algorithm
    aead = is_aead(params)
    tag = (params.tag_length or 16) if aead else 0
    if params.iv_length is not None:
        return params.iv_length // 8, tag
    if mode in (BlockCipherMode.ECB, BlockCipherMode.NISTKEYWRAP, BlockCipherMode.AESKEYWRAPPADDING):
        return 0, tag
    if mode == BlockCipherMode.CCM:
        return 13, tag
    if aead or algorithm in CHACHA:
        return 12, tag
    return (8 if algorithm == CryptographicAlgorithm.DES3 else 16), tag


__all__ = ["decrypt", "encrypt", "item_layout"]
