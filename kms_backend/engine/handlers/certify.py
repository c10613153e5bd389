"""Certify (KMIP 2.1 §6.1.6): issue an X.509 certificate for a public key in the KMS, a Certificate Request
object or a PKCS#10 CSR in the request, self-signed or signed by a CA whose private key and certificate are in
the KMS. The conventions (issuer links, subject, validity, extensions) are described in ``_pki``.

With neither a Unique Identifier nor a Certificate Request Value, a request whose Attributes name a Cryptographic
Algorithm generates the subject's key pair first (Cosmian KMS's behaviour, ``certify/resolve_subject.rs``): the
Attributes select it as for Create Key Pair (Cryptographic Algorithm; Cryptographic Length for RSA, Cryptographic
Domain Parameters or a Length of 224/256/384/521 for EC), the new public key is certified — self-signed by the new
private key, or by the issuer the Attributes link to — and the response carries the certificate's Unique
Identifier only, as Cosmian's does. The three objects are linked both ways: the certificate has a Public Key Link
and a Private Key Link, each key a Certificate Link, and the keys link to each other (Public Key Link / Private Key
Link; the public key's uid is the private key's plus ``_pk``). The keys are Active at once (Cosmian stores them
Active) so the certificate is usable with them. The request's attributes are shared out: Name, Activation Date and
Deactivation Date are the certificate's (Names are unique; the dates are its validity); Cryptographic Algorithm,
Length, Domain Parameters, Parameters, Usage Mask, Sensitive and Extractable are the keys'; Object Type and Key
Format Type (Cosmian's client describes the private key with them) are dropped; the rest (tags, Object Group,
vendor attributes, …) goes to all three. Creating the keys needs the right to create (``ctx.check_create``), which
Certify requires anyway.
"""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, ObjectType, Operation, ResultReason, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..keymaterial import public_key_der
from ..lifecycle import require_material
from ..objects import ManagedObject
from ._certificate_request import (
    DAY,
    DEFAULT_VALIDITY_DAYS,
    CertificateRequestOptions,
    csr_bytes,
    read_options,
    validity,
)
from ._keypairs import create_pair, key_pair_parameters
from ._links import link_target
from ._pki import (
    Issuer,
    certificate_der,
    linked_keys,
    require_signer,
    resolve_issuer,
    self_signed_issuer,
    store_issued,
)

#: Attributes of a generating Certify request that belong to the certificate only, to the keys only, to neither.
_CERTIFICATE_ONLY = frozenset({Tag.NAME, Tag.ACTIVATION_DATE, Tag.DEACTIVATION_DATE})
_KEYS_ONLY = frozenset(
    {
        Tag.CRYPTOGRAPHIC_ALGORITHM,
        Tag.CRYPTOGRAPHIC_LENGTH,
        Tag.CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
        Tag.CRYPTOGRAPHIC_PARAMETERS,
        Tag.CRYPTOGRAPHIC_USAGE_MASK,
        Tag.SENSITIVE,
        Tag.EXTRACTABLE,
    }
)
_DROPPED = frozenset({Tag.OBJECT_TYPE, Tag.KEY_FORMAT_TYPE})


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
    elif Tag.CRYPTOGRAPHIC_ALGORITHM in options.attributes:
        return _certify_a_new_key_pair(ctx, options)
    else:
        raise KmipError(
            ResultReason.INVALID_FIELD,
            "Certify needs a Unique Identifier, a Certificate Request, or a Cryptographic Algorithm to generate a "
            "key pair",
        )

    if options.issuer_certificate is None and options.issuer_private_key is None:
        if public is None:
            raise KmipError(ResultReason.INVALID_FIELD, "a certificate request needs an issuer (Certificate Link)")
        issuer = _self_signer(ctx, public)
    else:
        issuer = resolve_issuer(ctx, options.issuer_certificate, options.issuer_private_key)
    signer = require_signer(issuer.private_key)

    subject = _required_subject(options.subject or (csr.subject if csr is not None else None))
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
    certificate = store_issued(
        ctx, der, attrs, uid=uid, public=public, private_key=private_uid, issuer=issuer.certificate, keys=keys
    )
    return S.CertifyResponse(unique_identifier=ctx.returned(certificate.uid))


def _certify_a_new_key_pair(ctx: RequestContext, options: CertificateRequestOptions) -> S.CertifyResponse:
    """Generate a key pair from the request's attributes and certify its public key (module docstring)."""
    subject = _required_subject(options.subject)
    # Everything that can be refused is checked before the (RSA: slow) key generation.
    issuer: Issuer | None = None
    signer: bytes | None = None
    if options.issuer_certificate is not None or options.issuer_private_key is not None:
        issuer = resolve_issuer(ctx, options.issuer_certificate, options.issuer_private_key)
        signer = require_signer(issuer.private_key)
    not_before, not_after = validity(options, ctx.now, DEFAULT_VALIDITY_DAYS * DAY)
    key_attrs = Attributes()
    certificate_attrs = Attributes()
    for tag, value in options.attributes:
        if tag in _DROPPED:
            continue
        if tag not in _KEYS_ONLY:
            certificate_attrs.add(tag, value)
        if tag not in _CERTIFICATE_ONLY:
            key_attrs.add(tag, value)
    parameters = key_pair_parameters(key_attrs)
    certificate_uid = ctx.new_uid()
    # Stored objects cannot be written again in the same item: the keys get their Certificate Link up front.
    key_attrs.set(Tag.ACTIVATION_DATE, ctx.now)
    key_attrs.add(Tag.LINK, S.Link(link_type=LinkType.CERTIFICATE_LINK, linked_object_identifier=certificate_uid))
    private, public = create_pair(
        ctx, Attributes(list(key_attrs.entries)), Attributes(list(key_attrs.entries)), parameters
    )
    if signer is None:
        signer = require_signer(private)  # self-signed: the new key signs its own certificate, so it needs Sign usage
    issuer_certificate = issuer.certificate if issuer is not None else None
    der = crypto.issue_certificate(
        subject=subject,
        public_key=public_key_der(public.object),
        signer_private_key=signer,
        issuer_certificate=certificate_der(issuer_certificate) if issuer_certificate is not None else None,
        not_before=not_before,
        not_after=not_after,
        extensions=options.extensions,
    )
    certificate = store_issued(
        ctx,
        der,
        certificate_attrs,
        uid=certificate_uid,
        public=public,
        private_key=private.uid,
        issuer=issuer_certificate,
        keys=[],
    )
    return S.CertifyResponse(unique_identifier=ctx.returned(certificate.uid))


def _required_subject(subject: bytes | None) -> bytes:
    if subject is None:
        raise KmipError(
            ResultReason.INVALID_FIELD,
            'the subject name is missing (vendor attribute "subject_name" or Certificate Attributes)',
        )
    return subject


def _self_signer(ctx: RequestContext, public: ManagedObject) -> Issuer:
    private_uid = link_target(public.attributes, LinkType.PRIVATE_KEY_LINK)
    if private_uid is None:
        raise KmipError(
            ResultReason.INVALID_FIELD, f"public key {public.uid} has no Private Key Link to self-sign with"
        )
    return self_signed_issuer(ctx, private_uid)


__all__ = ["handle"]
