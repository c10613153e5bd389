"""Certify (KMIP 2.1 §6.1.6): issue an X.509 certificate for a public key in the KMS, a Certificate Request
object or a PKCS#10 CSR in the request, self-signed or signed by a CA whose private key and certificate are in
the KMS. The conventions (issuer links, subject, validity, extensions) are described in ``_pki``."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, ObjectType, Operation, ResultReason
from ...kmip.errors import KmipError
from ..context import RequestContext
from ..keymaterial import public_key_der
from ..lifecycle import require_material
from ..objects import ManagedObject
from ._pki import (
    DAY,
    DEFAULT_VALIDITY_DAYS,
    Issuer,
    certificate_der,
    csr_bytes,
    link_back,
    link_target,
    linked_keys,
    read_options,
    require_signer,
    resolve_issuer,
    store_certificate,
    validity,
)


def handle(ctx: RequestContext, request: S.CertifyRequest) -> S.CertifyResponse:
    ctx.check_create()
    options = read_options(request.attributes)
    public: ManagedObject | None = None
    csr: crypto.CsrInfo | None = None
    if request.certificate_request_value is not None:
        csr = csr_bytes(request.certificate_request_type, request.certificate_request_value)
    elif request.unique_identifier is not None:
        subject_object = ctx.load(request.unique_identifier, Operation.CERTIFY, for_update=True)
        require_material(subject_object)
        if subject_object.object_type == ObjectType.PUBLIC_KEY:
            public = subject_object
        elif subject_object.object_type == ObjectType.CERTIFICATE_REQUEST:
            assert isinstance(subject_object.object, S.CertificateRequest)
            csr = csr_bytes(
                subject_object.object.certificate_request_type, subject_object.object.certificate_request_value
            )
        else:
            raise KmipError(
                ResultReason.INVALID_OBJECT_TYPE,
                f"Certify takes a Public Key or a Certificate Request, not a {subject_object.object_type.name}",
            )
    else:
        raise KmipError(ResultReason.INVALID_FIELD, "Certify needs a Unique Identifier or a Certificate Request")

    if options.issuer_certificate is None and options.issuer_private_key is None:
        if public is None:
            raise KmipError(ResultReason.INVALID_FIELD, "a certificate request needs an issuer (Certificate Link)")
        issuer = _self_signer(ctx, public)
    else:
        issuer = resolve_issuer(ctx, options.issuer_certificate, options.issuer_private_key)
    signer = require_signer(issuer.private_key)

    subject = options.subject or (csr.subject if csr is not None else None)
    if subject is None:
        raise KmipError(
            ResultReason.INVALID_FIELD,
            'the subject name is missing (vendor attribute "subject_name" or Certificate Attributes)',
        )
    not_before, not_after = validity(options, ctx.now, DEFAULT_VALIDITY_DAYS * DAY)
    der = crypto.issue_certificate(
        subject=subject,
        public_key=csr.public_key if csr is not None else public_key_der(public.object if public else None),
        signer_private_key=signer,
        issuer_certificate=certificate_der(issuer.certificate) if issuer.certificate is not None else None,
        not_before=not_before,
        not_after=not_after,
        extensions=options.extensions,
        copy_extensions_from=csr.der if csr is not None else None,
    )
    attrs = options.attributes
    uid = ctx.new_uid()
    keys = linked_keys(ctx, public, public, Operation.CERTIFY) if public is not None else []
    private_uid = next((k.uid for k in keys if k.object_type == ObjectType.PRIVATE_KEY), None)
    certificate = store_certificate(
        ctx,
        der,
        attrs,
        uid=uid,
        public_key=public.uid if public is not None else None,
        private_key=private_uid,
        issuer=issuer.certificate.uid if issuer.certificate is not None else None,
    )
    link_back(ctx, certificate, keys, issuer.certificate)
    return S.CertifyResponse(unique_identifier=ctx.returned(certificate.uid))


def _self_signer(ctx: RequestContext, public: ManagedObject) -> Issuer:
    private_uid = link_target(public.attributes, LinkType.PRIVATE_KEY_LINK)
    if private_uid is None:
        raise KmipError(
            ResultReason.INVALID_FIELD, f"public key {public.uid} has no Private Key Link to self-sign with"
        )
    return Issuer(private_key=ctx.load(private_uid, Operation.CERTIFY, for_update=True), certificate=None)


__all__ = ["handle"]
