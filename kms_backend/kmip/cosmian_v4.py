"""The Cosmian KMS 4.x JSON TTLV dialect, spoken by Cosmian's own Python client (``cosmian-kms`` 4.22.1, the last
release with Python bindings) and by ``cloudproof-py``: read its requests as 5.x, and write the few responses that
a 4.x client cannot read in 5.x the way it reads them.

Cosmian KMS 5.0 made its JSON TTLV KMIP-conformant; a 4.x client still sends, on ``POST /kmip/2_1``:

* ``"type": "Structure"`` on every Structure, the root included (5.x clients leave it out): the sign this module
  goes by, since nothing else in a bare Encrypt or Get tells the two apart;
* vendor attributes (Cosmian's tags) nested as ``VendorAttributes`` ▸ ``VendorAttributes`` {VendorIdentification,
  AttributeName, AttributeValue ByteString = the UTF-8 bytes of the value} where 5.x writes one ``Attribute`` per
  vendor attribute with a typed value;
* ``RevocationReason`` as a bare TextString, where KMIP has a structure {Revocation Reason Code, Revocation Message};
* an ``Object`` tag for the object in Import/Register, its type given by the sibling ``ObjectType``;
* ``IvCounterNonce`` for ``IVCounterNonce`` (the JSON codec reads either spelling);
* no Activation Date on Create: a 4.x server made new objects Active (see :func:`upgrade_request`).

And it reads back only ``IvCounterNonce`` in an Encrypt response (without it the client loses the nonce and cannot
decrypt), and the object of a Get only as ``Object`` holding, for a symmetric key, ``TransparentSymmetricKey``
(``KeyMaterial`` ▸ ``Key``): it fails on 5.x's ``SymmetricKey`` tag and default ``Raw``. Everything else in a 5.x
response it reads as is.

Pure data transformation over parsed JSON objects (no I/O), as the codecs are.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from typing import Any

JsonNode = dict[str, Any]

_VENDOR_ATTRIBUTES = "VendorAttributes"
_OBJECT_TYPES = frozenset(
    {
        "Certificate",
        "SymmetricKey",
        "PublicKey",
        "PrivateKey",
        "SplitKey",
        "Template",
        "SecretData",
        "OpaqueObject",
        "PGPKey",
        "CertificateRequest",
    }
)


def is_v4_request(obj: object) -> bool:
    """Whether a ``/kmip/2_1`` body comes from a 4.x client: a bare operation whose root Structure says
    ``"type": "Structure"`` (5.x clients leave the type of Structures out)."""
    return isinstance(obj, dict) and obj.get("type") == "Structure" and isinstance(obj.get("value"), list)


#: Requests whose new objects 4.x made Active at once (5.x, like KMIP, leaves them Pre-Active without an
#: Activation Date), and the attribute structures to give the date in.
_CREATING = {
    "Create": ("Attributes",),
    "Register": ("Attributes",),
    "Import": ("Attributes",),
    "CreateKeyPair": ("CommonAttributes",),
}


def upgrade_request(root: JsonNode, now: int) -> JsonNode:
    """A 4.x bare operation in 5.x shapes (see :func:`upgrade`). A Create, Create Key Pair, Register or Import
    without an Activation Date also gets ``now`` as its Activation Date: 4.x servers made new objects Active, and
    the 4.x client encrypts with a key right after creating it (5.x ``ckms`` sends the date itself)."""
    upgraded = upgrade(root)
    containers = _CREATING.get(str(upgraded.get("tag")))
    if containers is None:
        return upgraded
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    children = list(upgraded["value"])
    for index, child in enumerate(children):
        if isinstance(child, dict) and child.get("tag") in containers and isinstance(child.get("value"), list):
            if not any(isinstance(a, dict) and a.get("tag") == "ActivationDate" for a in child["value"]):
                date = {"tag": "ActivationDate", "type": "DateTime", "value": stamp}
                children[index] = {**child, "value": [*child["value"], date]}
            return {**upgraded, "value": children}
    tag = containers[0]
    children.append({"tag": tag, "value": [{"tag": "ActivationDate", "type": "DateTime", "value": stamp}]})
    return {**upgraded, "value": children}


def upgrade(node: JsonNode) -> JsonNode:
    """A copy of a 4.x request node in the 5.x shapes (see the module docstring); 5.x shapes pass unchanged."""
    value = node.get("value")
    if not isinstance(value, list):
        return node
    children: list[Any] = []
    object_type = next(
        (c.get("value") for c in value if isinstance(c, dict) and c.get("tag") == "ObjectType"),
        None,
    )
    for child in value:
        if not isinstance(child, dict):
            children.append(child)
            continue
        tag = child.get("tag")
        if tag == _VENDOR_ATTRIBUTES and isinstance(child.get("value"), list):
            children.extend(_vendor_attributes(child))
        elif tag == "RevocationReason" and isinstance(child.get("value"), str):
            children.append(_revocation_reason(child["value"]))
        elif tag == "Object" and object_type in _OBJECT_TYPES:
            children.append(upgrade({**child, "tag": object_type}))
        else:
            children.append(upgrade(child))
    return {**node, "value": children}


def _vendor_attributes(node: JsonNode) -> list[JsonNode]:
    """``VendorAttributes`` ▸ ``VendorAttributes``… (or a single flat one) as 5.x ``Attribute`` nodes."""
    inner = [c for c in node["value"] if isinstance(c, dict)]
    if inner and all(c.get("tag") == _VENDOR_ATTRIBUTES for c in inner):
        return [_vendor_attribute(c) for c in inner]
    return [_vendor_attribute(node)]


def _vendor_attribute(node: JsonNode) -> JsonNode:
    fields = []
    for field in node.get("value") or []:
        if isinstance(field, dict) and field.get("tag") == "AttributeValue" and field.get("type") == "ByteString":
            text = _utf8(field.get("value"))
            if text is not None:  # the tags' JSON array, as 5.x sends it; other bytes stay bytes
                field = {"tag": "AttributeValue", "type": "TextString", "value": text}
        fields.append(field)
    return {"tag": "Attribute", "value": fields}


def _utf8(hex_value: object) -> str | None:
    if not isinstance(hex_value, str):
        return None
    try:
        return binascii.unhexlify(hex_value).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _revocation_reason(message: str) -> JsonNode:
    # 4.x sends only free text; KMIP's structure needs a code, and the text says nothing reliable about which.
    return {
        "tag": "RevocationReason",
        "value": [
            {"tag": "RevocationReasonCode", "type": "Enumeration", "value": "Unspecified"},
            {"tag": "RevocationMessage", "type": "TextString", "value": message},
        ],
    }


def downgrade_response(node: JsonNode) -> JsonNode:
    """A copy of a 5.x response node as a 4.x client reads it: ``IvCounterNonce``, and symmetric keys as
    ``TransparentSymmetricKey`` where 5.x answers ``Raw``."""
    value = node.get("value")
    tag = node.get("tag")
    if tag == "IVCounterNonce":
        return {**node, "tag": "IvCounterNonce"}
    if not isinstance(value, list):
        return node
    if tag == "SymmetricKey":
        return {**node, "value": [_transparent_key_block(c) for c in value]}
    children = [downgrade_response(c) if isinstance(c, dict) else c for c in value]
    if tag in ("GetResponse", "ExportResponse"):  # 4.x names the object "Object", its type given by ObjectType
        children = [{**c, "tag": "Object"} if c.get("tag") in _OBJECT_TYPES else c for c in children]
    return {**node, "value": children}


def _transparent_key_block(node: Any) -> Any:
    if not isinstance(node, dict) or node.get("tag") != "KeyBlock" or not isinstance(node.get("value"), list):
        return node
    fields = node["value"]
    if not any(f.get("tag") == "KeyFormatType" and f.get("value") == "Raw" for f in fields if isinstance(f, dict)):
        return node
    out = []
    for field in fields:
        if isinstance(field, dict) and field.get("tag") == "KeyFormatType":
            field = {**field, "value": "TransparentSymmetricKey"}
        elif isinstance(field, dict) and field.get("tag") == "KeyValue" and isinstance(field.get("value"), list):
            field = {**field, "value": [_transparent_material(v) for v in field["value"]]}
        out.append(field)
    return {**node, "value": out}


def _transparent_material(node: Any) -> Any:
    if isinstance(node, dict) and node.get("tag") == "KeyMaterial" and node.get("type") == "ByteString":
        return {"tag": "KeyMaterial", "value": [{"tag": "Key", "type": "ByteString", "value": node["value"]}]}
    return node


__all__ = ["downgrade_response", "is_v4_request", "upgrade", "upgrade_request"]
