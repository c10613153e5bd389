"""Message digests (PKCS#11 Current Mechanisms 3.0 §2.16-2.18: SHA-1, SHA-224/256/384/512): computed in the
provider with hashlib, since no key is involved."""

from __future__ import annotations

from ..constants import Mechanism, MechanismFlag
from ._base import MechanismSpec

M = Mechanism


def _digest(hash_name: str) -> MechanismSpec:
    return MechanismSpec(0, 0, MechanismFlag.DIGEST, hash_name=hash_name)


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.SHA_1: _digest("sha1"),
    M.SHA224: _digest("sha224"),
    M.SHA256: _digest("sha256"),
    M.SHA384: _digest("sha384"),
    M.SHA512: _digest("sha512"),
}

__all__ = ["MECHANISMS"]
