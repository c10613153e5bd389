"""The audit log: one JSON line per KMIP operation (and access-rights change) answered on any transport.

Each line holds ``time`` (UTC, ISO 8601 with milliseconds), ``transport`` (``kmip`` for port 5696, ``http``),
``client`` (the peer address), ``user``, ``operation`` (KMIP spelling: ``Get``, ``CreateKeyPair``; ``Grant`` and
``Revoke`` for ``/access``), ``object`` (the Unique Identifier acted on, when there is one), ``result``
(``success``, ``failure``, ``pending``) and ``reason`` (the Result Reason of a failure). Lines are built from the
request's and the response's identifiers and enumerations only: no payload, attribute value or key material ever
reaches this module.

Writes are single ``write(2)`` calls on a file opened with O_APPEND, so lines from several threads or worker
processes never interleave. ``fail_closed``: a line that cannot be written fails the request (its result withheld)
and, until the log can be written again, requests are refused before they run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..kmip import json_codec
from ..kmip._registry_data import ItemType, ResultStatus, Tag
from ..kmip.ttlv import Item

log = logging.getLogger("keystead.audit")

#: Where a uid is found in a request or response payload, in order of preference.
_UID_TAGS = (
    Tag.UNIQUE_IDENTIFIER,
    Tag.PRIVATE_KEY_UNIQUE_IDENTIFIER,
    Tag.REPLACED_UNIQUE_IDENTIFIER,
)
_RESULTS = {ResultStatus.SUCCESS: "success", ResultStatus.OPERATION_PENDING: "pending"}


class AuditError(Exception):
    """The audit line could not be written (fail-closed mode refuses the request)."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One operation as the audit log records it."""

    operation: str
    object: str | None
    result: str
    reason: str | None = None


def _enum_text(tag: int, value: int) -> str:
    return str(json_codec.encode_obj(Item(tag, ItemType.ENUMERATION, int(value)))["value"])


def _uid_in(payload: Item | None) -> str | None:
    if payload is None or payload.type != ItemType.STRUCTURE:
        return None
    for tag in _UID_TAGS:
        found = payload.find(tag)
        if found is not None and isinstance(found.value, str):
            return found.value
    return None


def entries_from_messages(request: Item | None, response: Item) -> Iterator[AuditEntry]:
    """One entry per batch item of a Response Message (the object from the response payload, else the request's)."""
    if response.type != ItemType.STRUCTURE:
        return
    requests = request.find_all(Tag.BATCH_ITEM) if request is not None and request.type == ItemType.STRUCTURE else []
    for index, item in enumerate(response.find_all(Tag.BATCH_ITEM)):
        operation = item.find(Tag.OPERATION)
        status = item.find(Tag.RESULT_STATUS)
        reason = item.find(Tag.RESULT_REASON)
        asked = requests[index] if index < len(requests) else None
        if operation is None and asked is not None:
            operation = asked.find(Tag.OPERATION)
        uid = _uid_in(item.find(Tag.RESPONSE_PAYLOAD))
        if uid is None and asked is not None:
            uid = _uid_in(asked.find(Tag.REQUEST_PAYLOAD))
        status_value = int(status.value) if status is not None and isinstance(status.value, int) else -1
        result = _RESULTS.get(status_value, "failure")  # type: ignore[call-overload]
        yield AuditEntry(
            operation=_enum_text(Tag.OPERATION, int(operation.value))
            if operation is not None and isinstance(operation.value, int)
            else "Unknown",
            object=uid,
            result=result,
            reason=_enum_text(Tag.RESULT_REASON, int(reason.value))
            if reason is not None and isinstance(reason.value, int)
            else None,
        )


def _utc_now(clock: Callable[[], float]) -> str:
    now = clock()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AuditLog:
    """Appends audit lines to ``path`` (``-``: standard error; None: off)."""

    def __init__(self, path: str | None, *, fail_closed: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.fail_closed = fail_closed
        self.clock = clock
        self._fd: int | None = None
        self._failing = False
        self._lock = threading.Lock()
        if path:
            self._open()

    @property
    def enabled(self) -> bool:
        return bool(self.path)

    def _open(self) -> None:
        if self.path == "-":
            self._fd = sys.stderr.fileno()
            return
        assert self.path is not None
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            if self.fail_closed:
                raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror or exc}") from None
            log.error("cannot open the audit log %s: %s", self.path, exc)

    def ready(self) -> bool:
        """Whether a request may run: always, unless fail-closed and the last write failed; then a check line is
        written first, and requests run again once it goes through."""
        if not (self.fail_closed and self._failing):
            return True
        check = {"time": _utc_now(self.clock), "event": "audit log check after a failed write"}
        try:
            self._write(json.dumps(check, separators=(",", ":")).encode() + b"\n")
        except AuditError:
            return False
        return True

    def record(self, transport: str, client: str, user: str, entries: Iterator[AuditEntry] | list[AuditEntry]) -> None:
        """Write one line per entry; AuditError in fail-closed mode when a line cannot be written."""
        if not self.path:
            return
        stamp = _utc_now(self.clock)
        lines = b"".join(
            json.dumps(
                {
                    "time": stamp,
                    "transport": transport,
                    "client": client,
                    "user": user,
                    "operation": entry.operation,
                    "object": entry.object,
                    "result": entry.result,
                    "reason": entry.reason,
                },
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode()
            + b"\n"
            for entry in entries
        )
        if lines:
            self._write(lines)

    def _write(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                self._open()
            try:
                if self._fd is None:
                    raise OSError("the audit log is not open")
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(f"short write ({written} of {len(data)} bytes)")
            except OSError as exc:
                first = not self._failing
                self._failing = True
                if self._fd is not None and self.path != "-":
                    os.close(self._fd)
                self._fd = None
                if first:
                    log.error("cannot write the audit log %s: %s", self.path, exc)
                if self.fail_closed:
                    raise AuditError(f"the audit log cannot be written: {exc}") from None
                return
            if self._failing:
                log.warning("the audit log %s is writable again", self.path)
            self._failing = False

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self.path != "-":
                os.close(self._fd)
            self._fd = None


__all__ = ["AuditEntry", "AuditError", "AuditLog", "entries_from_messages"]
