"""Re-certify (KMIP 2.1 §6.1.45): a new certificate for the key of an existing one, with a new validity period,
signed by the same issuer (or self-signed again), replacing it (Replacement / Replaced Object Links). The new
certificate keeps the old one's subject and extensions unless the request's attributes say otherwise, or takes
subject and key from a new CSR when the request carries one; conventions in ``_pki``."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, ObjectType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ..context import NOT_FOUND, RequestContext
from ..lifecycle import require_material
from ..objects import ManagedObject
from . import _pki
from ._certificate_request import csr_bytes, read_options, validity
from ._links import link_target, linked_through_public_key
from ._rekey import replaced_link, retire, successor_attributes


def handle(ctx: RequestContext, request: S.ReCertifyRequest) -> S.ReCertifyResponse:
    ctx.check_create()
    old = ctx.load(request.unique_identifier, Operation.RE_CERTIFY, for_update=True)
    require_material(old)
    old_der = _pki.certificate_der(old)
    info = crypto.certificate_info(old_der)
    options = read_options(request.attributes)

    csr: crypto.CsrInfo | None = None
    if request.certificate_request_value is not None:
        csr = csr_bytes(request.certificate_request_type, request.certificate_request_value)
    elif request.certificate_request_unique_identifier is not None:
        stored = ctx.load(request.certificate_request_unique_identifier, Operation.RE_CERTIFY)
        if stored.object_type != ObjectType.CERTIFICATE_REQUEST or not isinstance(stored.object, S.CertificateRequest):
            raise KmipError(ResultReason.INVALID_OBJECT_TYPE, f"object {stored.uid} is not a Certificate Request")
        csr = csr_bytes(stored.object.certificate_request_type, stored.object.certificate_request_value)

    issuer = _issuer(ctx, old, info, options.issuer_certificate, options.issuer_private_key)
    signer = _pki.require_signer(issuer.private_key)
    public_key = csr.public_key if csr is not None else info.public_key
    if issuer.certificate is None and crypto.public_key_from_private(signer) != public_key:
        raise KmipError(ResultReason.INVALID_FIELD, "a self-signed certificate cannot certify another key")

    start = ctx.now + (request.offset or 0)
    not_before, not_after = validity(options, start, info.not_after - info.not_before)
    der = crypto.issue_certificate(
        subject=options.subject or (csr.subject if csr is not None else info.subject),
        public_key=public_key,
        signer_private_key=signer,
        issuer_certificate=_pki.certificate_der(issuer.certificate) if issuer.certificate is not None else None,
        not_before=not_before,
        not_after=not_after,
        extensions=options.extensions,
        copy_extensions_from=csr.der if csr is not None else old_der,
    )

    # The replacement inherits the old certificate's client attributes and Names; its dates are its own.
    attrs = successor_attributes(old, options.attributes, ctx.now, None)
    for tag in (Tag.ACTIVATION_DATE, Tag.DEACTIVATION_DATE):
        attrs.remove(tag)
    attrs.set(Tag.ACTIVATION_DATE, not_before)
    attrs.set(Tag.DEACTIVATION_DATE, not_after)
    same_key = public_key == info.public_key
    public: ManagedObject | None = None
    public_uid = link_target(old.attributes, LinkType.PUBLIC_KEY_LINK) if same_key else None
    if public_uid is not None:
        try:
            public = ctx.load(public_uid, Operation.RE_CERTIFY, for_update=True, consequence_of=old)
        except KmipError as exc:
            if exc.reason not in NOT_FOUND:
                raise
    keys = _pki.linked_keys(ctx, public, old, Operation.RE_CERTIFY)
    private_uid = next((k.uid for k in keys if k.object_type == ObjectType.PRIVATE_KEY), None)
    if private_uid is None and same_key:
        private_uid = link_target(old.attributes, LinkType.PRIVATE_KEY_LINK)

    uid = ctx.new_uid()
    retire(old, uid)  # Names are unique among live objects: the old certificate gives them up first
    ctx.save(old)
    attrs.add(Tag.LINK, replaced_link(old.uid))
    if public is None and private_uid is not None and issuer.private_key.uid == private_uid:
        keys.append(issuer.private_key)
    certificate = _pki.store_issued(
        ctx, der, attrs, uid=uid, public=public, private_key=private_uid, issuer=issuer.certificate, keys=keys
    )
    return S.ReCertifyResponse(unique_identifier=ctx.returned(certificate.uid))


def _issuer(
    ctx: RequestContext,
    old: ManagedObject,
    info: crypto.CertificateInfo,
    certificate_uid: str | None,
    private_key_uid: str | None,
) -> _pki.Issuer:
    """The request's issuer if it names one, else the old certificate's: its Parent Link, or itself when it is
    self-signed (its own private key signs again)."""
    if certificate_uid is not None or private_key_uid is not None:
        return _pki.resolve_issuer(ctx, certificate_uid, private_key_uid)
    parent = link_target(old.attributes, LinkType.PARENT_LINK)
    if parent is not None:
        return _pki.resolve_issuer(ctx, parent, None, reached_from=(old, Operation.RE_CERTIFY))
    if not info.self_issued:
        raise KmipError(
            ResultReason.INVALID_FIELD, f"the issuer of certificate {old.uid} is not in the KMS: name it with a link"
        )
    direct = (LinkType.PRIVATE_KEY_LINK,)
    private_uid = linked_through_public_key(ctx, old, Operation.RE_CERTIFY, direct, LinkType.PRIVATE_KEY_LINK)
    if private_uid is None:
        raise KmipError(ResultReason.INVALID_FIELD, f"certificate {old.uid} has no private key in the KMS to sign")
    return _pki.self_signed_issuer(ctx, private_uid)


__all__ = ["handle"]
