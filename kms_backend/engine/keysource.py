"""Keys that live outside the store (an HSM's ``hsm::<slot>::<label>`` keys): what the engine needs of their source.

The engine routes requests naming such a key through the same router and handlers as any other
(``handlers/_hsm_keys.py``); the source, below the engine, holds the keys and does the cryptography.
"""

from __future__ import annotations

from typing import Protocol

from ..kmip import _schema_data as S
from ..kmip._registry_data import Operation, ResultReason
from ..kmip.errors import KmipError

#: What the answer to other operations lists.
SUPPORTED = "Create, Create Key Pair, Encrypt, Decrypt, Sign, Get of public keys and Destroy"


class KeySource(Protocol):
    """Keys that live outside the store, used where they live (``Engine.hsm``)."""

    #: users who play the owner's part for every key of the source
    admins: frozenset[str]

    def names(self, uid: object) -> bool:
        """Whether ``uid`` names a key of this source."""

    def create(self, uid: str, request: S.CreateRequest) -> S.CreateResponse: ...
    def create_key_pair(self, uid: str, request: S.CreateKeyPairRequest) -> S.CreateKeyPairResponse: ...
    def encrypt(self, uid: str, request: S.EncryptRequest) -> S.EncryptResponse: ...
    def decrypt(self, uid: str, request: S.DecryptRequest) -> S.DecryptResponse: ...
    def sign(self, uid: str, request: S.SignRequest) -> S.SignResponse: ...
    def get(self, uid: str, request: S.GetRequest) -> S.GetResponse: ...
    def destroy(self, uid: str) -> None: ...


def not_supported(operation: int) -> KmipError:
    """Operation Not Supported for an operation no key source answers."""
    name = Operation(operation).name if operation in Operation._value2member_map_ else str(operation)
    return KmipError(ResultReason.OPERATION_NOT_SUPPORTED, f"{name} is not supported on HSM keys ({SUPPORTED} are)")


__all__ = ["SUPPORTED", "KeySource", "not_supported"]
