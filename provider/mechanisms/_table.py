"""The token's mechanisms, gathered from the family modules, and the lookups every C_*Init makes."""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S

from ..constants import Mechanism, MechanismFlag, ReturnValue
from ..errors import CkError
from . import aes, des, dh, digest, dsa, ec, hmac, pqc, rsa
from ._base import CipherPlan, CStruct, MechanismParameter, MechanismSpec, SignaturePlan

#: The family modules, in the order C_GetMechanismList reports them. A new family is one module added here.
FAMILIES = (aes, des, hmac, rsa, dsa, dh, ec, pqc, digest)

MECHANISMS: dict[Mechanism, MechanismSpec] = {}
for _family in FAMILIES:
    _clash = MECHANISMS.keys() & _family.MECHANISMS.keys()
    assert not _clash, f"{_family.__name__} registers {_clash} again"
    MECHANISMS.update(_family.MECHANISMS)

#: CKM value → the C layouts its pParameter may have, by size (only mechanisms with structured parameters).
PARAMETER_LAYOUTS: dict[int, dict[int, CStruct]] = {
    int(kind): {layout.size: layout for layout in spec.parameter} for kind, spec in MECHANISMS.items() if spec.parameter
}

_LOOKED_UP: dict[tuple[int, int], tuple[Mechanism, MechanismSpec]] = {}


def lookup(mechanism: int, flag: MechanismFlag) -> tuple[Mechanism, MechanismSpec]:
    """The mechanism and its row, if it is offered for ``flag`` (CKR_MECHANISM_INVALID otherwise)."""
    found = _LOOKED_UP.get((mechanism, flag))
    if found is not None:
        return found
    try:
        kind = Mechanism(mechanism)
        spec = MECHANISMS[kind]
    except (ValueError, KeyError):
        raise CkError(ReturnValue.MECHANISM_INVALID, f"mechanism 0x{mechanism:x} is not supported") from None
    if not spec.flags & flag:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} cannot be used for {flag.name}")
    _LOOKED_UP[mechanism, flag] = kind, spec  # only offered mechanisms: a bounded table
    return kind, spec


def cipher_plan(kind: Mechanism, parameter: MechanismParameter) -> CipherPlan:
    """The KMIP view of a cipher mechanism and its parameter (CKR_MECHANISM_PARAM_INVALID for a bad one)."""
    planner = MECHANISMS[kind].cipher
    if planner is None:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} is not a cipher")
    return planner(parameter)


def signature_plan(kind: Mechanism, parameter: MechanismParameter) -> SignaturePlan:
    """The KMIP view of a signature or MAC mechanism and its parameter."""
    planner = MECHANISMS[kind].signature
    if planner is None:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} does not sign")
    return planner(parameter)


def wrap_parameters(kind: Mechanism, parameter: MechanismParameter) -> S.CryptographicParameters:
    """The Cryptographic Parameters of the Key Wrapping Specification / Key Wrapping Data for a wrap mechanism."""
    planner = MECHANISMS[kind].wrap
    if planner is None:
        raise CkError(ReturnValue.MECHANISM_INVALID, f"{kind.name} does not wrap keys")
    return planner(parameter)


__all__ = ["FAMILIES", "MECHANISMS", "PARAMETER_LAYOUTS", "cipher_plan", "lookup", "signature_plan", "wrap_parameters"]
