"""PyKMIP as an independent KMIP implementation for interoperability tests: build, encode and decode its messages.

PyKMIP 0.11 imports SQLAlchemy 1.x APIs at package import (``declarative_base``), which SQLAlchemy 2 reports as
``MovedIn20Warning``; the client-side message classes work regardless, so the import runs with warnings silenced
here rather than loosening the repository's warnings-as-errors setting.

PyKMIP's values are wrapped in primitive objects (``.value``); the ``*_view`` functions below unwrap them into
plain Python values so that tests compare what PyKMIP decoded with plain expectations.
"""

from __future__ import annotations

import enum
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pytest.importorskip("kmip", reason="PyKMIP (a dev dependency) is not installed")
    from kmip.core import attributes, enums, exceptions, misc, objects, primitives, secrets, utils
    from kmip.core.factories.attributes import AttributeFactory
    from kmip.core.messages import contents, messages, payloads

__all__ = [
    "KMIP_VERSIONS",
    "attribute",
    "attributes",
    "attributes_view",
    "contents",
    "encode_request",
    "encode_response",
    "enums",
    "exceptions",
    "misc",
    "objects",
    "payloads",
    "primitives",
    "read_request",
    "read_response",
    "secrets",
    "symmetric_key",
    "symmetric_key_view",
    "value_view",
]

#: Protocol Version (major, minor) -> PyKMIP's KMIPVersion, for the versions the interop tests cover.
KMIP_VERSIONS: dict[tuple[int, int], enums.KMIPVersion] = {
    (1, 2): enums.KMIPVersion.KMIP_1_2,
    (2, 0): enums.KMIPVersion.KMIP_2_0,
}

_ATTRIBUTE_FACTORY = AttributeFactory()


def attribute(name: enums.AttributeType, value: Any) -> objects.Attribute:
    """One PyKMIP Attribute (Attribute Name, Attribute Value) built by its own factory."""
    return _ATTRIBUTE_FACTORY.create_attribute(name, value)


def symmetric_key(key: bytes, algorithm: enums.CryptographicAlgorithm, length: int) -> secrets.SymmetricKey:
    """A Raw symmetric key object, built as ``kmip.pie.factory.ObjectFactory`` builds one."""
    key_block = objects.KeyBlock(
        key_format_type=misc.KeyFormatType(enums.KeyFormatType.RAW),
        key_value=objects.KeyValue(objects.KeyMaterial(key)),
        cryptographic_algorithm=attributes.CryptographicAlgorithm(algorithm),
        cryptographic_length=attributes.CryptographicLength(length),
    )
    return secrets.SymmetricKey(key_block)


def encode_request(
    version: tuple[int, int], operation: enums.Operation, payload: Any, *, batch_item_id: bytes | None = None
) -> bytes:
    """A one-item Request Message around ``payload``, encoded by PyKMIP for Protocol Version ``version``."""
    header = messages.RequestHeader(
        protocol_version=contents.ProtocolVersion(*version),
        maximum_response_size=contents.MaximumResponseSize(1_048_576),
        batch_count=contents.BatchCount(1),
    )
    item = messages.RequestBatchItem(
        operation=contents.Operation(operation),
        unique_batch_item_id=contents.UniqueBatchItemID(batch_item_id) if batch_item_id is not None else None,
        request_payload=payload,
    )
    stream = utils.BytearrayStream()
    messages.RequestMessage(request_header=header, batch_items=[item]).write(
        stream, kmip_version=KMIP_VERSIONS[version]
    )
    return bytes(stream.buffer)


def encode_response(version: tuple[int, int], operation: enums.Operation, payload: Any, *, time_stamp: int) -> bytes:
    """A one-item successful Response Message around ``payload``, encoded by PyKMIP."""
    header = messages.ResponseHeader(
        protocol_version=contents.ProtocolVersion(*version),
        time_stamp=contents.TimeStamp(time_stamp),
        batch_count=contents.BatchCount(1),
    )
    item = messages.ResponseBatchItem(
        operation=contents.Operation(operation),
        result_status=contents.ResultStatus(enums.ResultStatus.SUCCESS),
        response_payload=payload,
    )
    stream = utils.BytearrayStream()
    messages.ResponseMessage(response_header=header, batch_items=[item]).write(
        stream, kmip_version=KMIP_VERSIONS[version]
    )
    return bytes(stream.buffer)


def read_request(data: bytes, version: tuple[int, int]) -> messages.RequestMessage:
    """PyKMIP's decoding of Request Message bytes (the whole input must be consumed)."""
    stream = utils.BytearrayStream(data)
    message = messages.RequestMessage()
    message.read(stream, kmip_version=KMIP_VERSIONS[version])
    assert stream.length() == 0, "PyKMIP left bytes unread"
    return message


def read_response(data: bytes, version: tuple[int, int]) -> messages.ResponseMessage:
    """PyKMIP's decoding of Response Message bytes (the whole input must be consumed)."""
    stream = utils.BytearrayStream(data)
    message = messages.ResponseMessage()
    message.read(stream, kmip_version=KMIP_VERSIONS[version])
    assert stream.length() == 0, "PyKMIP left bytes unread"
    return message


# -- plain views of PyKMIP values --------------------------------------------------------------------------------


def value_view(value: Any) -> Any:
    """A PyKMIP primitive, Name or Revocation Reason as plain Python values (enums stay PyKMIP enums)."""
    if value is None or isinstance(value, enum.Enum):
        return value
    if isinstance(value, attributes.Name):
        return ("Name", value.name_value.value, value.name_type.value)
    if isinstance(value, objects.RevocationReason):
        message = value.revocation_message.value if value.revocation_message is not None else None
        return ("Revocation Reason", value.revocation_code.value, message)
    if isinstance(value, contents.ProtocolVersion):
        return (value.major, value.minor)
    if isinstance(value, list):
        return [value_view(v) for v in value]
    return value.value if hasattr(value, "value") else value


def attributes_view(attribute_list: list[objects.Attribute]) -> list[tuple[str, Any]]:
    """PyKMIP Attribute structures as (Attribute Name, plain value) pairs, in order."""
    return [(a.attribute_name.value, value_view(a.attribute_value)) for a in attribute_list]


def symmetric_key_view(key: secrets.SymmetricKey) -> tuple[Any, ...]:
    """(Key Format Type, key bytes, Cryptographic Algorithm, Cryptographic Length) of a PyKMIP SymmetricKey."""
    block = key.key_block
    return (
        block.key_format_type.value,
        block.key_value.key_material.value,
        block.cryptographic_algorithm.value,
        block.cryptographic_length.value,
    )
