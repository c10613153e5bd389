"""What a Certify or Re-certify request asks for beyond its fields (see ``_pki``'s conventions): the subject
name, validity and X.509 extensions from Cosmian's vendor attributes or the X.509 attributes, and the PKCS#10
request it may carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CertificateRequestType,
    CertificateType,
    LinkType,
    ResultReason,
    Tag,
)
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ...kmip.ttlv import Item
from ..lifecycle import check_client_attributes
from ..objects import COSMIAN_VENDOR
from ._links import link_target, remove_links

SUBJECT_NAME = ("subject_name",)
VALIDITY_DAYS = ("validity_days", "requested_validity_days")
EXTENSIONS = ("x509-extension", "x509_extensions")
PKCS12_PASSWORD = ("pkcs12_password",)
DEFAULT_VALIDITY_DAYS = 365
DAY = 86_400

#: Fields of Cosmian's Certificate Attributes structure, as Name attribute short names.
SUBJECT_FIELDS: dict[int, str] = {
    Tag.CERTIFICATE_SUBJECT_C: "C",
    Tag.CERTIFICATE_SUBJECT_ST: "ST",
    Tag.CERTIFICATE_SUBJECT_L: "L",
    Tag.CERTIFICATE_SUBJECT_O: "O",
    Tag.CERTIFICATE_SUBJECT_OU: "OU",
    Tag.CERTIFICATE_SUBJECT_CN: "CN",
    Tag.CERTIFICATE_SUBJECT_EMAIL: "EMAIL",
    Tag.CERTIFICATE_SUBJECT_UID: "UID",
    Tag.CERTIFICATE_SUBJECT_SERIAL_NUMBER: "SERIALNUMBER",
    Tag.CERTIFICATE_SUBJECT_TITLE: "TITLE",
    Tag.CERTIFICATE_SUBJECT_DC: "DC",
    Tag.CERTIFICATE_SUBJECT_DN_QUALIFIER: "DNQUALIFIER",
}
#: The Certificate Issuer fields of the same Certificate Attributes (§4.6), by the same short names.
ISSUER_FIELDS: dict[int, str] = {
    Tag.CERTIFICATE_ISSUER_C: "C",
    Tag.CERTIFICATE_ISSUER_ST: "ST",
    Tag.CERTIFICATE_ISSUER_L: "L",
    Tag.CERTIFICATE_ISSUER_O: "O",
    Tag.CERTIFICATE_ISSUER_OU: "OU",
    Tag.CERTIFICATE_ISSUER_CN: "CN",
    Tag.CERTIFICATE_ISSUER_EMAIL: "EMAIL",
    Tag.CERTIFICATE_ISSUER_UID: "UID",
    Tag.CERTIFICATE_ISSUER_SERIAL_NUMBER: "SERIALNUMBER",
    Tag.CERTIFICATE_ISSUER_TITLE: "TITLE",
    Tag.CERTIFICATE_ISSUER_DC: "DC",
    Tag.CERTIFICATE_ISSUER_DN_QUALIFIER: "DNQUALIFIER",
}
_ISSUER_LINKS = (LinkType.CERTIFICATE_LINK, LinkType.PARENT_LINK, LinkType.PRIVATE_KEY_LINK)
_PKI_VENDOR_NAMES = frozenset(SUBJECT_NAME + VALIDITY_DAYS + EXTENSIONS + PKCS12_PASSWORD)


# ----------------------------------------------------------------------------------------------------------------
# reading requests


def vendor_attribute(attrs: Attributes, names: tuple[str, ...]) -> Any:
    for tag, value in attrs:
        if (
            tag == Tag.ATTRIBUTE
            and isinstance(value, S.VendorAttribute)
            and value.vendor_identification.lower() == COSMIAN_VENDOR
            and value.attribute_name in names
        ):
            return value.attribute_value.value if isinstance(value.attribute_value, Item) else None
    return None


def text_value(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"{what} must be UTF-8 text") from None
    if isinstance(value, str):
        return value
    raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"{what} must be a Text String")


@dataclass
class CertificateRequestOptions:
    """What a Certify / Re-certify request asks for, apart from the attributes to store on the certificate."""

    subject: bytes | None
    not_before: int | None
    not_after: int | None
    validity_days: int | None
    extensions: str | None
    issuer_certificate: str | None
    issuer_private_key: str | None
    attributes: Attributes


def read_options(attrs: Attributes | None) -> CertificateRequestOptions:
    """Split a Certify / Re-certify request's Attributes into the certificate's parameters and the attributes the
    new Certificate object keeps (issuer links, subject fields and PKI vendor attributes are consumed)."""
    given = Attributes(list(attrs.entries) if attrs is not None else [])
    subject = _subject(given)
    days_value = vendor_attribute(given, VALIDITY_DAYS)
    days = None
    if days_value is not None:
        try:
            days = int(days_value.decode() if isinstance(days_value, bytes) else days_value)
        except (TypeError, ValueError):
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "validity_days must be an integer") from None
        if not 0 < days <= 100 * 366:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"validity_days {days} is out of range")
    extensions_value = vendor_attribute(given, EXTENSIONS)
    extensions = text_value(extensions_value, "x509-extension") if extensions_value is not None else None
    issuer_certificate = link_target(given, LinkType.CERTIFICATE_LINK, LinkType.PARENT_LINK)
    issuer_private_key = link_target(given, LinkType.PRIVATE_KEY_LINK)
    remove_links(given, *_ISSUER_LINKS)
    given.entries = [
        (t, v)
        for t, v in given.entries
        if t not in (Tag.X_509_CERTIFICATE_SUBJECT, Tag.CERTIFICATE_ATTRIBUTES)
        and not (
            t == Tag.ATTRIBUTE
            and isinstance(v, S.VendorAttribute)
            and v.vendor_identification.lower() == COSMIAN_VENDOR
            and v.attribute_name in _PKI_VENDOR_NAMES
        )
    ]
    # Cosmian's clients state the Certificate Type they ask for; Certify issues X.509 certificates only, and the
    # server sets the attribute itself.
    certificate_type = given.get(Tag.CERTIFICATE_TYPE)
    if certificate_type is not None and certificate_type != CertificateType.X_509:
        raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "Certify issues X.509 certificates only")
    given.remove(Tag.CERTIFICATE_TYPE)
    check_client_attributes(given)
    activation = given.get(Tag.ACTIVATION_DATE)
    deactivation = given.get(Tag.DEACTIVATION_DATE)
    return CertificateRequestOptions(
        subject=subject,
        not_before=activation if isinstance(activation, int) else None,
        not_after=deactivation if isinstance(deactivation, int) else None,
        validity_days=days,
        extensions=extensions,
        issuer_certificate=issuer_certificate,
        issuer_private_key=issuer_private_key,
        attributes=given,
    )


def _subject(attrs: Attributes) -> bytes | None:
    named = vendor_attribute(attrs, SUBJECT_NAME)
    if named is not None:
        return crypto.parse_name(text_value(named, "subject_name"))
    x509_subject = attrs.get(Tag.X_509_CERTIFICATE_SUBJECT)
    if isinstance(x509_subject, S.X509CertificateSubject) and x509_subject.subject_distinguished_name:
        dn = x509_subject.subject_distinguished_name
        if dn[:1] == b"\x30":
            crypto.name_text(dn)  # checks that it parses
            return dn
        return crypto.parse_name(text_value(dn, "Subject Distinguished Name"))
    structure = attrs.get(Tag.CERTIFICATE_ATTRIBUTES)
    if isinstance(structure, Item) and isinstance(structure.value, list):
        parts = [
            (SUBJECT_FIELDS[child.tag], text_value(child.value, "Certificate Subject field"))
            for child in structure.value
            if child.tag in SUBJECT_FIELDS and child.value not in (None, "", b"")
        ]
        order = list(SUBJECT_FIELDS.values())
        parts.sort(key=lambda part: order.index(part[0]))
        if parts:
            return crypto.build_name(parts)
    return None


def csr_bytes(request_type: int | None, value: bytes) -> crypto.CsrInfo:
    """The verified CSR a request carries (Certificate Request Type PKCS#10 or PEM)."""
    if request_type not in (None, CertificateRequestType.PKCS_10, CertificateRequestType.PEM):
        raise KmipError(
            ResultReason.FEATURE_NOT_SUPPORTED, "only PKCS#10 certificate requests (DER or PEM) are supported"
        )
    return crypto.parse_csr(value)


def validity(options: CertificateRequestOptions, start: int, default_lifetime: int) -> tuple[int, int]:
    """(notBefore, notAfter) as the request asks."""
    not_before = options.not_before if options.not_before is not None else start
    if options.not_after is not None:
        not_after = options.not_after
    elif options.validity_days is not None:
        not_after = not_before + options.validity_days * DAY
    else:
        not_after = not_before + default_lifetime
    if not_after <= not_before:
        raise KmipError(ResultReason.INVALID_FIELD, "the Deactivation Date precedes the Activation Date")
    return not_before, not_after


__all__ = [
    "DAY",
    "ISSUER_FIELDS",
    "PKCS12_PASSWORD",
    "SUBJECT_FIELDS",
    "DEFAULT_VALIDITY_DAYS",
    "CertificateRequestOptions",
    "csr_bytes",
    "read_options",
    "text_value",
    "validity",
    "vendor_attribute",
]
