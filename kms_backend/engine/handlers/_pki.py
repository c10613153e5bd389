"""PKI in the KMS: what Certify (KMIP 2.1 §6.1.6), Re-certify (§6.1.45), Validate (§6.1.57) and the certificate
forms of Register/Import and Get/Export share.

Conventions (compatible with Cosmian KMS where it has one):

- **Subject key.** Certify's Unique Identifier names a Public Key (or a Certificate Request object); or the
  request carries a PKCS#10 CSR (Certificate Request Type PKCS#10 = DER, PEM = PEM; absent: detected), whose
  signature is verified (Invalid CSR otherwise).
- **Issuer.** The request's Attributes designate it by a Link: Certificate Link (or Parent Link) to the issuer
  certificate and/or Private Key Link to the issuer private key (Cosmian's convention); either one is enough when
  the issuer's certificate and private key are linked to each other (Certificate Link on the key, Private Key Link
  on the certificate, as Certify writes them). No issuer link: self-signed, by the private key that the subject
  public key's Private Key Link names (a CSR cannot be self-signed here).
- **Subject name.** By priority: the vendor attribute ("cosmian", "subject_name") holding RFC 4514 text
  (``CN=Web,O=Acme,C=FR``) or OpenSSL text (``/C=FR/O=Acme/CN=Web``); the X.509 Certificate Subject attribute
  (Subject Distinguished Name as DER, or as such text); Cosmian's Certificate Attributes structure (its
  Certificate Subject CN, O, OU, Email, C, ST, L, UID, Serial Number, Title, DC, DN Qualifier fields); else the
  CSR's subject (or, for Re-certify, the old certificate's).
- **Validity.** notBefore = Activation Date if given, else now (Re-certify: now + Offset); notAfter = Deactivation
  Date if given, else notBefore + the vendor attribute ("cosmian", "validity_days") or Cosmian's
  "requested_validity_days" (an Integer, or its decimal text) days, else 365 days (Re-certify: the old
  certificate's lifetime). The certificate object's Activation and Deactivation Dates are notBefore and notAfter.
- **Extensions.** The vendor attribute ("cosmian", "x509-extension") (also "x509_extensions"), Text or Byte String:
  OpenSSL extension lines (``basicConstraints = critical,CA:TRUE``; a ``[v3_ca]`` section is used when the text
  has sections) or a JSON object of the same names (see ``crypto._pki``). A CSR's extensions are kept except
  basicConstraints; Re-certify keeps the old certificate's; the request's replace them one by one.
- **Stored certificate.** A Certificate (X.509 DER) with Certificate Type, Certificate Length, X.509 Certificate
  Identifier / Subject / Issuer, Digital Signature Algorithm, Activation/Deactivation Date; Public Key Link and
  Private Key Link to its keys, whose Certificate Link points back; Parent Link to the issuer certificate, which
  gets a Child Link. Re-certify adds Replacement / Replaced Object Links and moves the keys' Certificate Link.
- **Access.** Every object a request names is loaded for that operation (Certify, Re-certify, Validate); the
  issuer's (or self-signer's) private key needs the Certify right and must be Active with Sign or Certificate
  Sign usage. Certificates reached through links are public data read on the authority of the object linking to
  them, and links the server maintains on other objects are written the same way.
- **PKCS#12.** Register/Import of a Private Key whose Key Block holds a PKCS#12 file (Key Format Type PKCS#12, or
  Cosmian's legacy PKCS#12) stores the private key, its public key (uid + ``_pk``), its certificate and chain,
  all linked; the password comes from a PKCS#12 Password Link to a Secret Data object, or the vendor attribute
  ("cosmian", "pkcs12_password"). Get/Export of a Private Key (or of a Certificate with a Private Key Link) with
  Key Format Type PKCS#12 returns a Private Key whose Key Block holds the PKCS#12 file of the key, its certificate
  and the issuer chain, under the password the key names the same way (none: unencrypted), with the PKCS#12
  Friendly Name attribute.
- **PKCS#7.** A Certificate of Certificate Type PKCS#7 (Cosmian 0x80000001) registered holds a bundle: each
  certificate is stored, linked leaf to root, and the leaf's uid is returned. Get/Export of a Certificate with
  Key Format Type PKCS#7 (Cosmian 0x88800002) returns such a Certificate with the chain leaf to root. Certificate
  values are stored DER; PEM is accepted on Register/Import (X.509 Key Format Type on Get returns the DER).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CertificateRequestType,
    CertificateType,
    CryptographicUsageMask,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    State,
    Tag,
)
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes, Struct
from ...kmip.ttlv import Item, ItemType
from ..context import NOT_FOUND, RequestContext
from ..keymaterial import private_key_der, symmetric_key
from ..lifecycle import DESTROYED_STATES, check_client_attributes, require_material
from ..objects import COSMIAN_VENDOR, ManagedObject
from ._common import new_object
from ._keypairs import key_object

SUBJECT_NAME = ("subject_name",)
VALIDITY_DAYS = ("validity_days", "requested_validity_days")
EXTENSIONS = ("x509-extension", "x509_extensions")
PKCS12_PASSWORD = ("pkcs12_password",)
DEFAULT_VALIDITY_DAYS = 365
DAY = 86_400
#: How many issuers a chain may have before the server stops following Parent Links (loops, abuse).
MAX_CHAIN = 16

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
PKCS12_FORMATS = frozenset({KeyFormatType.PKCS_12, KeyFormatType.PKCS_12_LEGACY})
SIGNING_USAGE = CryptographicUsageMask.SIGN | CryptographicUsageMask.CERTIFICATE_SIGN
_REVOKED = frozenset({State.COMPROMISED, State.DESTROYED, State.DESTROYED_COMPROMISED})


# ----------------------------------------------------------------------------------------------------------------
# reading requests


def _vendor(attrs: Attributes, names: tuple[str, ...]) -> Any:
    for tag, value in attrs:
        if (
            tag == Tag.ATTRIBUTE
            and isinstance(value, S.VendorAttribute)
            and value.vendor_identification.lower() == COSMIAN_VENDOR
            and value.attribute_name in names
        ):
            return value.attribute_value.value if isinstance(value.attribute_value, Item) else None
    return None


def _text(value: Any, what: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"{what} must be UTF-8 text") from None
    if isinstance(value, str):
        return value
    raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"{what} must be a Text String")


def link_target(attrs: Attributes, *types: LinkType) -> str | None:
    """The object the first Link of one of ``types`` names (in the order of ``types``)."""
    links = [link for link in attrs.get_all(Tag.LINK) if isinstance(link, S.Link)]
    for link_type in types:
        for link in links:
            if link.link_type == link_type:
                return str(link.linked_object_identifier)
    return None


def set_link(attrs: Attributes, link_type: LinkType, target: str) -> None:
    """Replace every Link of ``link_type`` by one to ``target``."""
    remove_links(attrs, link_type)
    attrs.add(Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=target))


def remove_links(attrs: Attributes, *types: LinkType) -> None:
    attrs.entries = [
        (t, v) for t, v in attrs.entries if not (t == Tag.LINK and isinstance(v, S.Link) and v.link_type in types)
    ]


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
    days_value = _vendor(given, VALIDITY_DAYS)
    days = None
    if days_value is not None:
        try:
            days = int(days_value.decode() if isinstance(days_value, bytes) else days_value)
        except (TypeError, ValueError):
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, "validity_days must be an integer") from None
        if not 0 < days <= 100 * 366:
            raise KmipError(ResultReason.INVALID_ATTRIBUTE_VALUE, f"validity_days {days} is out of range")
    extensions_value = _vendor(given, EXTENSIONS)
    extensions = _text(extensions_value, "x509-extension") if extensions_value is not None else None
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
    named = _vendor(attrs, SUBJECT_NAME)
    if named is not None:
        return crypto.parse_name(_text(named, "subject_name"))
    x509_subject = attrs.get(Tag.X_509_CERTIFICATE_SUBJECT)
    if isinstance(x509_subject, S.X509CertificateSubject) and x509_subject.subject_distinguished_name:
        dn = x509_subject.subject_distinguished_name
        if dn[:1] == b"\x30":
            crypto.name_text(dn)  # checks that it parses
            return dn
        return crypto.parse_name(_text(dn, "Subject Distinguished Name"))
    structure = attrs.get(Tag.CERTIFICATE_ATTRIBUTES)
    if isinstance(structure, Item) and isinstance(structure.value, list):
        parts = [
            (SUBJECT_FIELDS[child.tag], _text(child.value, "Certificate Subject field"))
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


# ----------------------------------------------------------------------------------------------------------------
# objects


def certificate_der(mo: ManagedObject) -> bytes:
    """The DER of a stored X.509 certificate (Invalid Object Type for anything else)."""
    obj = mo.object
    if mo.object_type != ObjectType.CERTIFICATE or not isinstance(obj, S.Certificate):
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {mo.uid} is not a certificate")
    if obj.certificate_type != CertificateType.X_509:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"certificate {mo.uid} is not an X.509 certificate")
    return obj.certificate_value


def require_signer(mo: ManagedObject) -> bytes:
    """PKCS#8 of a private key allowed to sign certificates now (Active, Sign or Certificate Sign usage)."""
    if mo.object_type != ObjectType.PRIVATE_KEY:
        raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {mo.uid} is not a private key")
    if mo.state != State.ACTIVE:
        raise KmipError(
            ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"private key {mo.uid} is {mo.state.name}: only Active keys sign"
        )
    if not int(mo.attributes.get(Tag.CRYPTOGRAPHIC_USAGE_MASK, 0)) & SIGNING_USAGE:
        raise KmipError(
            ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK, f"private key {mo.uid} may not sign certificates"
        )
    return private_key_der(mo.object)


@dataclass
class Issuer:
    """The CA that signs: its Active private key and its certificate (None when self-signed)."""

    private_key: ManagedObject
    certificate: ManagedObject | None


def resolve_issuer(
    ctx: RequestContext,
    certificate_uid: str | None,
    private_key_uid: str | None,
    *,
    reached_from: tuple[ManagedObject, int] | None = None,
) -> Issuer:
    """The issuer the request's links designate (see the module docstring); ``reached_from``: the issuer
    certificate was found through that object's Parent Link, and is read on the right to that operation on it."""
    certificate = private = None
    if private_key_uid is not None:
        private = ctx.load(private_key_uid, Operation.CERTIFY, for_update=True)
    if certificate_uid is not None:
        authority, operation = reached_from if reached_from is not None else (None, Operation.CERTIFY)
        certificate = ctx.load(certificate_uid, operation, for_update=True, consequence_of=authority)
    elif private is not None:
        linked = link_target(private.attributes, LinkType.CERTIFICATE_LINK)
        if linked is None:
            raise KmipError(
                ResultReason.INVALID_FIELD,
                f"private key {private.uid} has no Certificate Link: name the issuer certificate",
            )
        certificate = ctx.load(linked, Operation.CERTIFY, for_update=True, consequence_of=private)
    assert certificate is not None
    certificate_der(certificate)
    if certificate.state in _REVOKED:
        raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"issuer certificate {certificate.uid} is revoked")
    if private is None:
        private = ctx.load(_private_key_uid_of(ctx, certificate, Operation.CERTIFY), Operation.CERTIFY)
    return Issuer(private_key=private, certificate=certificate)


def _private_key_uid_of(ctx: RequestContext, certificate: ManagedObject, operation: int) -> str:
    """The uid of the private key of ``certificate`` (authorised for ``operation``), directly or through its public
    key's link."""
    uid = link_target(certificate.attributes, LinkType.PRIVATE_KEY_LINK)
    if uid is None:
        public_uid = link_target(certificate.attributes, LinkType.PUBLIC_KEY_LINK)
        if public_uid is not None:
            public = ctx.load(public_uid, operation, with_object=False, consequence_of=certificate)
            uid = link_target(public.attributes, LinkType.PRIVATE_KEY_LINK)
    if uid is None:
        raise KmipError(
            ResultReason.INVALID_FIELD, f"certificate {certificate.uid} has no linked private key in the KMS"
        )
    return uid


def certificate_attributes(attrs: Attributes, info: crypto.CertificateInfo) -> None:
    """Set the server-maintained certificate attributes (KMIP 2.1 §4.6-4.8, §4.22, §4.61-4.63) from ``info``."""
    attrs.set(Tag.CERTIFICATE_TYPE, CertificateType.X_509)
    attrs.set(Tag.CERTIFICATE_LENGTH, len(info.der))
    attrs.set(
        Tag.X_509_CERTIFICATE_IDENTIFIER,
        S.X509CertificateIdentifier(
            issuer_distinguished_name=info.issuer, certificate_serial_number=info.serial_number
        ),
    )
    attrs.set(
        Tag.X_509_CERTIFICATE_SUBJECT,
        S.X509CertificateSubject(
            subject_distinguished_name=info.subject, subject_alternative_name=list(info.subject_alternative_names)
        ),
    )
    attrs.set(
        Tag.X_509_CERTIFICATE_ISSUER,
        S.X509CertificateIssuer(
            issuer_distinguished_name=info.issuer, issuer_alternative_name=list(info.issuer_alternative_names)
        ),
    )
    # Certificate Attributes (2.1 §4.6): one text attribute per subject / issuer name field; a field a name
    # repeats (two OUs) keeps its first value, as each of these attributes is single-valued.
    for fields, parts in ((SUBJECT_FIELDS, info.subject_parts), (ISSUER_FIELDS, info.issuer_parts)):
        values = dict(reversed(parts))
        for tag, short in fields.items():
            if short in values:
                # No typed field: the schema generator has no tag for the §4.6 group, so each is a raw item.
                attrs.set(tag, Item(tag, ItemType.TEXT_STRING, values[short]))
    if info.signature_algorithm is not None:
        attrs.set(Tag.DIGITAL_SIGNATURE_ALGORITHM, info.signature_algorithm)
    try:
        description = crypto.describe_key(info.public_key)
    except KmipError:
        description = None
    if description is not None:
        attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, description.algorithm)
        attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, description.length_bits)
    if Tag.ACTIVATION_DATE not in attrs:
        attrs.set(Tag.ACTIVATION_DATE, info.not_before)
    if Tag.DEACTIVATION_DATE not in attrs:
        attrs.set(Tag.DEACTIVATION_DATE, info.not_after)


def store_certificate(
    ctx: RequestContext,
    der: bytes,
    attrs: Attributes,
    *,
    uid: str | None = None,
    public_key: str | None = None,
    private_key: str | None = None,
    issuer: str | None = None,
) -> ManagedObject:
    """Store an X.509 certificate with its attributes and links (not the links back: see :func:`link_back`)."""
    info = crypto.certificate_info(der)
    certificate_attributes(attrs, info)
    for link_type, target in (
        (LinkType.PUBLIC_KEY_LINK, public_key),
        (LinkType.PRIVATE_KEY_LINK, private_key),
        (LinkType.PARENT_LINK, issuer),
    ):
        if target is not None:
            set_link(attrs, link_type, target)
    obj = S.Certificate(certificate_type=CertificateType.X_509, certificate_value=info.der)
    return new_object(ctx, ObjectType.CERTIFICATE, obj, attrs, uid=uid, key_material=info.der)


def link_back(
    ctx: RequestContext, certificate: ManagedObject, keys: list[ManagedObject], issuer: ManagedObject | None
) -> None:
    """Point the keys' Certificate Link at ``certificate`` and give the issuer a Child Link to it."""
    for key in keys:
        set_link(key.attributes, LinkType.CERTIFICATE_LINK, certificate.uid)
        ctx.save(key)
    if issuer is not None and issuer.uid != certificate.uid:
        issuer.attributes.add(Tag.LINK, S.Link(link_type=LinkType.CHILD_LINK, linked_object_identifier=certificate.uid))
        ctx.save(issuer)


def linked_keys(
    ctx: RequestContext, public: ManagedObject | None, authority: ManagedObject, operation: int
) -> list[ManagedObject]:
    """The public key and its private key (when in the KMS), loaded to update their links on the authority of
    ``operation`` on ``authority``."""
    if public is None:
        return []
    keys = [public]
    private_uid = link_target(public.attributes, LinkType.PRIVATE_KEY_LINK)
    if private_uid is not None:
        try:
            keys.append(ctx.load(private_uid, operation, for_update=True, consequence_of=authority))
        except KmipError as exc:
            if exc.reason not in NOT_FOUND:
                raise
    return keys


def chain_of(
    ctx: RequestContext, leaf: ManagedObject, operation: int, authority: ManagedObject | None = None
) -> list[ManagedObject]:
    """The stored issuers of ``leaf`` (following Parent Links, nearest first), read on the authority of
    ``operation`` on ``authority`` (default: the leaf)."""
    chain: list[ManagedObject] = []
    current = leaf
    seen = {leaf.uid}
    while len(chain) < MAX_CHAIN:
        parent = link_target(current.attributes, LinkType.PARENT_LINK)
        if parent is None or parent in seen:
            break
        try:
            current = ctx.load(parent, operation, consequence_of=authority or leaf)
        except KmipError as exc:
            if exc.reason in NOT_FOUND:
                break
            raise
        if current.object is None or current.state in DESTROYED_STATES:
            break
        seen.add(current.uid)
        chain.append(current)
    return chain


# ----------------------------------------------------------------------------------------------------------------
# Register / Import of certificates, certificate requests, PKCS#7 and PKCS#12


def store_pki_object(ctx: RequestContext, obj: Struct, attrs: Attributes, *, uid: str | None) -> ManagedObject | None:
    """Store a Register/Import object that needs PKI handling; None if ``obj`` is not one (the caller stores it).

    Certificates are parsed (PEM becomes DER) and get their attributes; PKCS#7 bundles and PKCS#12 files are
    expanded into linked objects (see the module docstring). Returns the object whose uid the response carries.
    """
    if isinstance(obj, S.Certificate):
        if obj.certificate_type == CertificateType.X_509:
            return store_certificate(ctx, obj.certificate_value, attrs, uid=uid)
        if obj.certificate_type == CertificateType.PKCS_7:
            return _store_chain(ctx, crypto.order_chain(crypto.parse_pkcs7(obj.certificate_value)), attrs, uid)
        raise KmipError(ResultReason.INVALID_FIELD, "only X.509 and PKCS#7 certificates are supported")
    if isinstance(obj, S.CertificateRequest):
        request_type = obj.certificate_request_type
        csr_bytes(request_type, obj.certificate_request_value)
        return new_object(ctx, ObjectType.CERTIFICATE_REQUEST, obj, attrs, uid=uid)
    block = obj.key_block if isinstance(obj, S.PrivateKey) else None
    if isinstance(block, S.KeyBlock) and block.key_format_type in PKCS12_FORMATS:
        return _store_pkcs12(ctx, block, attrs, uid)
    return None


def _store_chain(
    ctx: RequestContext, ders: list[bytes], attrs: Attributes, uid: str | None, **leaf_links: str | None
) -> ManagedObject:
    """Store certificates given leaf first, each with a Parent Link to the next one that issued it (and that one a
    Child Link back); returns the leaf. Links are set before the objects are inserted."""
    uids = [uid or ctx.new_uid()] + [ctx.new_uid() for _ in ders[1:]]
    infos = [crypto.certificate_info(der) for der in ders]
    stored: list[ManagedObject] = []
    for index, der in enumerate(ders):
        cert_attrs = attrs if index == 0 else Attributes()
        if index > 0 and infos[index].subject == infos[index - 1].issuer:
            cert_attrs.add(Tag.LINK, S.Link(link_type=LinkType.CHILD_LINK, linked_object_identifier=uids[index - 1]))
        follows = index + 1 < len(ders) and infos[index + 1].subject == infos[index].issuer
        links = leaf_links if index == 0 else {}
        stored.append(
            store_certificate(
                ctx, der, cert_attrs, uid=uids[index], issuer=uids[index + 1] if follows else None, **links
            )
        )
    return stored[0]


def pkcs12_password(ctx: RequestContext, attrs: Attributes, authority: ManagedObject | None = None) -> bytes | None:
    """The PKCS#12 password ``attrs`` designate: a PKCS#12 Password Link to Secret Data, or the vendor attribute."""
    secret_uid = link_target(attrs, LinkType.PKCS_12_PASSWORD_LINK)
    if secret_uid is not None:
        secret = ctx.load(secret_uid, Operation.GET)
        if secret.object_type != ObjectType.SECRET_DATA:
            raise KmipError(
                ResultReason.INVALID_OBJECT_TYPE, f"PKCS#12 password object {secret_uid} is not Secret Data"
            )
        return symmetric_key(secret.object)
    value = _vendor(attrs, PKCS12_PASSWORD)
    if value is None:
        return None
    return value if isinstance(value, bytes) else _text(value, "pkcs12_password").encode()


def _store_pkcs12(ctx: RequestContext, block: S.KeyBlock, attrs: Attributes, uid: str | None) -> ManagedObject:
    value = block.key_value
    material = value.key_material if isinstance(value, S.KeyValue) else None
    if not isinstance(material, bytes):
        raise KmipError(ResultReason.INVALID_FIELD, "a PKCS#12 Key Block must hold the PKCS#12 file as bytes")
    password = pkcs12_password(ctx, attrs)
    remove_links(attrs, LinkType.PKCS_12_PASSWORD_LINK)
    attrs.entries = [
        (t, v)
        for t, v in attrs.entries
        if not (t == Tag.ATTRIBUTE and isinstance(v, S.VendorAttribute) and v.attribute_name in PKCS12_PASSWORD)
    ]
    content = crypto.parse_pkcs12(material, password)
    public_der = crypto.public_key_from_private(content.private_key)
    description = crypto.describe_key(public_der)
    private_uid = uid or ctx.new_uid()
    public_uid = f"{private_uid}_pk"
    # A freshly inserted object cannot be written again in the same item: every link is set before insertion.
    certificate_uid = ctx.new_uid() if content.certificate is not None else None
    if content.friendly_name and Tag.PKCS_12_FRIENDLY_NAME not in attrs:
        attrs.set(Tag.PKCS_12_FRIENDLY_NAME, content.friendly_name)
    public_attrs = Attributes([(t, v) for t, v in attrs if t in (Tag.ATTRIBUTE, Tag.OBJECT_GROUP)])
    for key_attrs, other, link in (
        (attrs, public_uid, LinkType.PUBLIC_KEY_LINK),
        (public_attrs, private_uid, LinkType.PRIVATE_KEY_LINK),
    ):
        key_attrs.set(Tag.CRYPTOGRAPHIC_ALGORITHM, description.algorithm)
        key_attrs.set(Tag.CRYPTOGRAPHIC_LENGTH, description.length_bits)
        set_link(key_attrs, link, other)
        if certificate_uid is not None:
            set_link(key_attrs, LinkType.CERTIFICATE_LINK, certificate_uid)
    private = new_object(
        ctx,
        ObjectType.PRIVATE_KEY,
        key_object(S.PrivateKey, KeyFormatType.PKCS_8, content.private_key, description),
        attrs,
        uid=private_uid,
        key_material=content.private_key,
        key_format_type=KeyFormatType.PKCS_8,
    )
    new_object(
        ctx,
        ObjectType.PUBLIC_KEY,
        key_object(S.PublicKey, KeyFormatType.X_509, public_der, description),
        public_attrs,
        uid=public_uid,
        key_material=public_der,
        key_format_type=KeyFormatType.X_509,
    )
    if content.certificate is not None:
        cert_attrs = Attributes([(t, v) for t, v in attrs if t in (Tag.ATTRIBUTE, Tag.OBJECT_GROUP)])
        if content.friendly_name:
            cert_attrs.set(Tag.PKCS_12_FRIENDLY_NAME, content.friendly_name)
        chain = crypto.order_chain([content.certificate, *content.chain])
        if chain[0] != crypto.load_certificate(content.certificate):
            chain = [content.certificate, *(c for c in chain if c != content.certificate)]
        _store_chain(ctx, chain, cert_attrs, certificate_uid, public_key=public_uid, private_key=private_uid)
    return private


# ----------------------------------------------------------------------------------------------------------------
# Get / Export as PKCS#12, PKCS#7, X.509


def export_pki_object(ctx: RequestContext, mo: ManagedObject, request: S.GetRequest | S.ExportRequest) -> Struct | None:
    """The object as Get/Export return it in a PKI Key Format Type; None when the request is not one of those."""
    wanted = request.key_format_type
    operation = Operation.EXPORT if isinstance(request, S.ExportRequest) else Operation.GET
    if wanted in PKCS12_FORMATS and mo.object_type in (ObjectType.PRIVATE_KEY, ObjectType.CERTIFICATE):
        if request.key_wrapping_specification is not None:
            raise KmipError(ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED, "a PKCS#12 export is protected by its password")
        return _export_pkcs12(ctx, mo, int(wanted), operation)
    if mo.object_type != ObjectType.CERTIFICATE or wanted is None:
        return None
    if wanted == KeyFormatType.X_509:
        certificate_der(mo)
        return mo.object
    if wanted == KeyFormatType.PKCS_7:
        chain = [certificate_der(mo)] + [certificate_der(c) for c in chain_of(ctx, mo, operation)]
        return S.Certificate(certificate_type=CertificateType.PKCS_7, certificate_value=crypto.build_pkcs7(chain))
    raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "certificates are exported as X.509, PKCS#7 or PKCS#12")


def _export_pkcs12(ctx: RequestContext, mo: ManagedObject, key_format: int, operation: int) -> Struct:
    if mo.object_type == ObjectType.CERTIFICATE:
        # the certificate is public; the private key it names needs the right to export it
        certificate: ManagedObject | None = mo
        private = ctx.load(_private_key_uid_of(ctx, mo, operation), operation)
    else:
        private = mo
        certificate = _certificate_of(ctx, private, operation)
    private_object = require_material(private)
    if not private.attributes.get(Tag.EXTRACTABLE, True):
        raise KmipError(ResultReason.NOT_EXTRACTABLE, f"object {private.uid} is not extractable")
    if private.attributes.get(Tag.SENSITIVE, False):
        raise KmipError(ResultReason.SENSITIVE, f"object {private.uid} is sensitive: it cannot leave the KMS")
    chain = [] if certificate is None else [certificate_der(c) for c in chain_of(ctx, certificate, operation, mo)]
    friendly = private.attributes.get(Tag.PKCS_12_FRIENDLY_NAME)
    if friendly is None and certificate is not None:
        friendly = certificate.attributes.get(Tag.PKCS_12_FRIENDLY_NAME)
    blob = crypto.build_pkcs12(
        private_key_der(private_object),
        certificate_der(certificate) if certificate is not None else None,
        chain,
        password=pkcs12_password(ctx, private.attributes),
        friendly_name=friendly if isinstance(friendly, str) else None,
    )
    block = private_object.key_block  # type: ignore[attr-defined]
    return S.PrivateKey(
        key_block=S.KeyBlock(
            key_format_type=key_format,  # type: ignore[arg-type]
            key_value=S.KeyValue(key_material=blob),
            cryptographic_algorithm=block.cryptographic_algorithm,
            cryptographic_length=block.cryptographic_length,
        )
    )


def _certificate_of(ctx: RequestContext, private: ManagedObject, operation: int) -> ManagedObject | None:
    uid = link_target(private.attributes, LinkType.CERTIFICATE_LINK, LinkType.PKCS_12_CERTIFICATE_LINK)
    if uid is None:
        public_uid = link_target(private.attributes, LinkType.PUBLIC_KEY_LINK)
        if public_uid is not None:
            public = ctx.load(public_uid, operation, with_object=False, consequence_of=private)
            uid = link_target(public.attributes, LinkType.CERTIFICATE_LINK)
    if uid is None:
        return None
    return ctx.load(uid, operation, consequence_of=private)


__all__ = [
    "DEFAULT_VALIDITY_DAYS",
    "CertificateRequestOptions",
    "Issuer",
    "certificate_attributes",
    "certificate_der",
    "chain_of",
    "csr_bytes",
    "export_pki_object",
    "link_back",
    "link_target",
    "linked_keys",
    "pkcs12_password",
    "read_options",
    "remove_links",
    "require_signer",
    "resolve_issuer",
    "set_link",
    "store_certificate",
    "store_pki_object",
    "validity",
]
