"""Triple-DES (PKCS#11 Current Mechanisms 3.0 §2.25, §6.3 DES2/DES3): for legacy applications only (SP 800-131A
disallows it for encryption after 2023; an approved-only KMS refuses it). ``cryptography`` keeps TripleDES under
``hazmat.decrepit``, which the KMS's cipher layer loads.

| CKM                                 | KMIP                                                                    |
|-------------------------------------|-------------------------------------------------------------------------|
| DES2_KEY_GEN / DES3_KEY_GEN         | Create, Symmetric Key, DES3, Cryptographic Length 128 / 192 (parity set)|
| DES3_ECB / DES3_CBC / DES3_CBC_PAD  | Encrypt/Decrypt, DES3, Block Cipher Mode ECB/CBC, Padding None/None/PKCS5 |
"""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, ObjectType, PaddingMethod

from ..constants import KeyType, Mechanism, MechanismFlag
from ._base import CIPHER, CipherPlan, CipherPlanner, MechanismParameter, MechanismSpec, invalid, no_parameter

M = Mechanism
F = MechanismFlag

_DES3 = CryptographicAlgorithm.DES3
_ECB = S.CryptographicParameters(
    cryptographic_algorithm=_DES3, block_cipher_mode=BlockCipherMode.ECB, padding_method=PaddingMethod.NONE
)
_CBC = S.CryptographicParameters(
    cryptographic_algorithm=_DES3, block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.NONE
)
_CBC_PAD = S.CryptographicParameters(
    cryptographic_algorithm=_DES3, block_cipher_mode=BlockCipherMode.CBC, padding_method=PaddingMethod.PKCS5
)


def _ecb(parameter: MechanismParameter) -> CipherPlan:
    no_parameter(M.DES3_ECB, parameter)
    return CipherPlan(_ECB, block=8)


def _cbc(parameters: S.CryptographicParameters) -> CipherPlanner:
    def plan(parameter: MechanismParameter) -> CipherPlan:
        if type(parameter) is not bytes or len(parameter) != 8:
            raise invalid("DES3-CBC takes an 8-byte IV")
        return CipherPlan(parameters, iv=parameter, block=8)

    return plan


_KEYS = frozenset({KeyType.DES2, KeyType.DES3})


def _des3(cipher: CipherPlanner) -> MechanismSpec:
    # Key sizes in bits, parity bits included (two-key and three-key Triple-DES).
    return MechanismSpec(128, 192, CIPHER, key_types=_KEYS, cipher=cipher)


MECHANISMS: dict[Mechanism, MechanismSpec] = {
    M.DES2_KEY_GEN: MechanismSpec(128, 128, F.GENERATE, KeyType.DES2, ObjectType.SYMMETRIC_KEY, key_bytes=16),
    M.DES3_KEY_GEN: MechanismSpec(192, 192, F.GENERATE, KeyType.DES3, ObjectType.SYMMETRIC_KEY, key_bytes=24),
    M.DES3_ECB: _des3(_ecb),
    M.DES3_CBC: _des3(_cbc(_CBC)),
    M.DES3_CBC_PAD: _des3(_cbc(_CBC_PAD)),
}

__all__ = ["MECHANISMS"]
