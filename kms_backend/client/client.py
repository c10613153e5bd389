"""``KmsClient``: KMIP 2.1 operations against one or several Keystead (or Cosmian) servers.

Every operation goes out as a Request Message built from the typed schema (``kmip/_schema_data``) and comes back
through the same mapper and codecs the server uses; no TTLV is written by hand. ``run(payload)`` sends any request
payload (its Operation follows from its class), ``call(payload, ResponseClass)`` also checks the response's type,
and the named methods below cover the operations the CLI uses with plain arguments.

Failover and retries: the URLs are tried in order starting from the last one that answered; a round over all of
them that reaches none is repeated ``config.retries`` times with a doubling pause. Only failures that prove the
request was not delivered are retried (``transports.Unreachable``); a KMIP or HTTP error never is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from enum import IntEnum
from typing import Any, TypeVar

from ..kmip import _schema_data as S
from ..kmip import messages
from ..kmip._registry_data import (
    CertificateType,
    CryptographicAlgorithm,
    ItemType,
    KeyFormatType,
    NameType,
    ObjectType,
    Operation,
    QueryFunction,
    ResultReason,
    ResultStatus,
    RevocationReasonCode,
    Tag,
    ValidityIndicator,
)
from ..kmip.errors import KmipError
from ..kmip.mapper import to_tree
from ..kmip.schema import Attributes, Struct
from ..kmip.ttlv import Item
from .config import ClientConfig
from .errors import KmsConnectionError, KmsHttpError, KmsOperationError, KmsProtocolError
from .transports import Transport, Unreachable, open_transport

T = TypeVar("T")
R = TypeVar("R", bound=Struct)

PROTOCOL_VERSION = S.ProtocolVersion(protocol_version_major=2, protocol_version_minor=1)
#: Cosmian's tag convention: vendor attribute ("cosmian", "tag") holding a JSON array of strings.
TAG_VENDOR = "cosmian"
TAG_ATTRIBUTE = "tag"

#: Request payload class -> its Operation, from the schema's own payload table (nothing to keep in sync by hand).
REQUEST_OPERATIONS: dict[type[Struct], Operation] = {
    cls: operation for (family, operation, kind), cls in S.PAYLOADS.items() if family == 2 and kind == "request"
}

#: Called with each Request Message tree and its Response Message tree (``--print-kmip``).
ExchangeHook = Callable[[Item, Item], None]


def tag_attribute(tags: Iterable[str]) -> S.VendorAttribute:
    """The Cosmian tag attribute for ``tags``."""
    text = json.dumps(list(tags))
    return S.VendorAttribute(
        vendor_identification=TAG_VENDOR,
        attribute_name=TAG_ATTRIBUTE,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, text),
    )


def object_reference(key_id: str | None = None, tags: Sequence[str] = ()) -> str:
    """A Unique Identifier for a request: the id itself, or the JSON array of tags the server resolves to the one
    object carrying all of them (Cosmian convention)."""
    if key_id and tags:
        raise ValueError("name an object by its id or by its tags, not both")
    if key_id:
        return key_id
    if tags:
        return json.dumps(list(tags))
    raise ValueError("name an object by its id or by its tags")


def tags_of(attributes: Attributes) -> list[str]:
    """The user tags in an Attributes structure (empty when there are none)."""
    for tag, value in attributes:
        if (
            tag == Tag.ATTRIBUTE
            and isinstance(value, S.VendorAttribute)
            and value.vendor_identification.lower() == TAG_VENDOR
            and value.attribute_name == TAG_ATTRIBUTE
            and value.attribute_value is not None
        ):
            raw = value.attribute_value.value
            parsed = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            return [str(t) for t in parsed]
    return []


def key_attributes(
    *,
    object_type: ObjectType | None = None,
    algorithm: CryptographicAlgorithm | None = None,
    length: int | None = None,
    tags: Sequence[str] = (),
    usage_mask: int | None = None,
    activation_date: int | None = None,
    name: str | None = None,
    extra: Iterable[tuple[int, Any]] = (),
) -> Attributes:
    """A KMIP 2.1 Attributes structure from the usual choices (None leaves an attribute out)."""
    attrs = Attributes()
    if object_type is not None:
        attrs.add(Tag.OBJECT_TYPE, object_type)
    if algorithm is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, algorithm)
    if length is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, length)
    if usage_mask is not None:
        attrs.add(Tag.CRYPTOGRAPHIC_USAGE_MASK, usage_mask)
    if activation_date is not None:
        attrs.add(Tag.ACTIVATION_DATE, activation_date)
    if name is not None:
        attrs.add(Tag.NAME, S.Name(name_value=name, name_type=NameType.UNINTERPRETED_TEXT_STRING))
    if tags:
        attrs.add(Tag.ATTRIBUTE, tag_attribute(tags))
    for tag, value in extra:
        attrs.add(tag, value)
    return attrs


def _as_uid(value: object) -> str:
    if isinstance(value, str):
        return value
    raise KmsProtocolError(f"expected a Unique Identifier, got {value!r}")


class KmsClient:
    """A KMIP client over the configured transports; thread-safe (each transport pools its connections)."""

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        transports: Sequence[Transport] | None = None,
        on_exchange: ExchangeHook | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config or ClientConfig()
        self._transports = (
            list(transports) if transports else [open_transport(u, self.config) for u in self.config.urls]
        )
        self._preferred = 0
        self.on_exchange = on_exchange
        self._sleep = sleep
        self._clock = clock
        self._headers: dict[int, Item] = {}

    def __enter__(self) -> KmsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every kept connection."""
        for transport in self._transports:
            transport.close()

    # -- failover ---------------------------------------------------------------------------------------------------
    def _with_failover(self, send: Callable[[Transport], T]) -> T:
        count = len(self._transports)
        failures: list[str] = []
        pause = self.config.backoff
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._sleep(pause)
                pause *= 2
            for step in range(count):
                index = (self._preferred + step) % count
                try:
                    result = send(self._transports[index])
                except Unreachable as exc:
                    if exc.delivered:
                        raise KmsConnectionError(
                            f"{exc} (not retried: the server may have received the request)"
                        ) from None
                    failures.append(str(exc))
                    continue
                self._preferred = index
                return result
        tries = self.config.retries + 1
        raise KmsConnectionError(f"no KMS reachable after {tries} round(s): {'; '.join(failures[-count:])}")

    # -- KMIP messages ----------------------------------------------------------------------------------------------
    def exchange(self, request: S.RequestMessage, *, token: str | None = None) -> S.ResponseMessage:
        """Send a whole Request Message and return the Response Message (batch items unchecked); ``token``
        replaces the configured bearer token for this request (HTTP only)."""
        return self._exchange_tree(messages.encode(request), token)

    def _exchange_tree(self, tree: Item, token: str | None) -> S.ResponseMessage:
        reply = self._with_failover(lambda transport: transport.exchange(tree, token))
        if self.on_exchange is not None:
            self.on_exchange(tree, reply)
        try:
            response = messages.decode_response(reply)
        except KmipError as exc:
            raise KmsProtocolError(f"unreadable KMIP response: {exc.message}") from None
        if not isinstance(response, S.ResponseMessage):
            raise KmsProtocolError("the server answered a KMIP 2.1 request with a 1.x response")
        return response

    def batch(self, payloads: Sequence[Struct], *, token: str | None = None) -> list[S.ResponseBatchItem]:
        """Several operations in one Request Message, processed in order by the server; the batch items as
        answered (failed ones included: check ``result_status``)."""
        items = [S.RequestBatchItem(operation=self.operation_of(p), request_payload=p) for p in payloads]
        # The header only depends on the batch count: its tree is built once (a Get's round trip is short enough
        # for the client's encoding to show).
        header = self._headers.get(len(items))
        if header is None:
            header = to_tree(S.RequestHeader(protocol_version=PROTOCOL_VERSION, batch_count=len(items)))
            self._headers[len(items)] = header
        tree = Item(Tag.REQUEST_MESSAGE, ItemType.STRUCTURE, [header, *(to_tree(item) for item in items)])
        response = self._exchange_tree(tree, token)
        if len(response.batch_item) != len(items):
            raise KmsProtocolError(f"sent {len(items)} batch item(s), got {len(response.batch_item)} back")
        return response.batch_item

    @staticmethod
    def operation_of(payload: Struct) -> Operation:
        """The Operation a request payload is for (TypeError for anything else)."""
        operation = REQUEST_OPERATIONS.get(type(payload))
        if operation is None:
            raise TypeError(f"{type(payload).__name__} is not a KMIP 2.1 request payload")
        return operation

    def run(self, payload: Struct, *, token: str | None = None) -> Struct:
        """Run one operation; its response payload, or ``KmsOperationError`` with the server's reason."""
        operation = self.operation_of(payload)
        (item,) = self.batch([payload], token=token)
        if item.result_status != ResultStatus.SUCCESS:
            reason = (
                ResultReason(item.result_reason) if item.result_reason is not None else ResultReason.GENERAL_FAILURE
            )
            raise KmsOperationError(operation, reason, item.result_message or "operation failed")
        if item.response_payload is None:
            raise KmsProtocolError(f"{operation.name} succeeded without a response payload")
        return item.response_payload

    def call(self, payload: Struct, expect: type[R]) -> R:
        """``run`` with the response payload's class checked."""
        result = self.run(payload)
        if not isinstance(result, expect):
            raise KmsProtocolError(f"expected {expect.__name__}, got {type(result).__name__}")
        return result

    # -- HTTP routes beside KMIP ------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: object = None) -> Any:
        """A JSON request to one of the server's non-KMIP routes (``/access/…``, ``/version``, ``/health``)."""
        data = json.dumps(body).encode() if body is not None else None
        status, answer = self._with_failover(lambda transport: transport.http(method, path, data))
        text = answer.decode("utf-8", "replace")
        if status >= 300 and not (path == "/health" and status == 503):
            raise KmsHttpError(status, text)
        try:
            return json.loads(text)
        except ValueError:
            raise KmsProtocolError(f"{path}: the server's answer is not JSON") from None

    def version(self) -> str:
        """The server's version string (``GET /version``)."""
        return str(self.rest("GET", "/version"))

    def health(self) -> dict[str, Any]:
        """``GET /health``: ``{"status": "UP"|"DOWN", ...}``."""
        answer = self.rest("GET", "/health")
        if not isinstance(answer, dict):
            raise KmsProtocolError("/health did not answer a JSON object")
        return answer

    def grant_access(self, uid: str, user: str, operations: Sequence[str]) -> None:
        """Let ``user`` run ``operations`` (names such as ``encrypt``, ``get``) on ``uid``."""
        self.rest("POST", "/access/grant", {"unique_identifier": uid, "user_id": user, "operation_types": operations})

    def revoke_access(self, uid: str, user: str, operations: Sequence[str]) -> None:
        """Withdraw ``operations`` on ``uid`` from ``user``."""
        self.rest("POST", "/access/revoke", {"unique_identifier": uid, "user_id": user, "operation_types": operations})

    def list_access(self, uid: str) -> list[dict[str, Any]]:
        """Who may do what on ``uid`` (owner only)."""
        return list(self.rest("GET", f"/access/list/{uid}"))

    def owned(self) -> list[dict[str, Any]]:
        """The objects the caller owns."""
        return list(self.rest("GET", "/access/owned"))

    def obtained(self) -> list[dict[str, Any]]:
        """The objects shared with the caller."""
        return list(self.rest("GET", "/access/obtained"))

    # -- object lifecycle -------------------------------------------------------------------------------------------
    def now(self) -> int:
        """The client's clock in whole seconds (for Activation Date)."""
        return int(self._clock())

    def create(self, object_type: ObjectType, attributes: Attributes) -> str:
        """Create (KMIP 2.1 §6.1.8): a new symmetric key or secret data; its Unique Identifier."""
        response = self.call(S.CreateRequest(object_type=object_type, attributes=attributes), S.CreateResponse)
        return _as_uid(response.unique_identifier)

    def create_symmetric_key(
        self,
        algorithm: CryptographicAlgorithm = CryptographicAlgorithm.AES,
        length: int = 256,
        *,
        tags: Sequence[str] = (),
        usage_mask: int | None = None,
        active: bool = True,
        name: str | None = None,
        extra: Iterable[tuple[int, Any]] = (),
    ) -> str:
        """A new symmetric key, active now unless ``active`` is False (then Pre-Active until Activate)."""
        attributes = key_attributes(
            object_type=ObjectType.SYMMETRIC_KEY,
            algorithm=algorithm,
            length=length,
            tags=tags,
            usage_mask=usage_mask,
            activation_date=self.now() if active else None,
            name=name,
            extra=extra,
        )
        return self.create(ObjectType.SYMMETRIC_KEY, attributes)

    def create_key_pair(
        self,
        common: Attributes,
        private: Attributes | None = None,
        public: Attributes | None = None,
    ) -> tuple[str, str]:
        """Create Key Pair (KMIP 2.1 §6.1.9): (private key id, public key id)."""
        request = S.CreateKeyPairRequest(
            common_attributes=common, private_key_attributes=private, public_key_attributes=public
        )
        response = self.call(request, S.CreateKeyPairResponse)
        return response.private_key_unique_identifier, response.public_key_unique_identifier

    def register(self, object_type: ObjectType, managed_object: Any, attributes: Attributes) -> str:
        """Register (KMIP 2.1 §6.1.43) an object the client supplies; its new Unique Identifier."""
        request = S.RegisterRequest(object_type=object_type, attributes=attributes, managed_object=managed_object)
        return _as_uid(self.call(request, S.RegisterResponse).unique_identifier)

    def import_object(
        self,
        uid: str,
        object_type: ObjectType,
        managed_object: Any,
        attributes: Attributes,
        *,
        replace: bool = False,
    ) -> str:
        """Import (KMIP 2.1 §6.1.25) under a chosen Unique Identifier, replacing an existing one if asked."""
        request = S.ImportRequest(
            unique_identifier=uid,
            object_type=object_type,
            replace_existing=replace or None,
            attributes=attributes,
            managed_object=managed_object,
        )
        return _as_uid(self.call(request, S.ImportResponse).unique_identifier)

    def get(
        self,
        uid: str,
        *,
        key_format_type: KeyFormatType | None = None,
        wrapping: S.KeyWrappingSpecification | None = None,
    ) -> S.GetResponse:
        """Get (KMIP 2.1 §6.1.19) the object, in ``key_format_type`` and wrapped if asked."""
        request = S.GetRequest(
            unique_identifier=uid, key_format_type=key_format_type, key_wrapping_specification=wrapping
        )
        return self.call(request, S.GetResponse)

    def export(
        self,
        uid: str,
        *,
        key_format_type: KeyFormatType | None = None,
        wrapping: S.KeyWrappingSpecification | None = None,
    ) -> S.ExportResponse:
        """Export (KMIP 2.1 §6.1.18): the object with its attributes (also for revoked objects)."""
        request = S.ExportRequest(
            unique_identifier=uid, key_format_type=key_format_type, key_wrapping_specification=wrapping
        )
        return self.call(request, S.ExportResponse)

    def activate(self, uid: str) -> str:
        """Activate (KMIP 2.1 §6.1.1)."""
        return _as_uid(self.call(S.ActivateRequest(unique_identifier=uid), S.ActivateResponse).unique_identifier)

    def revoke(
        self,
        uid: str,
        code: RevocationReasonCode = RevocationReasonCode.UNSPECIFIED,
        message: str | None = None,
        *,
        compromise_date: int | None = None,
    ) -> str:
        """Revoke (KMIP 2.1 §6.1.44) with a reason code and message."""
        request = S.RevokeRequest(
            unique_identifier=uid,
            revocation_reason=S.RevocationReason(revocation_reason_code=code, revocation_message=message),
            compromise_occurrence_date=compromise_date,
        )
        return _as_uid(self.call(request, S.RevokeResponse).unique_identifier)

    def destroy(self, uid: str) -> str:
        """Destroy (KMIP 2.1 §6.1.15): the key material goes; the object's metadata stays as Destroyed."""
        return _as_uid(self.call(S.DestroyRequest(unique_identifier=uid), S.DestroyResponse).unique_identifier)

    def re_key(self, uid: str, *, offset: int | None = None, attributes: Attributes | None = None) -> str:
        """Re-key (KMIP 2.1 §6.1.46) a symmetric key; the replacement's Unique Identifier."""
        request = S.ReKeyRequest(unique_identifier=uid, offset=offset, attributes=attributes)
        return _as_uid(self.call(request, S.ReKeyResponse).unique_identifier)

    def re_key_key_pair(self, private_uid: str) -> tuple[str, str]:
        """Re-key Key Pair (KMIP 2.1 §6.1.47): the replacement (private, public) ids."""
        request = S.ReKeyKeyPairRequest(private_key_unique_identifier=private_uid)
        response = self.call(request, S.ReKeyKeyPairResponse)
        return response.private_key_unique_identifier, response.public_key_unique_identifier

    # -- attributes and search --------------------------------------------------------------------------------------
    def locate(
        self, attributes: Attributes | None = None, *, maximum_items: int | None = None, offset_items: int | None = None
    ) -> list[str]:
        """Locate (KMIP 2.1 §6.1.28): ids of the objects matching every given attribute (tags included)."""
        request = S.LocateRequest(attributes=attributes, maximum_items=maximum_items, offset_items=offset_items)
        return [_as_uid(u) for u in self.call(request, S.LocateResponse).unique_identifier]

    def get_attributes(self, uid: str, references: Sequence[int | S.AttributeReference] = ()) -> Attributes:
        """Get Attributes (KMIP 2.1 §6.1.20): all of them, or those named by tag or vendor reference."""
        refs: list[Tag | S.AttributeReference] = [
            r if isinstance(r, S.AttributeReference) else Tag(r) for r in references
        ]
        request = S.GetAttributesRequest(unique_identifier=uid, attribute_reference=refs)
        return self.call(request, S.GetAttributesResponse).attributes

    def set_attribute(self, uid: str, tag: int, value: Any) -> str:
        """Set Attribute (KMIP 2.1 §6.1.51): create or replace a single-instance attribute."""
        request = S.SetAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(tag, value)]))
        return _as_uid(self.call(request, S.SetAttributeResponse).unique_identifier)

    def add_attribute(self, uid: str, tag: int, value: Any) -> str:
        """Add Attribute (KMIP 2.1 §6.1.2): one more instance of a multi-instance attribute."""
        request = S.AddAttributeRequest(unique_identifier=uid, new_attribute=Attributes([(tag, value)]))
        return _as_uid(self.call(request, S.AddAttributeResponse).unique_identifier)

    def modify_attribute(self, uid: str, tag: int, value: Any, *, current: Any = None) -> str:
        """Modify Attribute (KMIP 2.1 §6.1.34): change an existing attribute's value."""
        request = S.ModifyAttributeRequest(
            unique_identifier=uid,
            current_attribute=Attributes([(tag, current)]) if current is not None else None,
            new_attribute=Attributes([(tag, value)]),
        )
        return _as_uid(self.call(request, S.ModifyAttributeResponse).unique_identifier)

    def delete_attribute(self, uid: str, tag: int, *, current: Any = None) -> str:
        """Delete Attribute (KMIP 2.1 §6.1.13): by reference, or the instance equal to ``current``."""
        if current is not None:
            request = S.DeleteAttributeRequest(unique_identifier=uid, current_attribute=Attributes([(tag, current)]))
        else:
            request = S.DeleteAttributeRequest(unique_identifier=uid, attribute_reference=Tag(tag))
        return _as_uid(self.call(request, S.DeleteAttributeResponse).unique_identifier)

    # -- cryptography -----------------------------------------------------------------------------------------------
    def encrypt(
        self,
        uid: str,
        data: bytes,
        *,
        parameters: S.CryptographicParameters | None = None,
        iv: bytes | None = None,
        aad: bytes | None = None,
    ) -> S.EncryptResponse:
        """Encrypt (KMIP 2.1 §6.1.17) one-shot: ciphertext, the IV/nonce the server chose, the AEAD tag."""
        request = S.EncryptRequest(
            unique_identifier=uid,
            cryptographic_parameters=parameters,
            data=data,
            iv_counter_nonce=iv,
            authenticated_encryption_additional_data=aad,
        )
        return self.call(request, S.EncryptResponse)

    def decrypt(
        self,
        uid: str,
        data: bytes,
        *,
        parameters: S.CryptographicParameters | None = None,
        iv: bytes | None = None,
        aad: bytes | None = None,
        tag: bytes | None = None,
    ) -> bytes:
        """Decrypt (KMIP 2.1 §6.1.11) one-shot; the plaintext."""
        request = S.DecryptRequest(
            unique_identifier=uid,
            cryptographic_parameters=parameters,
            data=data,
            iv_counter_nonce=iv,
            authenticated_encryption_additional_data=aad,
            authenticated_encryption_tag=tag,
        )
        return _data(self.call(request, S.DecryptResponse).data)

    def sign(
        self, uid: str, data: bytes, *, parameters: S.CryptographicParameters | None = None, digested: bool = False
    ) -> bytes:
        """Sign (KMIP 2.1 §6.1.54) data, or an already computed digest when ``digested``."""
        request = S.SignRequest(
            unique_identifier=uid,
            cryptographic_parameters=parameters,
            data=None if digested else data,
            digested_data=data if digested else None,
        )
        signature = self.call(request, S.SignResponse).signature_data
        if signature is None:
            raise KmsProtocolError("Sign answered without Signature Data")
        return signature

    def signature_verify(
        self,
        uid: str,
        data: bytes,
        signature: bytes,
        *,
        parameters: S.CryptographicParameters | None = None,
        digested: bool = False,
    ) -> bool:
        """Signature Verify (KMIP 2.1 §6.1.55): whether ``signature`` is valid for ``data``."""
        request = S.SignatureVerifyRequest(
            unique_identifier=uid,
            cryptographic_parameters=parameters,
            data=None if digested else data,
            digested_data=data if digested else None,
            signature_data=signature,
        )
        return self.call(request, S.SignatureVerifyResponse).validity_indicator == ValidityIndicator.VALID

    def mac(self, uid: str, data: bytes, *, parameters: S.CryptographicParameters | None = None) -> bytes:
        """MAC (KMIP 2.1 §6.1.32) of ``data`` with a MAC key."""
        request = S.MACRequest(unique_identifier=uid, cryptographic_parameters=parameters, data=data)
        mac = self.call(request, S.MACResponse).mac_data
        if mac is None:
            raise KmsProtocolError("MAC answered without MAC Data")
        return mac

    def mac_verify(
        self, uid: str, data: bytes, mac: bytes, *, parameters: S.CryptographicParameters | None = None
    ) -> bool:
        """MAC Verify (KMIP 2.1 §6.1.33)."""
        request = S.MACVerifyRequest(
            unique_identifier=uid, cryptographic_parameters=parameters, data=data, mac_data=mac
        )
        return self.call(request, S.MACVerifyResponse).validity_indicator == ValidityIndicator.VALID

    def hash(self, data: bytes, parameters: S.CryptographicParameters) -> bytes:
        """Hash (KMIP 2.1 §6.1.24) with the Hashing Algorithm in ``parameters``."""
        return _data(self.call(S.HashRequest(cryptographic_parameters=parameters, data=data), S.HashResponse).data)

    def rng_retrieve(self, length: int) -> bytes:
        """RNG Retrieve (KMIP 2.1 §6.1.49): ``length`` random bytes from the server."""
        return _data(self.call(S.RNGRetrieveRequest(data_length=length), S.RNGRetrieveResponse).data)

    def rng_seed(self, seed: bytes) -> int:
        """RNG Seed (KMIP 2.1 §6.1.50): how many bytes of ``seed`` the server used."""
        return self.call(S.RNGSeedRequest(data=seed), S.RNGSeedResponse).data_length

    def derive_key(self, request: S.DeriveKeyRequest) -> str:
        """Derive Key (KMIP 2.1 §6.1.14); the derived object's id."""
        return _as_uid(self.call(request, S.DeriveKeyResponse).unique_identifier)

    def certify(self, request: S.CertifyRequest) -> str:
        """Certify (KMIP 2.1 §6.1.6); the certificate's id."""
        return _as_uid(self.call(request, S.CertifyResponse).unique_identifier)

    def validate(
        self, uids: Sequence[str] = (), certificates: Sequence[bytes] = (), *, date: int | None = None
    ) -> bool:
        """Validate (KMIP 2.1 §6.1.61) a certificate chain by ids and/or DER values."""
        request = S.ValidateRequest(
            unique_identifier=list(uids),
            certificate=[
                S.Certificate(certificate_type=CertificateType.X_509, certificate_value=c) for c in certificates
            ],
            validity_date=date,
        )
        return self.call(request, S.ValidateResponse).validity_indicator == ValidityIndicator.VALID

    # -- server -----------------------------------------------------------------------------------------------------
    def query(self, functions: Sequence[QueryFunction]) -> S.QueryResponse:
        """Query (KMIP 2.1 §6.1.40) the server's operations, object types, information..."""
        return self.call(S.QueryRequest(query_function=list(functions)), S.QueryResponse)

    def discover_versions(self, versions: Sequence[tuple[int, int]] = ()) -> list[tuple[int, int]]:
        """Discover Versions (KMIP 2.1 §6.1.16): the protocol versions the server speaks, preferred first."""
        request = S.DiscoverVersionsRequest(
            protocol_version=[
                S.ProtocolVersion(protocol_version_major=a, protocol_version_minor=b) for a, b in versions
            ]
        )
        response = self.call(request, S.DiscoverVersionsResponse)
        return [(v.protocol_version_major or 0, v.protocol_version_minor or 0) for v in response.protocol_version]


def _data(value: bytes | IntEnum | int | None) -> bytes:
    if isinstance(value, bytes):
        return value
    raise KmsProtocolError("the response carries no Data")


__all__ = [
    "REQUEST_OPERATIONS",
    "ExchangeHook",
    "KmsClient",
    "key_attributes",
    "object_reference",
    "tag_attribute",
    "tags_of",
]
