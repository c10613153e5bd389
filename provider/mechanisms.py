"""The CKM table: what each mechanism the token offers does, and its CK_MECHANISM_INFO (STYLE rule 5).

Only what is implemented is listed, so C_GetMechanismList never advertises a mechanism that fails. Cipher and
signature mechanisms join once the engine routes KMIP Encrypt/Decrypt/Sign/Verify (issue 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from kms_backend.kmip._registry_data import ObjectType

from .constants import KeyType, Mechanism, MechanismFlag


@dataclass(frozen=True, slots=True)
class MechanismSpec:
    """CK_MECHANISM_INFO (PKCS#11 3.0 §3.6) and how the mechanism maps to KMIP."""

    min_key_size: int
    max_key_size: int
    flags: MechanismFlag
    #: For key generation: the key type made and the KMIP Object Type created.
    key_type: KeyType | None = None
    object_type: ObjectType | None = None


#: Key sizes are in bytes for AES (Current Mechanisms 3.0 §2.14.2) and in bits for generic secrets (§2.29.1).
MECHANISMS: dict[Mechanism, MechanismSpec] = {
    Mechanism.AES_KEY_GEN: MechanismSpec(16, 32, MechanismFlag.GENERATE, KeyType.AES, ObjectType.SYMMETRIC_KEY),
    Mechanism.GENERIC_SECRET_KEY_GEN: MechanismSpec(
        8, 8192, MechanismFlag.GENERATE, KeyType.GENERIC_SECRET, ObjectType.SECRET_DATA
    ),
}

__all__ = ["MECHANISMS", "MechanismSpec"]
