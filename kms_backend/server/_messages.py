"""Whole KMIP messages in one encoding in, the response in the same encoding out (``kmip.encodings``): shared by
``POST /kmip``, ``POST /kmip/2_1`` and the KMIP TLS socket, so all answer undecodable input the same way (a one-item
Invalid Message response); and which operations the transports never answer on their event loop."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.engine import Engine
from ..kmip._registry_data import Operation, ResultReason
from ..kmip.encodings import Encoding
from ..kmip.errors import KmipError
from ..kmip.mapper import to_tree
from ..kmip.registry import ProtocolVersion, answer_version
from ..kmip.ttlv import DecodeLimits, Item
from .audit import AuditError, AuditLog, entries_from_messages

#: Operations that may compute or read for long (asymmetric key generation, certificates, key derivation with many
#: iterations, PKCS#12 decryption on Register/Import, a Locate over many objects): never answered on an event
#: loop. With a local store every other small request is: SQLite serialises transactions anyway, so a write on the
#: loop holds up nobody who could have gone ahead, and skipping the hop to the thread pool saves a fifth of the
#: server's time per request.
OFFLOADED_OPERATIONS = frozenset(
    {
        Operation.CREATE_KEY_PAIR,
        Operation.RE_KEY_KEY_PAIR,
        Operation.CERTIFY,
        Operation.RE_CERTIFY,
        Operation.DERIVE_KEY,
        Operation.VALIDATE,
        Operation.LOCATE,
        Operation.REGISTER,
        Operation.IMPORT,
    }
)
#: Larger requests go to the thread pool whatever their operation.
INLINE_MAX_BYTES = 64 * 1024

#: With a database on another host (PostgreSQL, and MySQL or Redis with a polled stamp), only these run on the loop:
#: they are answered from kept objects and Plans without a round trip, where a write would hold the loop for its
#: statements, its COMMIT and (PostgreSQL) the other servers' acknowledgement of its change notice.
READ_OPERATIONS = frozenset(
    {
        Operation.GET,
        Operation.GET_ATTRIBUTES,
        Operation.GET_ATTRIBUTE_LIST,
        Operation.ENCRYPT,
        Operation.DECRYPT,
        Operation.SIGN,
        Operation.SIGNATURE_VERIFY,
        Operation.MAC,
        Operation.MAC_VERIFY,
        Operation.QUERY,
        Operation.DISCOVER_VERSIONS,
    }
)


def error_tree(engine: Engine, exc: KmipError, version: ProtocolVersion | None = None) -> Item:
    """A one-item failure Response Message tree for a request that could not be decoded."""
    return to_tree(engine.error_response(answer_version(version), exc))


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Who is asking, as the audit log records it: the log, the transport's name and the client's address."""

    log: AuditLog
    transport: str
    client: str


#: The failure a fail-closed server answers when its audit log cannot be written.
AUDIT_UNAVAILABLE = "the audit log cannot be written: request refused"


def process(
    engine: Engine,
    encoding: Encoding,
    data: bytes,
    user: str,
    limits: DecodeLimits,
    *,
    audit: AuditScope | None = None,
) -> tuple[bytes, Item]:
    """A Request Message in ``encoding`` in, the Response Message in the same encoding out (and the response tree,
    for metrics). Undecodable input gets a one-item Invalid Message response, in the request's Protocol Version
    when it can be found (a KMIP 1.x client cannot read a 2.x error response; Cosmian answers bad JSON this way
    too). With ``audit``, every batch item is logged; a fail-closed log that cannot be written turns the answer
    into a General Failure (before the request runs when the log is already failing)."""
    request: Item | None = None
    try:
        request = encoding.decode(data, limits)
    except KmipError as exc:
        response = error_tree(engine, exc, encoding.version_of_unreadable(data))
    else:
        if audit is not None and not audit.log.ready():
            refused = KmipError(ResultReason.GENERAL_FAILURE, AUDIT_UNAVAILABLE)
            response = error_tree(engine, refused, encoding.version_of_unreadable(data))
            return encoding.encode(response), response
        response = engine.process_tree(request, user)
    if audit is not None and audit.log.enabled:
        try:
            audit.log.record(audit.transport, audit.client, user, entries_from_messages(request, response))
        except AuditError:
            refused = KmipError(ResultReason.GENERAL_FAILURE, AUDIT_UNAVAILABLE)
            response = error_tree(engine, refused, encoding.version_of_unreadable(data))
    return encoding.encode(response), response


__all__ = [
    "AUDIT_UNAVAILABLE",
    "INLINE_MAX_BYTES",
    "OFFLOADED_OPERATIONS",
    "READ_OPERATIONS",
    "AuditScope",
    "error_tree",
    "process",
]
