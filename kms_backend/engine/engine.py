"""The KMIP engine: batch processing (KMIP 2.1 §6.1 / 1.4 §7: items in order, ID Placeholder, Batch Error
Continuation Option, Unique Batch Item ID, Maximum Response Size) and dispatch to one handler per operation.

Requests of any protocol version 1.0-2.1 are translated to 2.1 payloads at the edge and responses back to the
request's version (``kmip.translate``). Every batch item runs in its own store transaction (Undo: one for the
whole batch), so a failed item leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import crypto
from ..kmip import _schema_data as S
from ..kmip import binary_codec, messages, registry, translate
from ..kmip._registry_data import (
    BatchErrorContinuationOption,
    Operation,
    ResultReason,
    ResultStatus,
)
from ..kmip.errors import KmipError
from ..kmip.mapper import to_tree
from ..kmip.registry import READ_AS_2_1, SUPPORTED_VERSIONS, V2_1, ProtocolVersion, answer_version
from ..kmip.schema import Struct
from ..kmip.ttlv import Item
from ..store.base import ObjectStore, StoreError
from . import asynchronous, templates
from .caches import EngineCaches
from .config import EngineConfig
from .context import BatchState, RequestContext
from .hot import HotObjects
from .keysource import KeySource
from .objects import ObjectSealer, RecordCodec
from .pkcs11 import Pkcs11Functions
from .plans import Plan, PlanCache

log = logging.getLogger("keystead.engine")
#: Result Statuses after which a Stop batch goes on to its next item.
_GOING_ON = frozenset({ResultStatus.SUCCESS, ResultStatus.OPERATION_PENDING})

Clock = Callable[[], float]


class _Undo(Exception):
    """Raised inside the Undo-mode transaction to roll back every item of the batch."""


class Engine:
    """Processes KMIP requests against an object store. Thread-safe (each call uses its own transactions)."""

    def __init__(
        self,
        store: ObjectStore,
        config: EngineConfig | None = None,
        *,
        clock: Clock = time.time,
        records: RecordCodec | None = None,
        hsm: KeySource | None = None,
        seal: ObjectSealer | None = None,
        unseal: ObjectSealer | None = None,
        forget: Callable[[str], None] | None = None,
        pkcs11: Pkcs11Functions | None = None,
    ) -> None:
        """``hsm``: the source of the keys that live outside the store (``hsm::`` keys); ``seal``/``unseal``: how
        stored key material is protected (an HSM key-encryption key); ``forget``: a layer's own cache of an
        object to clear with the engine's (``EngineCaches.also_forget``)."""
        from .handlers._streams import Streams
        from .router import EXECUTORS, PLANNED, ROUTES  # the handlers import this module's types

        self.store = store
        self.config = config or EngineConfig()
        self.clock = clock
        if records is None and seal is not None and unseal is not None:
            # Sealed key material: no decoded-record cache, which would keep it unsealed with no age limit and no
            # invalidation on Revoke; the sealer's own cache (bounded in size and age) is the one place it is kept.
            records = RecordCodec(seal, unseal, cache_size=0)
        self.records = records or RecordCodec()
        self.hsm = hsm
        self.routes = ROUTES
        self.executors = EXECUTORS
        self.planned = PLANNED
        #: Records and grants kept between requests, and reusable Plans of one-shot Encrypt/Decrypt/Sign and Get (both
        #: need a store that gives change stamps; ``hot_objects`` 0 turns both off).
        stamp = getattr(store, "change_stamp", None)
        hot = HotObjects(self.config.hot_objects) if self.config.hot_objects > 0 else None
        plans = PlanCache(stamp, clock) if hot is not None and stamp is not None else None
        self.caches = EngineCaches(self.records, hot, plans)
        if forget is not None:
            self.caches.also_forget(forget)
        if self.config.self_test:
            _power_on_self_tests()
        #: Streamed operations open across requests (Init/Final Indicator, Correlation Value).
        self.streams = Streams()
        #: Runs the functions of the KMIP PKCS#11 operation; wired by the server (``engine/pkcs11.py``).
        self.pkcs11 = pkcs11
        #: Items answered Operation Pending, for Poll and Cancel.
        self.asynchronous = asynchronous.AsynchronousOperations(clock)

    # -- whole messages -------------------------------------------------------------------------------------------
    def process_tree(self, request: Item, user: str) -> Item:
        """A Request Message tree in, a Response Message tree out; never raises for bad requests."""
        try:
            typed = messages.decode_request(request)
        except KmipError as exc:
            version: ProtocolVersion = (2, 1)
            with contextlib.suppress(KmipError):  # answered in the client's version when its header shows it
                version = messages.protocol_version(request)
            return to_tree(self.error_response(version, exc))
        return to_tree(self.process(typed, user))

    def process(self, request: messages.RequestMessage, user: str) -> messages.ResponseMessage:
        """Run every batch item of a typed Request Message and build the Response Message."""
        header = request.request_header
        pv = header.protocol_version
        version: ProtocolVersion = (int(pv.protocol_version_major or 0), int(pv.protocol_version_minor or 0))
        if version in READ_AS_2_1:
            answered = self.process(_as_version(request, V2_1), user)
            answered.response_header.protocol_version = pv
            return answered
        if version not in SUPPORTED_VERSIONS:
            return self.error_response(
                answer_version(version),
                KmipError(
                    ResultReason.UNSUPPORTED_PROTOCOL_VERSION,
                    f"protocol version {version[0]}.{version[1]} not supported",
                ),
            )
        items = request.batch_item
        if len(items) > self.config.max_batch_items:
            return self.error_response(
                version, KmipError(ResultReason.SERVER_LIMIT_EXCEEDED, "too many batch items in one request")
            )
        option = header.batch_error_continuation_option or BatchErrorContinuationOption.STOP
        batch = BatchState(asynchronous=header.asynchronous_indicator)
        if option == BatchErrorContinuationOption.UNDO and len(items) > 1:
            results = self._run_undo(items, user, version, batch)
        else:
            results = []
            for item in items:
                result = self._run_item(item, user, version, batch, None)
                results.append(result)
                if result.result_status not in _GOING_ON and option == BatchErrorContinuationOption.STOP:
                    break
        response: messages.ResponseMessage = self._response(version, results, header)
        if header.maximum_response_size is not None:
            response = self._limit_size(response, header.maximum_response_size, version)
        return response

    def _run_undo(self, items: list[Any], user: str, version: ProtocolVersion, batch: BatchState) -> list[Any]:
        results: list[Any] = []
        try:
            with self.store.transaction() as tx:
                for item in items:
                    result = self._run_item(item, user, version, batch, tx)
                    results.append(result)
                    if result.result_status != ResultStatus.SUCCESS:
                        raise _Undo
        except _Undo:
            for index, result in enumerate(results[:-1]):
                results[index] = self._batch_item(
                    version,
                    operation=result.operation,
                    unique_batch_item_id=result.unique_batch_item_id,
                    result_status=ResultStatus.OPERATION_UNDONE,
                    # what the undone operation had answered (the OASIS Baseline cases expect it kept)
                    response_payload=result.response_payload,
                )
        except StoreError:
            log.exception("store failure during an Undo batch")
            results = [
                self._failure(version, i, KmipError(ResultReason.GENERAL_FAILURE, "storage failure")) for i in items
            ]
        return results

    def _run_item(self, item: Any, user: str, version: ProtocolVersion, batch: BatchState, tx: Any) -> Any:
        operation = item.operation
        payload = item.request_payload
        batch.v1 = translate.V1Item.of(payload) if version[0] < 2 else None
        batch.answered_operation = None
        try:
            if isinstance(payload, Item) or operation not in self.routes:
                raise KmipError(
                    ResultReason.OPERATION_NOT_SUPPORTED, f"operation {_op_name(operation)} is not supported"
                )
            if version[0] < 2:
                payload = templates.resolve(self, payload, user, version, tx)  # 2.1 has no Templates
            request = translate.to_v2(payload) if version[0] < 2 else payload
            if tx is None and asynchronous.wanted(batch.asynchronous, operation, request):
                value = self.asynchronous.submit(
                    user, operation, lambda: self._run_detached(operation, request, payload, user, version)
                )
                if value is not None:
                    return self._batch_item(
                        version,
                        operation=operation,
                        unique_batch_item_id=item.unique_batch_item_id,
                        result_status=ResultStatus.OPERATION_PENDING,
                        asynchronous_correlation_value=value,
                    )
            response = self.run_operation(operation, request, user, version, batch=batch, tx=tx)
            if version[0] < 2:
                response = translate.response_to_v1(response, version, payload, batch.v1)
        except asynchronous.OperationPending as pending:
            return self._batch_item(
                version,
                operation=operation,
                unique_batch_item_id=item.unique_batch_item_id,
                result_status=ResultStatus.OPERATION_PENDING,
                asynchronous_correlation_value=pending.correlation_value,
            )
        except KmipError as exc:
            return self._failure(version, item, exc)
        except StoreError:
            log.exception("store failure in %s", _op_name(operation))
            return self._failure(version, item, KmipError(ResultReason.GENERAL_FAILURE, "storage failure"))
        except Exception:  # any other exception is a bug: log it, never leak its text
            log.exception("internal error in %s", _op_name(operation))
            return self._failure(version, item, KmipError(ResultReason.GENERAL_FAILURE, "internal server error"))
        return self._batch_item(
            version,
            # Poll answers with the polled operation's response, under that operation's name.
            operation=batch.answered_operation or operation,
            unique_batch_item_id=item.unique_batch_item_id,
            result_status=ResultStatus.SUCCESS,
            response_payload=response,
        )

    def _run_detached(
        self, operation: Operation, request: Struct, payload: Struct, user: str, version: ProtocolVersion
    ) -> Struct:
        """An item answered Pending, run on the asynchronous pool in its own transaction; its response in the
        request's version, which Poll returns."""
        batch = BatchState()
        if version[0] < 2:
            batch.v1 = translate.V1Item.of(payload)
        response = self.run_operation(operation, request, user, version, batch=batch)
        if version[0] < 2:
            response = translate.response_to_v1(response, version, payload, batch.v1)
        return response

    def run_operation(
        self,
        operation: Operation,
        request: Struct,
        user: str,
        version: ProtocolVersion = (2, 1),
        *,
        batch: BatchState | None = None,
        tx: Any = None,
    ) -> Struct:
        """Run one 2.1 operation payload for ``user`` in its own transaction (or in ``tx``); raises KmipError.

        This is also the entry point for a bare operation (HTTP ``/kmip/2_1`` without a Request Message) and for
        the in-process PKCS#11 backend.
        """
        plans = self.caches.plans
        if tx is None and plans is not None and operation in self.executors:
            plan = plans.find(operation, request, user, version)
            if plan is not None:  # the handler's own decision, kept: the same execute builds the response
                return self.executors[operation](plan, request, batch if batch is not None else BatchState())  # type: ignore[no-any-return]
        handler = self.routes.get(operation)
        if handler is None:
            raise KmipError(ResultReason.OPERATION_NOT_SUPPORTED, f"operation {_op_name(operation)} is not supported")
        batch = batch if batch is not None else BatchState()
        if tx is not None:
            ctx = RequestContext(self, tx, user, version, int(self.clock()), batch)
            response: Struct = handler(ctx, request)
            # Inside a caller's transaction (Undo batches): forgetting early is safe, it only costs a re-read.
            self._forget(ctx)
            return response
        saved = (batch.id_placeholder, list(batch.returned_uids))
        try:
            with self.store.transaction() as own_tx:
                ctx = RequestContext(self, own_tx, user, version, int(self.clock()), batch)
                response = handler(ctx, request)
        except BaseException:
            batch.id_placeholder, batch.returned_uids = saved[0], saved[1]
            raise
        self._forget(ctx)
        return response

    def plan(self, operation: Operation, request: Struct, user: str, version: ProtocolVersion = (2, 1)) -> Plan | None:
        """The reusable Plan of the one-shot Encrypt, Decrypt or Sign ``request`` describes (its Data, empty, IV
        and Additional Data aside), for an in-process caller that runs ``Plan.run`` itself (``plans`` module doc): the
        kept one, or one decided now as the handler would, without executing it. Deciding is done in a transaction
        that is rolled back, so that nothing (Usage Limits) is charged for a use that has not happened. A refusal
        (access, state, usage mask, parameters) raises the KmipError the request would get; None when the decision
        may not be reused (no change stamps, an HSM, Usage Limits, a wrapped key, a stream): send each request."""
        plans = self.caches.plans
        paths = self.planned.get(operation)
        if plans is None or paths is None or self.hsm is not None:
            return None
        kept = plans.find(operation, request, user, version)
        if kept is not None:
            return kept
        plan: Plan | None = None
        try:
            with self.store.transaction() as tx:
                ctx = RequestContext(self, tx, user, version, int(self.clock()), BatchState())
                plan = paths.decision(ctx, request)
                raise _Undo  # nothing of the decision is committed
        except _Undo:
            pass
        if plan is None or plan.stamp is None:
            return None
        plans.keep(plan, user, version)
        return plan

    def _forget(self, ctx: RequestContext) -> None:
        """Drop what the engine keeps of the objects the operation destroyed, revoked or replaced
        (``RequestContext.forget``)."""
        for uid in ctx.forgotten:
            self.caches.forget(uid)

    # -- building responses ---------------------------------------------------------------------------------------
    def _failure(self, version: ProtocolVersion, item: Any, exc: KmipError) -> Any:
        return self._batch_item(
            version,
            operation=getattr(item, "operation", None),
            unique_batch_item_id=getattr(item, "unique_batch_item_id", None),
            result_status=ResultStatus.OPERATION_FAILED,
            result_reason=reason_for_version(exc.reason, version),
            result_message=exc.message,
        )

    @staticmethod
    def _batch_item(version: ProtocolVersion, **fields: Any) -> Any:
        cls = S.ResponseBatchItemV1 if version[0] < 2 else S.ResponseBatchItem
        return cls(**fields)

    def _response(self, version: ProtocolVersion, results: list[Any], request_header: Any = None) -> Any:
        pv = S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1])
        client = server = None  # the request's correlation values, echoed
        if request_header is not None:
            client = request_header.client_correlation_value
            server = request_header.server_correlation_value
        if version[0] < 2:
            header_v1 = S.ResponseHeaderV1(
                protocol_version=pv,
                time_stamp=int(self.clock()),
                batch_count=len(results),
                client_correlation_value=client,
                server_correlation_value=server,
            )
            return S.ResponseMessageV1(response_header=header_v1, batch_item=results)
        header = S.ResponseHeader(
            protocol_version=pv,
            time_stamp=int(self.clock()),
            batch_count=len(results),
            client_correlation_value=client,
            server_correlation_value=server,
        )
        return S.ResponseMessage(response_header=header, batch_item=results)

    def error_response(self, version: ProtocolVersion, exc: KmipError) -> messages.ResponseMessage:
        """A one-item failure response for a request that could not be read."""
        return self._response(version, [self._failure(version, None, exc)])  # type: ignore[no-any-return]

    def _limit_size(self, response: Any, limit: int, version: ProtocolVersion) -> Any:
        size = binary_codec.encoded_length(to_tree(response))  # measured, not encoded: the edge encodes it once
        if size <= limit:
            return response
        results = [
            self._failure(
                version, item, KmipError(ResultReason.RESPONSE_TOO_LARGE, f"response of {size} bytes exceeds {limit}")
            )
            for item in response.batch_item
        ]
        return self._response(version, results)


#: Result Reasons that 2.x added, as the closest reason an older client knows (KMIP 1.x §9.1.3.2.29 values).
_OLDER_REASONS: dict[int, ResultReason] = {
    ResultReason.OBJECT_NOT_FOUND: ResultReason.ITEM_NOT_FOUND,
    ResultReason.ATTRIBUTE_NOT_FOUND: ResultReason.ITEM_NOT_FOUND,
    ResultReason.ATTRIBUTE_INSTANCE_NOT_FOUND: ResultReason.ITEM_NOT_FOUND,
    ResultReason.WRAPPING_OBJECT_NOT_FOUND: ResultReason.ITEM_NOT_FOUND,
    ResultReason.OBJECT_DESTROYED: ResultReason.ITEM_NOT_FOUND,
    ResultReason.WRAPPING_OBJECT_DESTROYED: ResultReason.ITEM_NOT_FOUND,
    ResultReason.READ_ONLY_ATTRIBUTE: ResultReason.PERMISSION_DENIED,
    ResultReason.ATTRIBUTE_READ_ONLY: ResultReason.PERMISSION_DENIED,
    ResultReason.NOT_AUTHORISED: ResultReason.PERMISSION_DENIED,
    ResultReason.WRONG_KEY_LIFECYCLE_STATE: ResultReason.PERMISSION_DENIED,
    ResultReason.INCOMPATIBLE_CRYPTOGRAPHIC_USAGE_MASK: ResultReason.PERMISSION_DENIED,
    ResultReason.BAD_CRYPTOGRAPHIC_PARAMETERS: ResultReason.CRYPTOGRAPHIC_FAILURE,
    ResultReason.UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS: ResultReason.CRYPTOGRAPHIC_FAILURE,
    ResultReason.UNSUPPORTED_PROTOCOL_VERSION: ResultReason.INVALID_MESSAGE,
    ResultReason.CODEC_ERROR: ResultReason.INVALID_MESSAGE,
    ResultReason.WRAPPING_OBJECT_ARCHIVED: ResultReason.OBJECT_ARCHIVED,
    ResultReason.INTERNAL_SERVER_ERROR: ResultReason.GENERAL_FAILURE,
    ResultReason.SERVER_LIMIT_EXCEEDED: ResultReason.GENERAL_FAILURE,
    ResultReason.PROTECTION_STORAGE_UNAVAILABLE: ResultReason.GENERAL_FAILURE,
}
_REASONS = registry.enumeration("Result Reason")


_SELF_TESTED = False


def _power_on_self_tests() -> None:
    """Known-answer self tests of the crypto layer (KMIP servers' FIPS 140-3 style power-on tests), once per
    process; a failure raises KmipError, so no engine starts on a broken crypto layer."""
    global _SELF_TESTED
    if not _SELF_TESTED:
        seconds = crypto.run_self_tests()
        log.debug("crypto self tests passed in %.1f ms", seconds * 1000)
        _SELF_TESTED = True


def reason_for_version(reason: ResultReason, version: ProtocolVersion) -> int:
    """``reason`` if ``version`` defines it, else the closest older reason (Invalid Field for attribute and value
    errors), so that 1.x clients never see a number their version does not know."""
    info = _REASONS.by_value.get(int(reason))
    if info is None or info.defined_in(version):
        return reason
    older = _OLDER_REASONS.get(reason, ResultReason.INVALID_FIELD)
    older_info = _REASONS.by_value.get(int(older))
    if older_info is not None and not older_info.defined_in(version):
        return ResultReason.GENERAL_FAILURE
    return older


def _op_name(operation: Any) -> str:
    try:
        return Operation(operation).name
    except ValueError:
        return str(operation)


def _as_version(request: messages.RequestMessage, version: ProtocolVersion) -> messages.RequestMessage:
    """``request`` with its header's Protocol Version replaced (KMIP 3.0 messages are run as 2.1)."""
    header: Any = dataclasses.replace(
        request.request_header,
        protocol_version=S.ProtocolVersion(protocol_version_major=version[0], protocol_version_minor=version[1]),
    )
    return dataclasses.replace(request, request_header=header)


__all__ = ["Engine"]
