"""Cosmian bulk data in Encrypt and Decrypt (``kmip.bulk_data`` frames the items): how each symmetric item is laid
out as ``nonce ‖ ciphertext ‖ tag``."""

from __future__ import annotations

from ...crypto import CipherParams
from ...kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
)
from ._params import is_aead

_CHACHA = frozenset({CryptographicAlgorithm.CHACHA20, CryptographicAlgorithm.CHACHA20POLY1305})


def bulk_item_layout(params: CipherParams) -> tuple[int, int]:
    """``(nonce bytes, tag bytes)`` framing each symmetric bulk item as ``nonce ‖ ciphertext ‖ tag`` (Cosmian's
    layout), from the resolved parameters."""
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
    if aead or algorithm in _CHACHA:
        return 12, tag
    return (8 if algorithm == CryptographicAlgorithm.DES3 else 16), tag


__all__ = ["bulk_item_layout"]
