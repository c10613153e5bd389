"""Plans: the decision a one-shot Encrypt, Decrypt or Sign handler (and the Get handler) makes, as a value, and the
cache of them.

Those handlers are split in two (STYLE rule 13):

* ``decide(ctx, request) -> Plan`` does everything that needs the store: access control, lifecycle state, usage
  mask and Usage Limits, parameter merging and validation, and the resolved cipher (``crypto.prepare_*``); for
  Get, access and the object as exported (Key Format Type converted, Sensitive and Extractable enforced);
* ``execute(plan, request, batch) -> response`` runs the cipher on the request's data and builds the response
  (Get: the response carrying the exported object).

The handler runs both. A client that encrypts with one key over and over (the PKCS#11 provider's C_Encrypt, a
database's TDE master key) asks for the same decision each time, so the handler also hands its Plan to the
engine's ``PlanCache``; the engine, meeting the same request again, runs the same ``execute`` on the kept Plan
without a transaction (``router.EXECUTORS``). Every response is thus built in one place; the cache holds
decisions, never answers. The one caller that runs a Plan itself is the PKCS#11 provider's in-process backend,
which has no response to build: ``Engine.plan`` hands it the decision (kept, or decided without executing) and it
calls ``Plan.run`` for each C_Encrypt / C_Decrypt / C_Sign of an operation, checking at each C_*Init that the Plan
is still ``PlanCache.current``. A kept Plan is valid only

* under the store's change stamp it was decided under (``StoreTransaction.change_stamp``): any commit anywhere —
  a Revoke, a Destroy, a grant withdrawn, an attribute changed, by this process or another one sharing the
  database — ends every Plan at once;
* before the object's first date still in the future (Activation, Deactivation, Process Start, Protect Stop...):
  a Plan never outlives a state change that time alone would bring;
* for the same :func:`decision_key` and the same :func:`requested` by value (Cryptographic Parameters; for Get, Key
  Format Type and Key Compression Type).

A Plan is kept only when nothing else can differ between two such requests: the request is :func:`plain` (a Get
asks for no wrapping), names the
object by its Unique Identifier (no placeholder or tag list), the key has no Usage Limits (each use is then a
write) and is not stored wrapped (its use needs the wrapping key), the engine has no HSM, and the transaction
that decided it wrote nothing.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..kmip import _schema_data as S
from ..kmip import bulk_data
from ..kmip._registry_data import Operation, Tag
from ..kmip.registry import ProtocolVersion
from ..kmip.schema import Attributes
from .keymaterial import legacy_defaults
from .lifecycle import key_block
from .objects import DATE_TAGS, ManagedObject

if TYPE_CHECKING:
    from .context import BatchState, RequestContext

#: Plans kept at most (oldest dropped first) and parameter variants per decision key.
MAX_PLANS = 4096
_VARIANTS = 4
NEVER = 1 << 62

StampSource = Callable[[], Hashable | None]


@dataclass(frozen=True, slots=True)
class Plan:
    """A decided one-shot Encrypt, Decrypt or Sign on object ``uid``; ``run`` is the prepared cipher
    (``crypto.prepare_encrypt`` / ``prepare_decrypt`` / ``prepare_sign``); for Get, the object as exported."""

    operation: Operation
    uid: str
    run: Any
    #: the store's stamp the decision was made under; None: it may not be reused
    stamp: Hashable | None = None
    #: the time the decision ends (the object's next date)
    until: int = NEVER
    #: a snapshot of what the request asked for beyond the object (compared by value): its Cryptographic Parameters;
    #: for Get, its Key Format Type and Key Compression Type (``requested``)
    requested: Any = None


Executor = Callable[[Plan, Any, "BatchState"], Any]


def plain(request: Any) -> bool:
    """Whether an Encrypt, Decrypt or Sign request is answered by one Plan: it stands alone (no Correlation Value,
    Init or Final Indicator) and its Data is not Cosmian bulk data. The handlers use this same test. A Get is plain
    when it asks for no wrapping (a wrapped export needs the wrapping key, whose own state may change)."""
    if isinstance(request, S.GetRequest):
        return request.key_wrapping_specification is None
    if request.correlation_value is not None or request.init_indicator or request.final_indicator:
        return False
    return bulk_data.parse(getattr(request, "data", None)) is None


def requested(request: Any) -> Any:
    """What a request asks for beyond its object, as a snapshot compared by value: a Get's Key Format Type and Key
    Compression Type, the others' Cryptographic Parameters (a copy: a caller may change its object between calls)."""
    if isinstance(request, S.GetRequest):
        return (request.key_format_type, request.key_compression_type)
    return copy.copy(request.cryptographic_parameters)


def decision_key(operation: int, uid: str, user: str, version: ProtocolVersion) -> Hashable:
    """What a decision depends on besides the store (its stamp), time (its end) and the request's Cryptographic
    Parameters: the operation, the object, the user (access control), and whether the client speaks KMIP 1.x
    (``keymaterial.legacy_defaults``: the parameters a request without any resolves to)."""
    return (int(operation), uid, user, legacy_defaults(version))


def decided(ctx: RequestContext, operation: Operation, request: Any, mo: ManagedObject, run: Any) -> Plan:
    """The Plan of a decision on ``mo`` made in ``ctx``; it carries a stamp (may be reused) only when nothing but
    the store and time can change it (module doc)."""
    stamp = _reuse_stamp(ctx, request, mo)
    if stamp is None:
        return Plan(operation, mo.uid, run)
    until = _first_future_date(mo.attributes, ctx.now)
    return Plan(operation, mo.uid, run, stamp, until, requested(request))


def answer(
    ctx: RequestContext,
    request: Any,
    decide: Callable[[RequestContext, Any], Plan],
    execute: Executor,
) -> Any:
    """What a handler does with a one-shot request: decide, execute the Plan, and keep it when it may be reused."""
    plan = decide(ctx, request)
    response = execute(plan, request, ctx.batch)
    ctx.engine.caches.keep_plan(plan, ctx.user, ctx.version)
    return response


def _reuse_stamp(ctx: RequestContext, request: Any, mo: ManagedObject) -> Hashable | None:
    if ctx.engine.caches.plans is None or ctx.engine.hsm is not None or not plain(request):
        return None
    uid = request.unique_identifier
    if type(uid) is not str or uid != mo.uid or Tag.USAGE_LIMITS in mo.attributes:
        return None
    block = key_block(mo.object)
    if block is None or block.key_wrapping_data is not None:
        return None
    return ctx.tx.change_stamp()


class PlanCache:
    """The reusable Plans of one engine; thread-safe (entries are replaced whole)."""

    def __init__(self, stamp: StampSource, clock: Callable[[], float]) -> None:
        self._stamp = stamp
        self._clock = clock
        self._plans: dict[Hashable, tuple[Plan, ...]] = {}
        self._lock = threading.Lock()

    def find(self, operation: Operation, request: Any, user: str, version: ProtocolVersion) -> Plan | None:
        """The kept Plan that decides ``request`` for ``user`` now, or None (then the handler must decide)."""
        uid = request.unique_identifier
        if type(uid) is not str:
            return None
        key = decision_key(operation, uid, user, version)
        variants = self._plans.get(key)
        if variants is None or not plain(request):
            return None
        wanted = (
            (request.key_format_type, request.key_compression_type)
            if operation == Operation.GET
            else request.cryptographic_parameters
        )
        for plan in variants:
            if plan.requested == wanted:  # by value: a caller may change its parameters object between calls
                break
        else:
            return None
        if self._clock() >= plan.until:
            return None
        if self._stamp() != plan.stamp:
            self._plans.pop(key, None)  # decided under a state that is gone: never valid again
            return None
        return plan

    def current(self, plan: Plan) -> bool:
        """Whether a reusable Plan still decides its requests now: the store's stamp is the one it was decided
        under and none of the object's dates has come (what ``find`` checks once it has found a Plan)."""
        return plan.stamp is not None and self._clock() < plan.until and self._stamp() == plan.stamp

    def keep(self, plan: Plan, user: str, version: ProtocolVersion) -> None:
        """Keep a reusable Plan (one with a stamp) decided for ``user``; others are ignored."""
        if plan.stamp is None:
            return
        key = decision_key(plan.operation, plan.uid, user, version)
        with self._lock:
            kept = tuple(p for p in self._plans.get(key, ()) if p.stamp == plan.stamp and p.requested != plan.requested)
            if key not in self._plans and len(self._plans) >= MAX_PLANS:
                del self._plans[next(iter(self._plans))]
            self._plans[key] = (plan, *kept[: _VARIANTS - 1])

    def forget(self, uid: str) -> None:
        """Drop every Plan on ``uid``."""
        with self._lock:
            for key in [k for k, plans in self._plans.items() if plans[0].uid == uid]:
                del self._plans[key]

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)


def _first_future_date(attributes: Attributes, now: int) -> int:
    """The earliest date attribute of the object after ``now`` (a Plan's end), or practically never."""
    dates = (v for tag in DATE_TAGS if isinstance(v := attributes.get(tag), int) and v > now)
    return min(dates, default=NEVER)


__all__ = [
    "MAX_PLANS",
    "NEVER",
    "Executor",
    "Plan",
    "PlanCache",
    "answer",
    "decided",
    "decision_key",
    "plain",
    "requested",
]
