"""Create Key Pair (KMIP 2.1 §6.1.9): RSA, EC (P-curves, secp256k1, X25519/X448), EdDSA, ML-KEM, ML-DSA, DSA and
Diffie-Hellman (on the domain parameters of a ``_keypairs.domain_parameters`` vendor attribute)."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ..context import RequestContext
from . import _hsm_keys
from ._keypairs import create_pair, key_pair_parameters, merged_attributes


def handle(ctx: RequestContext, request: S.CreateKeyPairRequest) -> S.CreateKeyPairResponse:
    hsm = _hsm_keys.created(ctx, request.private_key_attributes, request.common_attributes)
    if hsm is not None:  # a key pair made in the HSM
        return _hsm_keys.create_key_pair(ctx, *hsm, request)
    ctx.check_create()
    private_attrs = merged_attributes(request.common_attributes, request.private_key_attributes)
    public_attrs = merged_attributes(request.common_attributes, request.public_key_attributes)
    private, public = create_pair(ctx, private_attrs, public_attrs, key_pair_parameters(private_attrs))
    # The ID Placeholder designates the private key (§6.1.9); both uids count for Integer references.
    ctx.returned(private.uid)
    ctx.returned(public.uid, placeholder=False)
    return S.CreateKeyPairResponse(private_key_unique_identifier=private.uid, public_key_unique_identifier=public.uid)


__all__ = ["handle"]
