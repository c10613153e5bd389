"""When a managed key may be used, and for what: its lifecycle state and dates, its usage mask and Usage Limits, and
the kind of key an operation needs; loading a key for an operation checks them all in one order.

Lifecycle (KMIP 2.1 §4.57 State): an Active object may be used for every cryptographic purpose. A Deactivated
object "SHALL NOT be used for applying cryptographic protection … but may be used to process cryptographically-
protected information (e.g., decryption, signature verification, unwrapping, MAC verification)"; a Compromised
object may likewise only *process*, "in a client that is trusted to use managed objects that have been
compromised". The server cannot tell a trusted client from another, so access control is that trust: the owner,
or a user granted the operation, may Decrypt / Signature Verify / MAC Verify with a Deactivated or Compromised key;
every protecting operation (Encrypt, Sign, MAC, Derive Key) needs Active. Pre-Active and Destroyed objects do
nothing. Protect Stop Date (§4.50) and Process Start Date (§4.48) narrow the window further.

Failures carry the precise Result Reason: Wrong Key Lifecycle State, Incompatible Cryptographic Usage Mask
(§4.19: the mask lacks the operation's bit), Invalid Object Type (a key of the wrong kind: a public key for
Decrypt, an RSA key with AES parameters), and whatever the crypto layer reports for bad parameters or data.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...kmip import _schema_data as S
from ...kmip._registry_data import (
    CryptographicUsageMask,
    Operation,
    ResultReason,
    State,
    Tag,
    UsageLimitsUnit,
    ValidityIndicator,
)
from ...kmip.errors import KmipError
from .. import keymaterial
from ..context import RequestContext
from ..keyformats import unwrap_object
from ..keymaterial import Key, KeyKind
from ..lifecycle import key_block, mask_allows
from ..objects import STORAGE_ARCHIVED, ManagedObject

U = CryptographicUsageMask

#: States in which a key may apply protection (Encrypt, Sign, MAC, Derive Key) and process protected data.
PROTECT_STATES = frozenset({State.ACTIVE})
PROCESS_STATES = frozenset({State.ACTIVE, State.DEACTIVATED, State.COMPROMISED})


# -- key material ----------------------------------------------------------------------------------------------


def key_of(mo: ManagedObject, ctx: RequestContext | None = None) -> Key:
    """The key material of ``mo`` (see ``keymaterial.key_of``); a key stored wrapped under another KMS key is
    unwrapped for this use only (the requester needs Decrypt on the wrapping key, as for Import) and stays wrapped
    in the store."""
    block = key_block(mo.object)
    if block is not None and block.key_wrapping_data is not None and ctx is not None and mo.object is not None:
        return keymaterial.key_of(mo, unwrap_object(ctx, mo.object))
    return keymaterial.key_of(mo)


# -- access, lifecycle and usage -------------------------------------------------------------------------------


def check_usable(mo: ManagedObject, now: int, *, process: bool) -> None:
    """Raise unless ``mo`` may be used now to protect (``process`` False) or to process (True); see module doc."""
    if mo.storage_status & STORAGE_ARCHIVED:
        raise KmipError(ResultReason.OBJECT_ARCHIVED, f"object {mo.uid} is archived")
    allowed = PROCESS_STATES if process else PROTECT_STATES
    state = mo.state
    if state not in allowed or mo.object is None:
        what = "process data with" if process else "apply protection with"
        raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"cannot {what} object {mo.uid} in state {state.name}")
    if process:
        start = mo.attributes.get(Tag.PROCESS_START_DATE)
        if isinstance(start, int) and now < start:
            raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"object {mo.uid}: Process Start Date not reached")
    else:
        stop = mo.attributes.get(Tag.PROTECT_STOP_DATE)
        if isinstance(stop, int) and now >= stop:
            raise KmipError(ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"object {mo.uid}: Protect Stop Date passed")


def check_usage(mo: ManagedObject, *bits: int) -> None:
    """Incompatible Cryptographic Usage Mask unless the object's mask has one of ``bits`` (KMIP 2.1 §4.19)."""
    mask = mo.attributes.get(Tag.CRYPTOGRAPHIC_USAGE_MASK)
    if mask is None or mask_allows(int(mask), *bits):
        return
    names = "/".join(U(bit).name or str(bit) for bit in bits)
    raise KmipError(
        ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK, f"the usage mask of object {mo.uid} does not allow {names}"
    )


def load_key(
    ctx: RequestContext,
    uid: Any,
    operation: Operation,
    *usage: int,
    kinds: tuple[KeyKind, ...],
    process: bool = False,
    update: bool = False,
) -> tuple[ManagedObject, Key]:
    """Load ``uid`` for ``operation`` (access control in ``ctx.load``), check its state, that it is a key of one
    of ``kinds`` (Invalid Object Type), then its usage mask, and read the key — in that order, so the reason given
    is the most fundamental one (a public key asked to Decrypt is the wrong object, not the wrong mask).

    Sensitive and non-extractable keys are used like any other: those flags govern Get/Export, not use inside the
    server (KMIP 2.1 §4.55, §4.23).
    """
    mo = ctx.load(uid, operation, for_update=update)
    check_usable(mo, ctx.now, process=process)
    key = key_of(mo, ctx)
    require_kind(key, mo, *kinds, what=Operation(operation).name.replace("_", " ").title())
    if usage:
        check_usage(mo, *usage)
    return mo, key


def validity(valid: bool) -> ValidityIndicator:
    """The Validity Indicator of a Signature Verify / MAC Verify outcome (KMIP 2.1 §11.63)."""
    return ValidityIndicator.VALID if valid else ValidityIndicator.INVALID


def consume_usage(ctx: RequestContext, mo: ManagedObject, data_length: int) -> None:
    """Charge one protecting use against the object's Usage Limits (KMIP 2.1 §4.59): ``data_length`` bytes when
    the unit is Byte, one when it is Object. The remaining Usage Limits Count is kept with the object; a use that
    would exceed it is refused with Permission Denied (the reason the OASIS CS-BC-M-7 test case expects) and
    charges nothing."""
    limits = mo.attributes.get(Tag.USAGE_LIMITS)
    if not isinstance(limits, S.UsageLimits):
        return
    remaining = limits.usage_limits_count if limits.usage_limits_count is not None else limits.usage_limits_total
    needed = data_length if limits.usage_limits_unit == UsageLimitsUnit.BYTE else 1
    if needed > remaining:
        raise KmipError(ResultReason.PERMISSION_DENIED, f"object {mo.uid} has reached its Usage Limits")
    mo.attributes.set(Tag.USAGE_LIMITS, replace(limits, usage_limits_count=remaining - needed))
    ctx.save(mo, touch=False)


def require_kind(key: Key, mo: ManagedObject, *kinds: KeyKind, what: str) -> None:
    if key.kind not in kinds:
        raise KmipError(
            ResultReason.INVALID_OBJECT_TYPE, f"{what} needs a {' or '.join(kinds)} key; object {mo.uid} is {key.kind}"
        )


def inherit_protection(attrs: Any, *sources: ManagedObject) -> None:
    """Objects made from other keys (Derive Key, Create/Join Split Key) are at least as protected as their sources:
    Sensitive if any source is, not Extractable if any source is not — unless the request says otherwise."""
    if Tag.SENSITIVE not in attrs and any(mo.attributes.get(Tag.SENSITIVE, False) for mo in sources):
        attrs.set(Tag.SENSITIVE, True)
    if Tag.EXTRACTABLE not in attrs and any(not mo.attributes.get(Tag.EXTRACTABLE, True) for mo in sources):
        attrs.set(Tag.EXTRACTABLE, False)


__all__ = [
    "PROCESS_STATES",
    "PROTECT_STATES",
    "U",
    "check_usable",
    "check_usage",
    "consume_usage",
    "inherit_protection",
    "key_of",
    "load_key",
    "require_kind",
    "validity",
]
