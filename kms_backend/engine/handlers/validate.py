"""Validate (KMIP 2.1 §6.1.57): is a certificate chain valid at a date (the request's Validity Date, else now)?

The chain is the certificates given by value (X.509, DER or PEM, or a PKCS#7 bundle) together with those given
by Unique Identifier, in any order. When it stops before a self-signed root, it is completed with the issuers the
stored certificates name by Parent Link (certificates are public: read on the Validate right to the
certificate the request named). Valid:
every certificate is within its dates, each is signed by the next, every issuer is a CA, and the chain ends at a
self-signed root. Invalid: a date, a signature or a CA constraint fails, or a stored certificate in it has been
revoked. Unknown: no root could be reached."""

from __future__ import annotations

from ... import crypto
from ...kmip import _schema_data as S
from ...kmip._registry_data import CertificateType, LinkType, Operation, ResultReason, Tag, ValidityIndicator
from ...kmip.errors import KmipError
from ..context import NOT_FOUND, RequestContext
from ..lifecycle import require_material
from ..objects import ManagedObject
from ._links import link_target
from ._pki import MAX_CHAIN, certificate_der


def handle(ctx: RequestContext, request: S.ValidateRequest) -> S.ValidateResponse:
    given: list[bytes] = []
    for certificate in request.certificate:
        if certificate.certificate_type == CertificateType.X_509:
            given.append(crypto.load_certificate(certificate.certificate_value))
        elif certificate.certificate_type == CertificateType.PKCS_7:
            given.extend(crypto.parse_pkcs7(certificate.certificate_value))
        else:
            raise KmipError(ResultReason.INVALID_FIELD, "only X.509 and PKCS#7 certificates can be validated")
    stored: dict[bytes, ManagedObject] = {}
    #: certificate -> the object named in the request whose Validate right covers reading it
    authority: dict[bytes, ManagedObject] = {}
    for uid in request.unique_identifier:
        mo = ctx.load(uid, Operation.VALIDATE)
        require_material(mo)
        der = certificate_der(mo)
        stored[der] = authority[der] = mo
        given.append(der)
    if not given:
        raise KmipError(ResultReason.INVALID_FIELD, "Validate needs a certificate or a Unique Identifier")
    at = request.validity_date if request.validity_date is not None else ctx.now
    chain = list(dict.fromkeys(given))
    result = crypto.validate_chain(chain, at)
    for _ in range(MAX_CHAIN):
        if result.indicator != ValidityIndicator.UNKNOWN:
            break
        top = result.chain[-1]
        parent = _stored_parent(ctx, stored.get(top), authority.get(top))
        if parent is None:
            break
        der = certificate_der(parent)
        if der in chain:
            break
        stored[der] = parent
        authority[der] = authority[top]
        chain.append(der)
        result = crypto.validate_chain(chain, at)
    if any(mo.attributes.get(Tag.REVOCATION_REASON) is not None for mo in stored.values()):
        return S.ValidateResponse(validity_indicator=ValidityIndicator.INVALID)
    return S.ValidateResponse(validity_indicator=result.indicator)


def _stored_parent(
    ctx: RequestContext, child: ManagedObject | None, authority: ManagedObject | None
) -> ManagedObject | None:
    if child is None or authority is None:
        return None
    uid = link_target(child.attributes, LinkType.PARENT_LINK)
    if uid is None:
        return None
    try:
        return ctx.load(uid, Operation.VALIDATE, consequence_of=authority)
    except KmipError as exc:
        if exc.reason in NOT_FOUND:
            return None
        raise


__all__ = ["handle"]
