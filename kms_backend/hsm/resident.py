"""HSM-resident keys: keys generated and used inside the HSM, addressed as ``hsm::<slot>::<label>`` (the Cosmian KMS
convention). They are not managed objects of the store. ``ResidentKeys`` is a key source and crypto backend below
the engine: the engine's router hands each request that names such a key to its handler, which checks access like
for any object (``engine/handlers/_hsm_keys.py``) and calls the method here, which runs it through PKCS#11.

=================  ========================================================================================
Operation          what happens in the HSM
=================  ========================================================================================
Create             AES key (128/192/256): token object, sensitive, never extractable; the request's
                   Attributes carry the Unique Identifier ``hsm::<slot>::<label>``
Create Key Pair    RSA (2048-4096): private key ``hsm::<slot>::<label>``, public key ``hsm::<slot>::<label>_pk``
Encrypt / Decrypt  AES-GCM (IV 12 bytes, tag 16) with AES keys; RSA-OAEP with RSA keys (SoftHSM 2.6.1 only
                   accepts SHA-1 as the OAEP hash)
Sign               RSA PKCS#1 v1.5 or PSS with SHA-1/224/256/384/512, Data or Digested Data; raw PKCS#1 v1.5
                   (Padding Method PKCS1_V1_5, no hash: the bytes as given, at most k - 11) with CKM_RSA_PKCS
Get                public keys only (PKCS#1 or X.509 SubjectPublicKeyInfo); private and secret keys never leave
Destroy            ``C_DestroyObject``; grants on the identifier are withdrawn
=================  ========================================================================================

Access (checked by the engine): the configured HSM administrators (``ResidentKeys.admins``) play the owner's part;
other users may do what an administrator granted them on that identifier (the store's grants table, as for stored
objects; Destroy and Revoke need a grant naming the user). The ``<slot>``
is the PKCS#11 slot id of the configured token; the ``<label>`` is the object's CKA_LABEL (CKA_ID holds it too).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

import pkcs11.exceptions as E
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from pkcs11 import MGF, Attribute, GCMParams, KeyType, Mechanism, ObjectClass

from ..crypto import DIGEST_INFO_PREFIXES
from ..kmip import _schema_data as S
from ..kmip._registry_data import (
    BlockCipherMode,
    CryptographicAlgorithm,
    DigitalSignatureAlgorithm,
    HashingAlgorithm,
    KeyFormatType,
    ObjectType,
    PaddingMethod,
    ResultReason,
    Tag,
)
from ..kmip.errors import KmipError
from ..kmip.schema import Attributes
from . import _errors
from .session import RESIDENT_KEY_TEMPLATE, HsmSessions, PooledSession

PREFIX = "hsm::"
PUBLIC_SUFFIX = "_pk"
_GCM_IV_BYTES = 12
_GCM_TAG_BYTES = 16


_HASHES: dict[int, tuple[Mechanism, MGF, int]] = {
    HashingAlgorithm.SHA_1: (Mechanism.SHA_1, MGF.SHA1, 20),
    HashingAlgorithm.SHA_224: (Mechanism.SHA224, MGF.SHA224, 28),
    HashingAlgorithm.SHA_256: (Mechanism.SHA256, MGF.SHA256, 32),
    HashingAlgorithm.SHA_384: (Mechanism.SHA384, MGF.SHA384, 48),
    HashingAlgorithm.SHA_512: (Mechanism.SHA512, MGF.SHA512, 64),
}
_PKCS1_SIGN: dict[int, Mechanism] = {
    HashingAlgorithm.SHA_1: Mechanism.SHA1_RSA_PKCS,
    HashingAlgorithm.SHA_224: Mechanism.SHA224_RSA_PKCS,
    HashingAlgorithm.SHA_256: Mechanism.SHA256_RSA_PKCS,
    HashingAlgorithm.SHA_384: Mechanism.SHA384_RSA_PKCS,
    HashingAlgorithm.SHA_512: Mechanism.SHA512_RSA_PKCS,
}
_PSS_SIGN: dict[int, Mechanism] = {
    HashingAlgorithm.SHA_1: Mechanism.SHA1_RSA_PKCS_PSS,
    HashingAlgorithm.SHA_224: Mechanism.SHA224_RSA_PKCS_PSS,
    HashingAlgorithm.SHA_256: Mechanism.SHA256_RSA_PKCS_PSS,
    HashingAlgorithm.SHA_384: Mechanism.SHA384_RSA_PKCS_PSS,
    HashingAlgorithm.SHA_512: Mechanism.SHA512_RSA_PKCS_PSS,
}
_SIGNATURE_ALGORITHMS: dict[int, tuple[int, int]] = {
    DigitalSignatureAlgorithm.SHA_1_WITH_RSA_ENCRYPTION: (PaddingMethod.PKCS1_V1_5, HashingAlgorithm.SHA_1),
    DigitalSignatureAlgorithm.SHA_224_WITH_RSA_ENCRYPTION: (PaddingMethod.PKCS1_V1_5, HashingAlgorithm.SHA_224),
    DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION: (PaddingMethod.PKCS1_V1_5, HashingAlgorithm.SHA_256),
    DigitalSignatureAlgorithm.SHA_384_WITH_RSA_ENCRYPTION: (PaddingMethod.PKCS1_V1_5, HashingAlgorithm.SHA_384),
    DigitalSignatureAlgorithm.SHA_512_WITH_RSA_ENCRYPTION: (PaddingMethod.PKCS1_V1_5, HashingAlgorithm.SHA_512),
}


def is_hsm_uid(value: object) -> bool:
    """True for a Unique Identifier of the form ``hsm::…``."""
    return isinstance(value, str) and value.startswith(PREFIX)


class ResidentKeys:
    """Operations on keys that live in the HSM token of ``sessions``; ``admins`` may use and manage all of them."""

    def __init__(self, sessions: HsmSessions, admins: Iterable[str]) -> None:
        self.sessions = sessions
        self.admins = frozenset(admins)

    # -- identifiers ---------------------------------------------------------------------------------
    def label_of(self, uid: str) -> str:
        """The CKA_LABEL an ``hsm::<slot>::<label>`` identifier designates on the configured token."""
        parts = uid.split("::", 2)
        if len(parts) != 3 or not parts[2]:
            raise KmipError(ResultReason.INVALID_FIELD, f"HSM key identifiers look like hsm::<slot>::<label>: {uid!r}")
        slot = self.sessions.slot_id
        if parts[1] != str(slot):
            raise KmipError(
                ResultReason.OBJECT_NOT_FOUND, f"slot {parts[1]} is not the configured HSM token's slot ({slot})"
            )
        return parts[2]

    def names(self, uid: object) -> bool:
        """Whether ``uid`` names a key of this source (``hsm::…``): the engine routes it here."""
        return is_hsm_uid(uid)

    def uid_for(self, label: str) -> str:
        return f"{PREFIX}{self.sessions.slot_id}::{label}"

    # -- operations ---------------------------------------------------------------------------------------------
    def create(self, uid: str, request: S.CreateRequest) -> S.CreateResponse:
        """Generate the AES key ``uid`` names (the engine checked the requester is an HSM administrator)."""
        if request.object_type != ObjectType.SYMMETRIC_KEY:
            raise KmipError(ResultReason.INVALID_OBJECT_TYPE, "HSM keys made by Create are AES Symmetric Keys")
        attrs = request.attributes or Attributes()
        algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES)
        length = attrs.get(Tag.CRYPTOGRAPHIC_LENGTH, 256)
        if algorithm != CryptographicAlgorithm.AES or length not in (128, 192, 256):
            raise KmipError(
                ResultReason.INVALID_ATTRIBUTE_VALUE, "HSM symmetric keys are AES with a length of 128, 192 or 256"
            )
        label = self.label_of(uid)
        self._require_free(label)
        template = {**RESIDENT_KEY_TEMPLATE, Attribute.ENCRYPT: True, Attribute.DECRYPT: True}

        def generate(pooled: PooledSession) -> None:
            pooled.session.generate_key(
                KeyType.AES, int(length), label=label, id=label.encode(), store=True, template=template
            )

        self._run(generate, "key generation", idempotent=False)
        return S.CreateResponse(object_type=ObjectType.SYMMETRIC_KEY, unique_identifier=uid)

    def create_key_pair(self, uid: str, request: S.CreateKeyPairRequest) -> S.CreateKeyPairResponse:
        """Generate the RSA key pair ``uid`` (private) and ``uid_pk`` (public) name."""
        algorithm = length = None
        for attrs in (request.common_attributes, request.private_key_attributes, request.public_key_attributes):
            if isinstance(attrs, Attributes):
                algorithm = attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
                length = attrs.get(Tag.CRYPTOGRAPHIC_LENGTH, length)
        if algorithm not in (None, CryptographicAlgorithm.RSA):
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "HSM key pairs are RSA key pairs")
        bits = int(length or 2048)
        if bits not in (2048, 3072, 4096):
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "HSM RSA keys are 2048, 3072 or 4096 bits long")
        label = self.label_of(uid)
        if label.endswith(PUBLIC_SUFFIX):
            raise KmipError(ResultReason.INVALID_FIELD, f"a key pair's label must not end with {PUBLIC_SUFFIX!r}")
        self._require_free(label)
        self._require_free(label + PUBLIC_SUFFIX)
        public_template = {Attribute.TOKEN: True, Attribute.ENCRYPT: True, Attribute.VERIFY: True}
        private_template = {**RESIDENT_KEY_TEMPLATE, Attribute.DECRYPT: True, Attribute.SIGN: True}

        def generate(pooled: PooledSession) -> None:
            public, _private = pooled.session.generate_keypair(
                KeyType.RSA,
                bits,
                id=label.encode(),
                label=label,
                store=True,
                public_template=public_template,
                private_template=private_template,
            )
            public[Attribute.LABEL] = label + PUBLIC_SUFFIX

        self._run(generate, "key pair generation", idempotent=False)
        return S.CreateKeyPairResponse(
            private_key_unique_identifier=uid, public_key_unique_identifier=uid + PUBLIC_SUFFIX
        )

    def encrypt(self, uid: str, request: S.EncryptRequest) -> S.EncryptResponse:
        data = _data(request.data)
        params = request.cryptographic_parameters
        kind = self.kind(uid)
        if kind == ObjectClass.SECRET_KEY:
            _require_gcm(params)
            iv = request.iv_counter_nonce or secrets.token_bytes(_GCM_IV_BYTES)
            gcm = GCMParams(bytes(iv), request.authenticated_encryption_additional_data, _GCM_TAG_BYTES * 8)
            out = self._with_key(
                uid, ObjectClass.SECRET_KEY, lambda k: k.encrypt(data, mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
            )
            return S.EncryptResponse(
                unique_identifier=uid,
                data=out[:-_GCM_TAG_BYTES],
                iv_counter_nonce=bytes(iv),
                authenticated_encryption_tag=out[-_GCM_TAG_BYTES:],
            )
        mechanism, oaep = _oaep(params)
        public_uid = uid if kind == ObjectClass.PUBLIC_KEY else uid + PUBLIC_SUFFIX
        out = self._with_key(
            public_uid, ObjectClass.PUBLIC_KEY, lambda k: k.encrypt(data, mechanism=mechanism, mechanism_param=oaep)
        )
        return S.EncryptResponse(unique_identifier=uid, data=out)

    def decrypt(self, uid: str, request: S.DecryptRequest) -> S.DecryptResponse:
        data = _data(request.data)
        params = request.cryptographic_parameters
        kind = self.kind(uid)
        if kind == ObjectClass.SECRET_KEY:
            _require_gcm(params)
            if not request.iv_counter_nonce or request.authenticated_encryption_tag is None:
                raise KmipError(ResultReason.INVALID_MESSAGE, "AES-GCM decryption needs the IV and the tag")
            tag = bytes(request.authenticated_encryption_tag)
            gcm = GCMParams(
                bytes(request.iv_counter_nonce), request.authenticated_encryption_additional_data, len(tag) * 8
            )
            out = self._with_key(
                uid,
                ObjectClass.SECRET_KEY,
                lambda k: k.decrypt(data + tag, mechanism=Mechanism.AES_GCM, mechanism_param=gcm),
            )
            return S.DecryptResponse(unique_identifier=uid, data=out)
        if kind != ObjectClass.PRIVATE_KEY:
            raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"{uid} is a public key: decrypt with the private key")
        mechanism, oaep = _oaep(params)
        out = self._with_key(
            uid, ObjectClass.PRIVATE_KEY, lambda k: k.decrypt(data, mechanism=mechanism, mechanism_param=oaep)
        )
        return S.DecryptResponse(unique_identifier=uid, data=out)

    def sign(self, uid: str, request: S.SignRequest) -> S.SignResponse:
        if self.kind(uid) != ObjectClass.PRIVATE_KEY:
            raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"{uid} is not a private key: only those sign")
        padding, hashing = _signature_scheme(request.cryptographic_parameters)
        if hashing is None:
            message = bytes(request.digested_data) if request.digested_data is not None else _data(request.data)
            signature = self._with_key(uid, ObjectClass.PRIVATE_KEY, lambda k: _raw_pkcs1_sign(k, message))
            return S.SignResponse(unique_identifier=uid, signature_data=signature)
        hash_mechanism, mgf, hash_length = _HASHES[hashing]
        if request.digested_data is not None:
            digest = bytes(request.digested_data)
            if len(digest) != hash_length:
                raise KmipError(ResultReason.INVALID_MESSAGE, f"Digested Data must be {hash_length} bytes long")
            if padding == PaddingMethod.PSS:
                mechanism, param, message = Mechanism.RSA_PKCS_PSS, (hash_mechanism, mgf, hash_length), digest
            else:
                mechanism, param, message = (
                    Mechanism.RSA_PKCS,
                    None,
                    DIGEST_INFO_PREFIXES[HashingAlgorithm(hashing)] + digest,
                )
        else:
            message = _data(request.data)
            if padding == PaddingMethod.PSS:
                mechanism, param = _PSS_SIGN[hashing], (hash_mechanism, mgf, hash_length)
            else:
                mechanism, param = _PKCS1_SIGN[hashing], None
        signature = self._with_key(
            uid, ObjectClass.PRIVATE_KEY, lambda k: k.sign(message, mechanism=mechanism, mechanism_param=param)
        )
        return S.SignResponse(unique_identifier=uid, signature_data=signature)

    def get(self, uid: str, request: S.GetRequest) -> S.GetResponse:
        """The public key ``uid`` (private and secret keys never leave the HSM)."""
        if self.kind(uid) != ObjectClass.PUBLIC_KEY:
            raise KmipError(ResultReason.NOT_EXTRACTABLE, f"{uid} never leaves the HSM (only public keys can be got)")
        if request.key_wrapping_specification is not None:
            raise KmipError(ResultReason.FEATURE_NOT_SUPPORTED, "HSM public keys are returned unwrapped")
        key_format = request.key_format_type or KeyFormatType.PKCS_1

        def read(pooled: PooledSession) -> tuple[bytes, bytes]:
            key = self._key(pooled, uid, ObjectClass.PUBLIC_KEY)
            return bytes(key[Attribute.MODULUS]), bytes(key[Attribute.PUBLIC_EXPONENT])

        modulus, exponent = self._run(read, "public key read")
        public = RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big")).public_key()
        if key_format == KeyFormatType.PKCS_1:
            der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        elif key_format == KeyFormatType.X_509:
            der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        else:
            raise KmipError(
                ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "HSM public keys are returned as PKCS#1 or X.509"
            )
        key_block = S.KeyBlock(
            key_format_type=key_format,
            key_value=S.KeyValue(key_material=der),
            cryptographic_algorithm=CryptographicAlgorithm.RSA,
            cryptographic_length=public.key_size,
        )
        return S.GetResponse(
            object_type=ObjectType.PUBLIC_KEY,
            unique_identifier=uid,
            managed_object=S.PublicKey(key_block=key_block),
        )

    def destroy(self, uid: str) -> None:
        """Destroy the key ``uid`` in the HSM (``C_DestroyObject``)."""
        kind = self.kind(uid)

        def remove(pooled: PooledSession) -> None:
            self._key(pooled, uid, kind).destroy()

        self._run(remove, "key destruction", idempotent=False)

    # -- internals ----------------------------------------------------------------------------------------------
    def _require_free(self, label: str) -> None:
        def search(pooled: PooledSession) -> int:
            return sum(1 for _ in pooled.session.get_objects({Attribute.LABEL: label}))

        if self._run(search, "key lookup"):
            raise KmipError(ResultReason.OBJECT_ALREADY_EXISTS, f"the HSM already has a key labelled {label!r}")

    def kind(self, uid: str) -> ObjectClass:
        """The PKCS#11 class of the key ``uid`` (Item Not Found when the HSM has none)."""
        label = self.label_of(uid)

        def search(pooled: PooledSession) -> list[ObjectClass]:
            found = pooled.session.get_objects({Attribute.LABEL: label})
            return [ObjectClass(o[Attribute.CLASS]) for o in found]

        keys = (ObjectClass.SECRET_KEY, ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
        classes = [c for c in self._run(search, "key lookup") if c in keys]
        if not classes and self.sessions.relogin():  # private objects are invisible when logged out
            classes = [c for c in self._run(search, "key lookup") if c in keys]
        if not classes:
            raise KmipError(ResultReason.OBJECT_NOT_FOUND, f"no HSM key {uid}")
        if len(classes) > 1:
            raise KmipError(ResultReason.INVALID_FIELD, f"several HSM objects are labelled {label!r}")
        return ObjectClass(classes[0])

    def _key(self, pooled: PooledSession, uid: str, kind: ObjectClass) -> Any:
        try:
            return pooled.session.get_key(object_class=kind, label=self.label_of(uid))
        except E.NoSuchKey:
            raise KmipError(ResultReason.OBJECT_NOT_FOUND, f"no HSM key {uid}") from None

    def _with_key(self, uid: str, kind: ObjectClass, use: Callable[[Any], Any]) -> bytes:
        def operation(pooled: PooledSession) -> bytes:
            return bytes(use(self._key(pooled, uid, kind)))

        result: bytes = self._run(operation, "cryptographic operation")
        return result

    def _run(self, operation: Callable[[PooledSession], Any], what: str, *, idempotent: bool = True) -> Any:
        try:
            return self.sessions.run(operation, idempotent=idempotent, what=what)
        except KmipError:
            raise
        except (E.ArgumentsBad, E.MechanismInvalid, E.MechanismParamInvalid) as exc:
            raise KmipError(
                ResultReason.CRYPTOGRAPHIC_FAILURE,
                f"the HSM does not support these cryptographic parameters ({type(exc).__name__}); SoftHSM, for "
                "one, accepts RSA-OAEP with SHA-1 only",
            ) from None
        except (E.EncryptedDataInvalid, E.EncryptedDataLenRange, E.DataLenRange, E.DataInvalid, E.GeneralError):
            raise KmipError(
                ResultReason.CRYPTOGRAPHIC_FAILURE, f"the HSM rejected the data ({what}: authentication or length)"
            ) from None
        except E.PKCS11Error as exc:
            raise KmipError(ResultReason.CRYPTOGRAPHIC_FAILURE, f"HSM {what} failed: {_errors.describe(exc)}") from None


def _data(value: object) -> bytes:
    if value is None:
        raise KmipError(ResultReason.INVALID_MESSAGE, "the request carries no Data")
    if not isinstance(value, bytes | bytearray):
        raise KmipError(ResultReason.INVALID_MESSAGE, "Data must be a Byte String")
    return bytes(value)


def _require_gcm(params: S.CryptographicParameters | None) -> None:
    mode = params.block_cipher_mode if params is not None else None
    if mode not in (None, BlockCipherMode.GCM):
        raise KmipError(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "HSM AES keys encrypt with AES-GCM only")


def _oaep(params: S.CryptographicParameters | None) -> tuple[Mechanism, tuple[Mechanism, MGF, None]]:
    """RSA-OAEP parameters: the Hashing Algorithm (default SHA-256) for the label hash and MGF1 unless the Mask
    Generator Hashing Algorithm says otherwise."""
    padding = params.padding_method if params is not None else None
    if padding not in (None, PaddingMethod.OAEP):
        raise KmipError(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "HSM RSA keys encrypt with RSA-OAEP only")
    hashing = (params.hashing_algorithm if params is not None else None) or HashingAlgorithm.SHA_256
    mgf_hashing = (params.mask_generator_hashing_algorithm if params is not None else None) or hashing
    if hashing not in _HASHES or mgf_hashing not in _HASHES:
        raise KmipError(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "RSA-OAEP hashes are SHA-1 or SHA-2")
    return Mechanism.RSA_PKCS_OAEP, (_HASHES[hashing][0], _HASHES[mgf_hashing][1], None)


def _signature_scheme(params: S.CryptographicParameters | None) -> tuple[int, int | None]:
    """(padding, hashing) from Digital Signature Algorithm or Padding Method + Hashing Algorithm (PSS, SHA-256);
    hashing is None for a raw PKCS#1 v1.5 signature (Padding Method PKCS1_V1_5 and no hash, as in the crypto
    layer's Sign)."""
    if params is not None and params.digital_signature_algorithm is not None:
        dsa = params.digital_signature_algorithm
        if dsa in _SIGNATURE_ALGORITHMS:
            return _SIGNATURE_ALGORITHMS[dsa]
        if dsa == DigitalSignatureAlgorithm.RSASSA_PSS:
            return PaddingMethod.PSS, params.hashing_algorithm or HashingAlgorithm.SHA_256
        raise KmipError(ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "HSM keys sign with RSA PKCS#1 v1.5 or PSS")
    padding = (params.padding_method if params is not None else None) or PaddingMethod.PSS
    if padding == PaddingMethod.PKCS1_V1_5 and params is not None and params.hashing_algorithm is None:
        return padding, None
    hashing = (params.hashing_algorithm if params is not None else None) or HashingAlgorithm.SHA_256
    if padding not in (PaddingMethod.PSS, PaddingMethod.PKCS1_V1_5) or hashing not in _HASHES:
        raise KmipError(
            ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS, "HSM keys sign with RSA PKCS#1 v1.5 or PSS and SHA-1/SHA-2"
        )
    return padding, hashing


def _raw_pkcs1_sign(key: Any, message: bytes) -> bytes:
    """CKM_RSA_PKCS over ``message`` as given (PKCS#11 v3 §2.1.6), after the k - 11 bytes check (RFC 8017 §9.2)
    that the HSM would only answer with CKR_DATA_LEN_RANGE."""
    capacity = len(key[Attribute.MODULUS]) - 11
    if len(message) > capacity:
        raise KmipError(
            ResultReason.INVALID_FIELD,
            f"a raw PKCS#1 v1.5 signature with this key covers at most {capacity} bytes, got {len(message)}",
        )
    signature: bytes = key.sign(message, mechanism=Mechanism.RSA_PKCS)
    return signature


__all__ = ["PREFIX", "PUBLIC_SUFFIX", "ResidentKeys", "is_hsm_uid"]
