"""What the cryptographic functions (§5.8-5.12) share: the key check of every C_*Init, the active-operation slot
of a session, and the §5.2 rule for output lengths.

§5.2: a call with a NULL output buffer asks for the length and leaves the operation active, as does a buffer that
is too small (CKR_BUFFER_TOO_SMALL). The work is done once: its output is kept with the input that produced it
and handed out by the next call with the same input, so a KMS call (and its random IV or nonce, or the state of a
KMIP stream) never happens twice for one logical call. The output of a single-part call (C_Encrypt, C_Decrypt,
C_Sign) is also offered to the library's ``outputs`` (the C shim's table, ``Library.KeptOutputs``), whose entry
point then hands it over itself when the second call is the one it was kept for, ending the operation there; the
provider takes the copy back before it looks at the operation again (``active``, ``start``) and so learns whether
the operation has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kms_backend.engine.plans import Plan
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation as KmipOperation
from kms_backend.kmip.errors import KmipError

from .constants import Attribute, KeyType, ObjectClass, ReturnValue
from .errors import CkError, ckr_for_reason
from .library import KeptOutputs, Library, ObjectView, Session
from .mechanisms import MechanismSpec
from .objects import object_view
from .session_objects import HeldKey


@dataclass(slots=True)
class Operation:
    """State every active operation has: the key, and the output kept for a length query."""

    uid: str
    view: ObjectView | None
    #: (input, output) of a call whose output has not been handed out yet.
    pending: tuple[bytes, bytes] | None = None
    #: True once a multi-part call (Update) was made: single-part calls are then refused.
    multi: bool = False
    #: Where a copy of ``pending`` is offered to the entry point of the next call (``offer``), until taken back.
    offered: KeptOutputs | None = None
    #: That copy's ticket.
    ticket: int = 0


def start(lib: Library, session_handle: int, kind: str) -> Session:
    """The session, with no ``kind`` operation active (CKR_OPERATION_ACTIVE otherwise)."""
    session = lib.session(session_handle)
    op: Any = session.operations.get(kind)
    if op is not None and not (op.offered is not None and _handed_over(session, kind, op)):
        raise CkError(ReturnValue.OPERATION_ACTIVE)
    return session


_KEY_TYPE = Attribute.KEY_TYPE


def key_for(
    lib: Library,
    key_handle: int,
    spec: MechanismSpec,
    classes: tuple[ObjectClass, ...],
    usage: Attribute,
    *,
    invalid: ReturnValue = ReturnValue.KEY_HANDLE_INVALID,
) -> ObjectView:
    """The key of a C_*Init: visible (``invalid`` otherwise), of a class and type the mechanism takes
    (CKR_KEY_TYPE_INCONSISTENT), allowed to do ``usage`` (CKR_KEY_FUNCTION_NOT_PERMITTED)."""
    try:
        view = object_view(lib, key_handle)
    except CkError as exc:
        if exc.rv == ReturnValue.OBJECT_HANDLE_INVALID:
            raise CkError(invalid) from None
        raise
    if view.object_class not in classes:
        raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, f"a {view.object_class.name} cannot be used here")
    values = view.values
    key_type = values.get(_KEY_TYPE)
    if spec.key_types and key_type not in spec.key_types:
        name = KeyType(key_type).name if isinstance(key_type, int) and key_type in set(KeyType) else str(key_type)
        raise CkError(ReturnValue.KEY_TYPE_INCONSISTENT, f"the mechanism does not take {name} keys")
    if not values.get(usage, False):
        raise CkError(ReturnValue.KEY_FUNCTION_NOT_PERMITTED, f"CKA_{usage.name} is false")
    return view


def decided(lib: Library, operation: KmipOperation, uid: str, parameters: S.CryptographicParameters) -> Plan | None:
    """The KMS's decision on using key ``uid`` (``Library.plan``), asked at C_*Init so that a key revoked, destroyed
    or changed since the last use (by any process sharing the store) is refused there; None: each call will be a
    request. A key gone meanwhile is CKR_KEY_HANDLE_INVALID, as ``key_for`` answers."""
    try:
        return lib.plan(operation, uid, parameters)
    except CkError as exc:
        if exc.rv == ReturnValue.OBJECT_HANDLE_INVALID:
            raise CkError(ReturnValue.KEY_HANDLE_INVALID, exc.message) from None
        raise


@dataclass(slots=True)
class InitDecision:
    """What a C_*Init decided (its checks passed): the key and the mechanism's plan, and the KMS's decision, kept
    on the session (``Session.inits``) with what it was asked for and what it holds under, so that the same C_*Init
    again (an application encrypting message after message) checks that nothing it depends on changed
    (``InitDecision.current``) instead of deciding again. The operation each C_*Init starts is built from it the
    same way either way."""

    mechanism: int
    parameter: Any
    key_handle: int
    view: ObjectView
    #: The mechanism's plan (``CipherPlan``...), never changed once built.
    plan: Any
    #: The KMS's decision (``decided``); None: each call is a request.
    direct: Plan | None
    operation: KmipOperation
    #: The login state it was decided in (which objects are visible).
    login: Any
    #: A held key: the key and its ``generation`` then; None for a KMS object.
    held: HeldKey | None
    generation: int

    def current(self, lib: Library, mechanism: int, parameter: Any, key_handle: int) -> bool:
        """Whether this decision answers a C_*Init with these arguments now: the same arguments (the parameter by
        value), the same login state, and the key unchanged: a held key's ``generation`` (C_SetAttributeValue,
        C_DestroyObject, the session's end), a KMS object's cached view (changes made here, or its time to live)
        and the KMS's decision (``decided``: the store's change stamp, so a key revoked, destroyed or changed by
        any process is decided again, and refused as before)."""
        if (
            self.key_handle != key_handle
            or self.mechanism != mechanism
            or self.login is not lib.login
            or self.parameter != parameter
        ):
            return False
        held = self.held
        if held is not None:
            return held.generation == self.generation
        view = self.view
        return (
            lib.cache.get(view.uid) is view
            and decided(lib, self.operation, view.uid, self.plan.parameters) is self.direct
        )


def run_plan(plan: Plan, *args: Any) -> Any:
    """``plan.run(*args)``: the KMS's cipher or signature on a Plan the backend handed out (``Library.plan``),
    its KMIP failures as the CkError the request would have got."""
    try:
        return plan.run(*args)
    except KmipError as exc:
        raise CkError(ckr_for_reason(exc.reason), exc.message) from None


def active(session: Session, kind: str, cls: type[Any]) -> Any:
    """The session's active ``kind`` operation (CKR_OPERATION_NOT_INITIALIZED if none)."""
    op = session.operations.get(kind)
    if op is None or not isinstance(op, cls) or (op.offered is not None and _handed_over(session, kind, op)):
        raise CkError(ReturnValue.OPERATION_NOT_INITIALIZED)
    return op


def _handed_over(session: Session, kind: str, op: Operation) -> bool:
    """Take back the copy of ``op``'s kept output offered to the entry point; True if the entry point had handed it
    over, which ended the operation (it is ended here too). A copy known to be handed over is left to be replaced
    by the session's next copy of the kind, or forgotten with the session."""
    outputs, op.offered = op.offered, None
    if outputs is None or not (outputs.handed_over(op.ticket) or outputs.take(session.handle, kind)):
        return False
    op.pending = None
    if session.operations.get(kind) is op:
        del session.operations[kind]
    return True


def offer(lib: Library, session: Session, kind: str, op: Operation) -> None:
    """After a single-part call that kept its output (a length query, or too small a buffer): offer a copy to the
    entry point of the next call (``Library.outputs``)."""
    outputs = lib.outputs
    pending = op.pending
    if outputs is None or pending is None:
        return
    ticket = outputs.keep(session.handle, kind, pending[0], pending[1])
    if not ticket:
        return
    op.offered, op.ticket = outputs, ticket
    # Another thread may have closed the session or ended its operations meanwhile, and forgotten its copies before
    # this one was kept (each does so after changing the state checked here): no entry point may serve it then.
    if lib.sessions.get(session.handle) is not session or session.operations.get(kind) is not op:
        op.offered = None
        outputs.take(session.handle, kind)


def deliver(op: Operation, data: bytes, output: bytes, capacity: int | None) -> bytes:
    """Hand out ``output`` of a call on ``data``: kept for the next call when the caller only asked for the length
    or gave too small a buffer; otherwise handed over (the caller ends the operation if the call was final)."""
    if capacity is None or capacity < len(output):
        op.pending = (data, output)
    else:
        op.pending = None
    return output


def kept(op: Operation, data: bytes, capacity: int | None) -> bytes | None:
    """The output kept from an earlier length query with the same input, if any. Once it is handed over (the
    buffer is large enough) it is forgotten: the next call with equal input — two identical parts of a
    multi-part operation — is new work, not a repeat."""
    pending = op.pending
    if pending is not None and pending[0] == data:
        if capacity is not None and capacity >= len(pending[1]):
            op.pending = None
        return pending[1]
    return None


def finished(session: Session, kind: str, output: bytes, capacity: int | None) -> None:
    """End the operation after a final call that handed its output over."""
    if capacity is not None and capacity >= len(output):
        session.operations.pop(kind, None)


__all__ = [
    "InitDecision",
    "Operation",
    "active",
    "decided",
    "deliver",
    "finished",
    "kept",
    "key_for",
    "offer",
    "run_plan",
    "start",
]
