"""PKCS#12 files and PKCS#7 chains (see ``_pki``'s conventions): storing what Register/Import bring as several
linked objects, and building them for Get/Export."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CertificateType,
    KeyFormatType,
    LinkType,
    ObjectType,
    Operation,
    ResultReason,
    Tag,
)
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes, Struct
from ..context import RequestContext
from ..keymaterial import private_key_der, symmetric_key
from ..lifecycle import require_material
from ..objects import ManagedObject
from ._certificate_request import PKCS12_PASSWORD, csr_bytes, text_value, vendor_attribute
from ._common import new_object
from ._keypairs import key_object
from ._links import link_target, linked_through_public_key, remove_links, set_link
from ._pki import certificate_der, chain_of, private_key_uid_of, store_certificate

PKCS12_FORMATS = frozenset({KeyFormatType.PKCS_12, KeyFormatType.PKCS_12_LEGACY})


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
    value = vendor_attribute(attrs, PKCS12_PASSWORD)
    if value is None:
        return None
    return value if isinstance(value, bytes) else text_value(value, "pkcs12_password").encode()


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
        private = ctx.load(private_key_uid_of(ctx, mo, operation), operation)
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
    direct = (LinkType.CERTIFICATE_LINK, LinkType.PKCS_12_CERTIFICATE_LINK)
    uid = linked_through_public_key(ctx, private, operation, direct, LinkType.CERTIFICATE_LINK)
    if uid is None:
        return None
    return ctx.load(uid, operation, consequence_of=private)


__all__ = ["PKCS12_FORMATS", "export_pki_object", "pkcs12_password", "store_pki_object"]
