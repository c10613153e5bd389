"""DSA and Diffie-Hellman values (PKCS#11 3.0 §4.7; Current Mechanisms 3.0 §2.2 DSA, §2.5 PKCS #3 Diffie-Hellman):
CKO_DOMAIN_PARAMETERS objects, and the integers of DSA and Diffie-Hellman keys.

| PKCS#11                                    | KMIP                                                                   |
|--------------------------------------------|------------------------------------------------------------------------|
| CKO_DOMAIN_PARAMETERS, CKK_DSA / CKK_DH    | Opaque Object whose value is RFC 3279 ``Dss-Parms`` / PKCS #3          |
|                                            | ``DHParameter`` DER, marked by CKA_CLASS and CKA_KEY_TYPE vendor       |
|                                            | attributes (no KMIP object type holds domain parameters)               |
| CKA_PRIME, CKA_SUBPRIME, CKA_BASE,         | read from that DER (parameters) or from the key's PKCS#8 / SPKI (keys) |
| CKA_PRIME_BITS, CKA_SUBPRIME_BITS          |                                                                        |
| CKA_VALUE of a DSA/DH public / private key | y / x (x only from a key that is neither sensitive nor unextractable)  |
| C_GenerateKeyPair's CKA_PRIME/SUBPRIME/BASE| Create Key Pair with the parameters' DER in the engine's               |
|                                            | ``domain_parameters`` vendor attribute: the KMS generates the pair     |

Parameters are public values, so CKM_DSA_PARAMETER_GEN and CKM_DH_PKCS_PARAMETER_GEN compute them with the crypto
layer here; keys are always generated in the KMS.
"""

from __future__ import annotations

from typing import Any

from kms_backend import crypto
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import CryptographicAlgorithm, ItemType, Tag
from kms_backend.kmip.ttlv import Item

from .attributes import FINITE_FIELD_KEY_TYPES
from .constants import Attribute, KeyType, ReturnValue
from .errors import CkError

A = Attribute
#: The engine's vendor attribute for Create Key Pair on given parameters (kms_backend.engine.handlers._keypairs).
VENDOR, NAME = "keystead", "domain_parameters"


def algorithm(key_type: int) -> CryptographicAlgorithm:
    """The KMIP algorithm of a CKK_DSA / CKK_DH key type (CKR_TEMPLATE_INCONSISTENT for any other)."""
    try:
        return FINITE_FIELD_KEY_TYPES[KeyType(key_type)]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, "domain parameters are CKK_DSA or CKK_DH") from None


def _big(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")


def _integer(template: dict[Attribute, Any], attribute: Attribute) -> int:
    value = template.get(attribute)
    if not value:
        raise CkError(ReturnValue.TEMPLATE_INCOMPLETE, f"CKA_{attribute.name} is required")
    return int.from_bytes(value, "big")


def encode(key_type: int, template: dict[Attribute, Any]) -> bytes:
    """The DER of the CKA_PRIME, CKA_BASE (and for DSA CKA_SUBPRIME) a template gives."""
    kind = algorithm(key_type)
    p, g = _integer(template, A.PRIME), _integer(template, A.BASE)
    q = _integer(template, A.SUBPRIME) if kind == CryptographicAlgorithm.DSA else None
    if kind == CryptographicAlgorithm.DH and template.get(A.SUBPRIME):
        raise CkError(ReturnValue.TEMPLATE_INCONSISTENT, "PKCS #3 Diffie-Hellman parameters have no CKA_SUBPRIME")
    if not 1 < g < p:
        raise CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, "CKA_BASE must lie between 1 and CKA_PRIME")
    return crypto.encode_domain_parameters(kind, p, g, q)


def values(key_type: int, der: bytes) -> dict[Attribute, Any]:
    """CKA_PRIME, CKA_SUBPRIME (DSA), CKA_BASE and their bit lengths, from the parameters' DER."""
    p, g, q = crypto.decode_domain_parameters(algorithm(key_type), der)
    out: dict[Attribute, Any] = {A.PRIME: _big(p), A.BASE: _big(g), A.PRIME_BITS: p.bit_length()}
    if q is not None:
        out[A.SUBPRIME] = _big(q)
        out[A.SUBPRIME_BITS] = q.bit_length()
    return out


def key_values(der: bytes) -> dict[Attribute, Any]:
    """CKA_PRIME, CKA_SUBPRIME (when the group has one), CKA_BASE and CKA_VALUE (x of a private key, y of a public
    key) of a DSA or Diffie-Hellman key's DER."""
    numbers = crypto.finite_field_numbers(der)
    out: dict[Attribute, Any] = {A.PRIME: _big(numbers["p"]), A.BASE: _big(numbers["g"])}
    if "q" in numbers:
        out[A.SUBPRIME] = _big(numbers["q"])
    out[A.VALUE] = _big(numbers["x"] if "x" in numbers else numbers["y"])
    return out


def key_material(key_type: int, template: dict[Attribute, Any], *, private: bool) -> tuple[bytes, int]:
    """(PKCS#8 or SubjectPublicKeyInfo DER, prime bits) of a DSA/DH key a C_CreateObject template gives."""
    parameters = encode(key_type, template)
    value = _integer(template, A.VALUE)
    kind = algorithm(key_type)
    der = crypto.finite_field_key(kind, parameters, **({"x": value} if private else {"y": value}))
    return der, crypto.decode_domain_parameters(kind, parameters)[0].bit_length()


def vendor_attribute(der: bytes) -> S.VendorAttribute:
    """The Create Key Pair vendor attribute naming the parameters the KMS generates the pair on."""
    return S.VendorAttribute(
        vendor_identification=VENDOR,
        attribute_name=NAME,
        attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.BYTE_STRING, der),
    )


__all__ = ["NAME", "VENDOR", "algorithm", "encode", "key_material", "key_values", "values", "vendor_attribute"]
