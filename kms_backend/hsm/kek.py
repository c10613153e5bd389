"""The key-encryption key (KEK): an AES-256 key that never leaves the HSM and seals every object blob at rest.

Sealing is AES-256-GCM computed by the HSM (``CKM_AES_GCM``, PKCS#11 v2.40 §2.10.3). SoftHSM 2.6.1 offers
``CKM_AES_KEY_WRAP_PAD`` only through ``C_WrapKey`` (for key objects, not arbitrary blobs), so GCM through
``C_Encrypt`` is the mechanism that works on every token; the KEK has CKA_ENCRYPT/CKA_DECRYPT, CKA_SENSITIVE and
not CKA_EXTRACTABLE, and no code path ever reads its value.

A sealed blob is self-describing, so that rotation and future algorithms need no other state::

    magic 0xFF 'K' 'S' | format version (1) | algorithm (1 = AES-256-GCM) | len(kek id) | kek id (CKA_ID) | IV (12)
    | ciphertext ‖ tag (16)

The additional authenticated data is the header followed by the object's Unique Identifier: a blob copied onto
another object, or a header edited to point at another KEK, fails authentication. Plain TTLV blobs start with
0x42 (every KMIP tag does), never with the magic.

KEKs are found by CKA_ID for unsealing (any KEK on the token, retired ones included) and by CKA_LABEL for sealing:
the *active* KEK is the one key labelled with the configured label that may still encrypt (rotation switches the
old one's CKA_ENCRYPT off before it hands the label over).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pkcs11
import pkcs11.exceptions as E
from pkcs11 import Attribute, GCMParams, KeyType, Mechanism, ObjectClass

from ..kmip._registry_data import ResultReason
from ..kmip.errors import KmipError
from ..sealing.blob import (
    ALGORITHM_AES_256_GCM,
    FORMAT_VERSION,
    IV_BYTES,
    KEK_ID_BYTES,
    MAGIC,
    TAG_BITS,
    SealedHeader,
    associated_data,
    is_sealed,
    sealed_kek_id,
)
from . import _errors
from .cache import UnsealCache
from .session import RESIDENT_KEY_TEMPLATE, HsmSessions, PooledSession

log = logging.getLogger("keystead.hsm")


@dataclass(frozen=True, slots=True)
class KekInfo:
    """One AES key on the token that is (or was) a KEK."""

    kek_id: bytes
    label: str
    can_encrypt: bool


class KekSealer:
    """Seals and unseals object blobs with the KEK labelled ``label`` (the ``RecordCodec`` seal/unseal pair).

    ``accept_plaintext``: unsealing a blob without a header returns it as is. Off for the server (an object
    written into the database behind its back must not be trusted); on for rotation, which seals such objects.
    """

    def __init__(
        self,
        sessions: HsmSessions,
        label: str,
        *,
        cache: UnsealCache | None = None,
        accept_plaintext: bool = False,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.sessions = sessions
        self.label = label
        self.cache = cache if cache is not None else UnsealCache(0)
        self.accept_plaintext = accept_plaintext
        self._random = random_bytes
        self.active_id: bytes | None = None

    # -- start-up ---------------------------------------------------------------------------------------------
    def open(self, *, create: bool = False) -> KekInfo:
        """Find the active KEK (create it with ``create``); KmipError with a clear message if it is missing,
        ambiguous, or not protected (extractable or not sensitive)."""
        active = [k for k in self.find(self.label) if k.can_encrypt]
        if not active:
            if not create:
                retired = self.find(self.label)
                hint = (
                    " (a key with this label exists but may no longer encrypt: a rotation is unfinished; run "
                    "`keystead hsm rotate-kek` to finish it)"
                    if retired
                    else "; start once with --hsm-create-kek to create it"
                )
                raise _errors.unavailable(
                    f"no key-encryption key labelled {self.label!r} on HSM token {self.sessions.token_label!r}{hint}"
                )
            info = self.create(self.label)
            log.info("created the key-encryption key %r (id %s) on the HSM", self.label, info.kek_id.hex())
        elif len(active) > 1:
            raise _errors.unavailable(
                f"{len(active)} keys labelled {self.label!r} on HSM token {self.sessions.token_label!r} may "
                "encrypt; keep one (CKA_ID " + ", ".join(k.kek_id.hex() for k in active) + ")"
            )
        else:
            info = active[0]
        self._check_protected(info.kek_id)
        self.active_id = info.kek_id
        return info

    def _check_protected(self, kek_id: bytes) -> None:
        def check(pooled: PooledSession) -> tuple[bool, bool]:
            key = self._key(pooled, kek_id)
            return bool(key[Attribute.SENSITIVE]), bool(key[Attribute.EXTRACTABLE])

        sensitive, extractable = self.sessions.run(check, what="KEK check")
        if extractable or not sensitive:
            raise _errors.unavailable(
                f"the key-encryption key {self.label!r} is not protected (CKA_SENSITIVE must be true and "
                "CKA_EXTRACTABLE false); create a new one with --hsm-create-kek under another label"
            )

    # -- KEK management (start-up and rotation) ---------------------------------------------------------------
    def find(self, label: str) -> list[KekInfo]:
        """Every AES secret key labelled ``label``."""

        def search(pooled: PooledSession) -> list[KekInfo]:
            found = pooled.session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES, Attribute.LABEL: label}
            )
            return [KekInfo(bytes(o[Attribute.ID]), label, bool(o[Attribute.ENCRYPT])) for o in found]

        result = self.sessions.run(search, what="KEK lookup")
        if not result and self.sessions.relogin():
            result = self.sessions.run(search, what="KEK lookup")
        return result

    def create(self, label: str) -> KekInfo:
        """Generate a new KEK in the HSM: AES-256, token object, sensitive, never extractable, a random CKA_ID."""
        kek_id = self._random(KEK_ID_BYTES)
        template = {
            **RESIDENT_KEY_TEMPLATE,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.WRAP: False,
            Attribute.UNWRAP: False,
            Attribute.MODIFIABLE: True,
        }

        def generate(pooled: PooledSession) -> None:
            pooled.session.generate_key(KeyType.AES, 256, label=label, id=kek_id, store=True, template=template)

        self.sessions.run(generate, idempotent=False, what="KEK creation")
        return KekInfo(kek_id, label, True)

    def update(self, kek_id: bytes, *, label: str | None = None, can_encrypt: bool | None = None) -> None:
        """Relabel a KEK or switch its CKA_ENCRYPT (rotation; both idempotent)."""

        def change(pooled: PooledSession) -> None:
            key = self._key(pooled, kek_id)
            if can_encrypt is not None:
                key[Attribute.ENCRYPT] = can_encrypt
            if label is not None:
                key[Attribute.LABEL] = label

        self.sessions.run(change, what="KEK update")

    def destroy(self, kek_id: bytes) -> None:
        """Destroy a KEK in the HSM (only after no object is sealed under it)."""

        def remove(pooled: PooledSession) -> None:
            try:
                key = self._key(pooled, kek_id)
            except KmipError:
                return  # already gone
            key.destroy()

        self.sessions.run(remove, what="KEK destruction")

    # -- sealing ----------------------------------------------------------------------------------------------
    def seal(self, uid: str, plain: bytes) -> bytes:
        """``plain`` (an object's TTLV) sealed under the active KEK, bound to ``uid``."""
        active = self.active_id if self.active_id is not None else self.open().kek_id
        try:
            return self.seal_with(active, uid, plain)
        except E.PKCS11Error as exc:
            if not _errors.key_function_not_permitted(exc):
                raise self._failure(exc, f"sealing object {uid}") from None
        # A rotation retired the KEK we started with: follow the label to the new one.
        log.info("the key-encryption key %s was retired; switching to the active one", active.hex())
        self.active_id = None
        try:
            return self.seal_with(self.open().kek_id, uid, plain)
        except E.PKCS11Error as exc:
            raise self._failure(exc, f"sealing object {uid}") from None

    def seal_with(self, kek_id: bytes, uid: str, plain: bytes) -> bytes:
        """``plain`` sealed under the KEK whose CKA_ID is ``kek_id`` (rotation seals under the new KEK)."""
        header = SealedHeader(kek_id=kek_id, iv=self._random(IV_BYTES)).encode()
        params = GCMParams(header[-IV_BYTES:], associated_data(header, uid), TAG_BITS)

        def encrypt(pooled: PooledSession) -> bytes:
            key = self._key(pooled, kek_id)
            return bytes(key.encrypt(plain, mechanism=Mechanism.AES_GCM, mechanism_param=params))

        sealed = header + self._with_key_retry(encrypt, "seal")
        self.cache.put(uid, sealed, plain)
        return sealed

    def unseal(self, uid: str, blob: bytes) -> bytes:
        """The plaintext of ``blob`` (the sealed object of ``uid``), from the cache or through the HSM."""
        cached = self.cache.get(uid, blob)
        if cached is not None:
            return cached
        if not is_sealed(blob):
            if self.accept_plaintext:
                return blob
            raise KmipError(
                ResultReason.GENERAL_FAILURE,
                f"object {uid} is stored without HSM protection; seal the existing objects with "
                "`keystead hsm rotate-kek` before serving them",
            )
        try:
            header, ciphertext = SealedHeader.parse(blob)
        except ValueError as exc:
            raise KmipError(ResultReason.GENERAL_FAILURE, f"object {uid} cannot be unsealed: {exc}") from None
        params = GCMParams(header.iv, associated_data(blob[: len(blob) - len(ciphertext)], uid), TAG_BITS)

        def decrypt(pooled: PooledSession) -> bytes:
            key = self._key(pooled, header.kek_id)
            return bytes(key.decrypt(ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params))

        try:
            plain = self._with_key_retry(decrypt, "unseal")
        except KmipError:
            raise
        except E.PKCS11Error as exc:
            if isinstance(exc, E.GeneralError | E.EncryptedDataInvalid | E.EncryptedDataLenRange):
                raise KmipError(
                    ResultReason.CRYPTOGRAPHIC_FAILURE,
                    f"the sealed blob of object {uid} failed authentication (altered in the database, or copied "
                    "from another object)",
                ) from None
            raise self._failure(exc, f"unsealing object {uid}") from None
        self.cache.put(uid, blob, plain)
        return plain

    # -- cache ------------------------------------------------------------------------------------------------
    def invalidate(self, uid: str) -> None:
        """Forget the cached plaintext of ``uid`` (after Revoke, Destroy, Re-key)."""
        self.cache.invalidate(uid)

    # -- internals --------------------------------------------------------------------------------------------
    def _with_key_retry(self, operation: Callable[[PooledSession], bytes], what: str) -> bytes:
        """Run a KEK operation; a stale cached handle (KEK object re-created) is dropped and looked up again."""
        try:
            return self.sessions.run(operation, what=what)
        except (E.KeyHandleInvalid, E.ObjectHandleInvalid):
            return self.sessions.run(operation, what=what)

    def _key(self, pooled: PooledSession, kek_id: bytes) -> Any:
        key = pooled.keys.get(kek_id)
        if key is not None:
            return key
        try:
            key = pooled.session.get_key(object_class=ObjectClass.SECRET_KEY, id=kek_id)
        except E.NoSuchKey:
            # Private objects vanish from view when the application was logged out: log in and look again.
            if not self.sessions.relogin():
                raise KmipError(
                    ResultReason.CRYPTOGRAPHIC_FAILURE,
                    f"the key-encryption key with CKA_ID {kek_id.hex()} is not on HSM token "
                    f"{self.sessions.token_label!r} (destroyed, or another token)",
                ) from None
            key = pooled.session.get_key(object_class=ObjectClass.SECRET_KEY, id=kek_id)
        except E.MultipleObjectsReturned:
            raise _errors.unavailable(f"several keys on the HSM have the KEK's CKA_ID {kek_id.hex()}") from None
        pooled.keys[kek_id] = key
        return key

    def _failure(self, exc: BaseException, action: str) -> KmipError:
        return KmipError(ResultReason.CRYPTOGRAPHIC_FAILURE, f"HSM failure {action}: {_errors.describe(exc)}")


def token_library(module: str) -> Any:
    """The loaded python-pkcs11 library object for ``module`` (tests use it to simulate device faults)."""
    return pkcs11.lib(module)


__all__ = [
    "ALGORITHM_AES_256_GCM",
    "FORMAT_VERSION",
    "MAGIC",
    "KekInfo",
    "KekSealer",
    "SealedHeader",
    "is_sealed",
    "sealed_kek_id",
    "token_library",
]
