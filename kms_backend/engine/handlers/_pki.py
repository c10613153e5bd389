"""PKI in the KMS: what Certify (KMIP 2.1 §6.1.6), Re-certify (§6.1.45), Validate (§6.1.57) and the certificate
forms of Register/Import and Get/Export share. This module holds the certificates: issuers, storing and
linking certificates, chains. What a request asks for is read in ``_certificate_request``; PKCS#12 files and
PKCS#7 bundles are stored and built in ``_pkcs12``; Links are read and written through ``_links``.

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

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CertificateType,
    CryptographicUsageMask,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    State,
    Tag,
)
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ...kmip.ttlv import Item, ItemType
from ..context import NOT_FOUND, RequestContext
from ..keymaterial import private_key_der
from ..lifecycle import DESTROYED_STATES, mask_allows
from ..objects import ManagedObject
from ._certificate_request import ISSUER_FIELDS, SUBJECT_FIELDS
from ._common import new_object
from ._links import link_target, linked_through_public_key, set_link

#: How many issuers a chain may have before the server stops following Parent Links (loops, abuse).
MAX_CHAIN = 16
SIGNING_USAGE = CryptographicUsageMask.SIGN | CryptographicUsageMask.CERTIFICATE_SIGN
_REVOKED = frozenset({State.COMPROMISED, State.DESTROYED, State.DESTROYED_COMPROMISED})

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
    if not mask_allows(mo.attributes.get(Tag.CRYPTOGRAPHIC_USAGE_MASK, 0), SIGNING_USAGE):
        raise KmipError(
            ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK, f"private key {mo.uid} may not sign certificates"
        )
    return private_key_der(mo.object)


@dataclass
class Issuer:
    """The CA that signs: its Active private key and its certificate (None when self-signed)."""

    private_key: ManagedObject
    certificate: ManagedObject | None


def self_signed_issuer(ctx: RequestContext, private_key_uid: str) -> Issuer:
    """The Issuer of a self-signed certificate: the key pair's own private key, no issuer certificate."""
    return Issuer(private_key=ctx.load(private_key_uid, Operation.CERTIFY, for_update=True), certificate=None)


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
        private = ctx.load(private_key_uid_of(ctx, certificate, Operation.CERTIFY), Operation.CERTIFY)
    return Issuer(private_key=private, certificate=certificate)


def private_key_uid_of(ctx: RequestContext, certificate: ManagedObject, operation: int) -> str:
    """The uid of the private key of ``certificate`` (authorised for ``operation``), directly or through its public
    key's link."""
    direct = (LinkType.PRIVATE_KEY_LINK,)
    uid = linked_through_public_key(ctx, certificate, operation, direct, LinkType.PRIVATE_KEY_LINK)
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


def store_issued(
    ctx: RequestContext,
    der: bytes,
    attrs: Attributes,
    *,
    uid: str | None,
    public: ManagedObject | None,
    private_key: str | None,
    issuer: ManagedObject | None,
    keys: list[ManagedObject],
) -> ManagedObject:
    """Store a certificate Certify or Re-certify issued (:func:`store_certificate`, linked to its keys and its
    issuer's certificate) and link ``keys`` and the issuer back to it (:func:`link_back`)."""
    certificate = store_certificate(
        ctx,
        der,
        attrs,
        uid=uid,
        public_key=public.uid if public is not None else None,
        private_key=private_key,
        issuer=issuer.uid if issuer is not None else None,
    )
    link_back(ctx, certificate, keys, issuer)
    return certificate


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


__all__ = [
    "MAX_CHAIN",
    "Issuer",
    "certificate_attributes",
    "certificate_der",
    "chain_of",
    "link_back",
    "linked_keys",
    "private_key_uid_of",
    "require_signer",
    "resolve_issuer",
    "self_signed_issuer",
    "store_certificate",
    "store_issued",
]
