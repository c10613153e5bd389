"""The state of one loaded Cryptoki library: configuration, backend, its one slot, sessions, handles, cache.

One ``Library`` exists per process (``c_shim._marshal`` holds it); tests make their own. It owns the slot and the
session table (opening, finding and closing a session, destroying the session objects that die with it), so the
modules of C_* functions (``general``, ``slots``, ``sessions``, ``objects``, ``keys``, ``ciphers``, ...) each
depend on it and on nothing of each other's. They take it as their first argument.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kms_backend.engine.plans import Plan
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation, RevocationReasonCode
from kms_backend.kmip.errors import KmipError
from kms_backend.kmip.schema import Attributes, Struct

from .attributes import view_values
from .backends import Backend, Identity
from .config import ProviderConfig
from .constants import Attribute, ObjectClass, ReturnValue, SessionFlag, UserType
from .errors import CkError, ckr_for_reason
from .session_objects import HeldKey, SessionObjects

if TYPE_CHECKING:
    from .operations import InitDecision

log = logging.getLogger("keystead.pkcs11")

#: This process's id, kept current across fork (a system call per C_* function otherwise).
_PROCESS = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PROCESS.__setitem__(0, os.getpid()))


def current_pid() -> int:
    """``os.getpid()`` without the system call."""
    return _PROCESS[0]


BackendFactory = Callable[[ProviderConfig], Backend]


class KeptOutputs(Protocol):
    """A copy of the output a single-part C_Encrypt, C_Decrypt or C_Sign kept for its second call (§5.2;
    ``operations.offer``), held where the entry point of that call hands it over without the provider (the C shim's
    table: c_shim/shim.c). The provider stays the authority on its operations: it takes the copy back before it
    looks at the operation again (``operations.active``, ``operations.start``), learning whether the entry point
    handed it over (the operation has then ended), and forgets the copies of every operation it ends otherwise."""

    def keep(self, session: int, kind: str, data: bytes, output: bytes) -> int:
        """Hold ``output`` for the next ``kind`` call of ``session`` on ``data``: the copy's ticket, 0 if not held."""
        ...

    def handed_over(self, ticket: int) -> bool:
        """True if the copy with ``ticket`` was handed over, known without asking (False: maybe not; ``take``
        says)."""
        ...

    def take(self, session: int, kind: str) -> bool:
        """Take the copy back; True if the entry point had handed it over."""
        ...

    def forget(self, session: int) -> None:
        """Drop the copies of ``session``'s operations."""
        ...

    def clear(self) -> None:
        """Drop every copy."""
        ...


class KeptAnswers(Protocol):
    """Attribute values a C_GetAttributeValue length query on a held key gave, held where the entry point of the
    call that follows answers it without the provider (the C shim's table: c_shim/shim.c). Held keys change only
    through this library, which calls ``clear`` after any change that could alter such an answer; values computed
    before that (``generation`` read first) are refused."""

    def generation(self) -> int:
        """The current generation: read before computing values that may be kept."""
        ...

    def clear(self) -> None:
        """Drop every kept answer and move the generation on."""
        ...


#: The one slot, whose token is the KMS.
SLOT_ID = 1

# Members read on every C_*Init (an enum member's attribute lookup costs several dictionary reads).
_PRIVATE = Attribute.PRIVATE
_TOKEN = Attribute.TOKEN
_USER = UserType.USER


@dataclass(slots=True)
class Session:
    """One session (§2.6): its flags and the state of its active operations."""

    handle: int
    slot_id: int
    flags: int
    #: Remaining handles of an active C_FindObjects operation; None when no search is active.
    found: list[int] | None = None
    #: Active cryptographic operations by kind ("encrypt", "decrypt"...), for the crypto functions.
    operations: dict[str, object] = field(default_factory=dict)
    #: The last decided C_*Init by kind (``operations.InitDecision``): a repeated one is checked, not decided again.
    inits: dict[str, InitDecision] = field(default_factory=dict)

    @property
    def read_write(self) -> bool:
        return bool(self.flags & SessionFlag.RW_SESSION)


@dataclass(slots=True)
class ObjectView:
    """An object as PKCS#11 sees it: its uid, class and attributes (CKA_VALUE is fetched on demand)."""

    uid: str
    object_class: ObjectClass
    values: dict[Attribute, Any]
    fetched_at: float
    #: Made through PKCS#11 (C_InitToken destroys these, and only these).
    pkcs11_made: bool = False
    #: Key pairs: the uid of the public key (the object itself for a public key), read for CKA_MODULUS etc.
    public_uid: str | None = None
    #: CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_POINT... once read from the public key.
    public_values: dict[Attribute, Any] | None = None

    @property
    def private(self) -> bool:
        return bool(self.values.get(_PRIVATE, True))

    @property
    def token(self) -> bool:
        return bool(self.values.get(_TOKEN, True))


class HandleTable:
    """Object handles (§3.4): one per uid, never reused, stable for the life of the library instance — so stable
    within every session, as §2.4 requires. Handle 0 is CK_INVALID_HANDLE."""

    def __init__(self) -> None:
        self._by_uid: dict[str, int] = {}
        self._by_handle: dict[int, str] = {}
        self._next = 1
        self._lock = threading.Lock()

    def handle(self, uid: str) -> int:
        handle = self._by_uid.get(uid)
        if handle is not None:
            return handle
        with self._lock:
            handle = self._by_uid.get(uid)
            if handle is None:
                handle = self._next
                self._next += 1
                self._by_uid[uid] = handle
                self._by_handle[handle] = uid
            return handle

    def uid(self, handle: int) -> str | None:
        return self._by_handle.get(handle)

    def forget(self, uid: str) -> None:
        with self._lock:
            handle = self._by_uid.pop(uid, None)
            if handle is not None:
                self._by_handle.pop(handle, None)


class ObjectCache:
    """Attribute views by uid. Changes made through this library update or drop their entry at once; changes
    made by other KMS clients are seen after ``ttl`` seconds. Locate itself is never cached, so objects created
    or destroyed elsewhere appear and disappear on the next C_FindObjectsInit."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._views: dict[str, ObjectView] = {}

    def get(self, uid: str) -> ObjectView | None:
        view = self._views.get(uid)
        if view is not None and time.monotonic() - view.fetched_at <= self.ttl:
            return view
        return None

    def put(self, view: ObjectView) -> None:
        self._views[view.uid] = view

    def drop(self, uid: str) -> None:
        self._views.pop(uid, None)

    def clear(self) -> None:
        self._views.clear()


@dataclass
class Library:
    """Everything one initialised instance of the library holds (§5.4: between C_Initialize and C_Finalize)."""

    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    #: Builds the backend from the configuration (tests inject a MemoryBackend).
    backend_factory: BackendFactory | None = None
    #: Reads the configuration (tests inject one); default: ``config.load_config(environ)``.
    config_loader: Callable[[dict[str, str]], ProviderConfig] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    initialized: bool = False
    pid: int = 0
    config: ProviderConfig = field(default_factory=ProviderConfig)
    backend: Backend | None = None
    handles: HandleTable = field(default_factory=HandleTable)
    cache: ObjectCache = field(default_factory=lambda: ObjectCache(1.0))
    sessions: dict[int, Session] = field(default_factory=dict)
    next_session: int = 1
    #: Login state is per application, shared by all its sessions (§5.6.9).
    login: UserType | None = None
    identity: Identity = field(default_factory=lambda: Identity("admin"))
    #: Session objects (CKA_TOKEN false) -> the session that created them; destroyed with it (§4.4).
    session_objects: dict[str, int] = field(default_factory=dict)
    #: The session objects held by ``session_backend`` (the rest of them, halves of pairs or keys made from token
    #: keys, are KMS objects destroyed with their session), and the mirrors of held keys.
    in_memory: set[str] = field(default_factory=set)
    #: The engine over an in-memory store that holds session objects: they never reach the KMS's store and
    #: vanish with their session, C_CloseAllSessions, C_Finalize or the process. Opened on first use.
    session_backend: Backend | None = None
    #: Session secret keys held in this process's memory, no engine involved (``session_objects``).
    held: SessionObjects = field(default_factory=SessionObjects)
    #: Where kept outputs are also offered to the entry points (the C shim's table); None: nowhere.
    outputs: KeptOutputs | None = None
    #: Where a held key's attribute values wait for the second call of a length query (None: nowhere).
    answers: KeptAnswers | None = None

    def require_initialized(self) -> None:
        """CKR_CRYPTOKI_NOT_INITIALIZED before C_Initialize, after C_Finalize, and in a forked child until it
        calls C_Initialize itself (§5.4.1: the child must re-initialise)."""
        if not self.initialized or self.pid != _PROCESS[0]:
            raise CkError(ReturnValue.CRYPTOKI_NOT_INITIALIZED)

    def check_slot(self, slot_id: int) -> None:
        """CKR_SLOT_ID_INVALID for any slot but ``SLOT_ID`` (after the initialisation check)."""
        self.require_initialized()
        if slot_id != SLOT_ID:
            raise CkError(ReturnValue.SLOT_ID_INVALID, f"no slot {slot_id}")

    def session(self, handle: int) -> Session:
        """The session for a handle: CKR_CRYPTOKI_NOT_INITIALIZED or CKR_SESSION_HANDLE_INVALID otherwise."""
        if not self.initialized or self.pid != _PROCESS[0]:  # ``require_initialized`` in this frame (every call)
            raise CkError(ReturnValue.CRYPTOKI_NOT_INITIALIZED)
        session = self.sessions.get(handle)
        if session is None:
            raise CkError(ReturnValue.SESSION_HANDLE_INVALID)
        return session

    def open_session(self, slot_id: int, flags: int) -> int:
        """A new session's handle (handles are never reused within the library instance)."""
        with self.lock:
            handle = self.next_session
            self.next_session += 1
            kept = flags & (SessionFlag.RW_SESSION | SessionFlag.SERIAL_SESSION)
            self.sessions[handle] = Session(handle, slot_id, kept)
        return handle

    def close_session(self, handle: int) -> None:
        """Close one session: its session objects are destroyed (§4.4); closing the last one logs out."""
        with self.lock:
            self.sessions.pop(handle, None)
            if self.outputs is not None:  # after the session is gone (operations.offer checks in that order)
                self.outputs.forget(handle)
            for uid, owner in list(self.session_objects.items()):
                if owner == handle:  # the session closes regardless of a failure: the object is unreachable
                    self.discard_session_object(uid)
                    self.session_objects.pop(uid, None)
            self.attributes_changed()  # the session's answers, and those of its objects, are gone
            if not self.sessions:
                self.logout()

    def own_session_object(self, session: Session, uid: str, *, in_memory: bool) -> None:
        """Record a new session object as ``session``'s (``in_memory``: the session-object engine holds it). If
        another thread closed the session while the object was being made, it is destroyed and the call fails
        with CKR_SESSION_CLOSED: an object left behind would outlive its session (§4.4)."""
        with self.lock:
            if self.sessions.get(session.handle) is session:
                if in_memory:
                    self.in_memory.add(uid)
                self.session_objects[uid] = session.handle
                return
        self.discard_session_object(uid, in_memory=in_memory)
        raise CkError(ReturnValue.SESSION_CLOSED, "the session was closed while the object was being made")

    def discard_session_object(self, uid: str, *, in_memory: bool = False) -> None:
        """Destroy a session object nobody can reach any more (its session is closed); ``in_memory`` for one
        made in the session-object engine and not yet recorded as held there."""
        if in_memory:
            self.in_memory.add(uid)  # so that its Destroy goes where it is
        try:
            self.destroy(uid)
        except CkError as exc:
            log.warning("could not destroy session object %s: %s", uid, exc.message)

    def close_all_sessions(self) -> None:
        with self.lock:
            for handle in list(self.sessions):
                self.close_session(handle)

    def logout(self) -> None:
        """Every session returns to public state; searches and operations started while logged in end, since
        they could still hand out private objects (§5.6.10)."""
        with self.lock:
            self.login = None
            self.identity = Identity(self.config.user)
            for session in self.sessions.values():
                session.found = None
                session.operations.clear()
                session.inits.clear()
            if self.outputs is not None:
                self.outputs.clear()
            self.attributes_changed()  # private objects are hidden again

    def attributes_changed(self) -> None:
        """A held key's attributes, or which of them a session may see, may have changed: answers kept for the
        second call of a length query are dropped (``KeptAnswers``)."""
        if self.answers is not None:
            self.answers.clear()

    def end_operations(self, session: Session) -> None:
        """End every active operation of ``session`` (§5.6.5 C_SessionCancel)."""
        session.operations.clear()
        if self.outputs is not None:
            self.outputs.forget(session.handle)

    def destroy(self, uid: str) -> None:
        """Revoke (ignoring a refusal: Pre-Active objects are destroyed directly) and Destroy one object, and forget
        it here: its cached view, handle, and session-object bookkeeping. A held key is dropped, with its mirror."""
        key = self.held.pop(uid)
        if key is not None:
            self.session_objects.pop(uid, None)
            self.handles.forget(uid)
            self.drop_mirror(key)
            self.attributes_changed()
            self.forget_decisions(uid)
            return
        try:
            revocation = S.RevocationReason(revocation_reason_code=RevocationReasonCode.CESSATION_OF_OPERATION)
            self.run(Operation.REVOKE, S.RevokeRequest(unique_identifier=uid, revocation_reason=revocation))
        except CkError as exc:
            log.debug("revoke before destroy of %s: %s", uid, exc.message)
        self.run(Operation.DESTROY, S.DestroyRequest(unique_identifier=uid))
        self.cache.drop(uid)
        self.session_objects.pop(uid, None)
        self.in_memory.discard(uid)
        self.handles.forget(uid)
        self.forget_decisions(uid)

    def forget_decisions(self, uid: str) -> None:
        """Drop the sessions' kept C_*Init decisions on ``uid`` (destroyed): they would no longer be current, and
        nothing should keep a destroyed key's prepared cipher reachable."""
        for session in list(self.sessions.values()):
            inits = session.inits
            for kind in [kind for kind, decision in list(inits.items()) if decision.view.uid == uid]:
                inits.pop(kind, None)

    def hold(self, key: HeldKey, session: Session) -> int:
        """Keep a new held key as a session object of ``session``; returns its handle. CKR_SESSION_CLOSED (the key
        dropped) if another thread closed the session meanwhile: the key would outlive its session (§4.4)."""
        with self.lock:
            if self.sessions.get(session.handle) is not session:
                raise CkError(ReturnValue.SESSION_CLOSED, "the session was closed while the key was being made")
            self.held.add(key)
            self.session_objects[key.uid] = session.handle
        return self.handles.handle(key.uid)

    def held_here(self, uid: str) -> bool:
        """Whether ``uid`` is a session object of this process (held, or in the session-object engine), which
        the KMS cannot reach."""
        return uid in self.in_memory or uid in self.held

    def mirror(self, key: HeldKey) -> str:
        """The uid of ``key``'s mirror in the session-object engine, registered now if it has none (under the lock:
        two threads using a key at once must not register a mirror each, the first then never destroyed)."""
        mirror = key.mirror
        if mirror is not None:
            return mirror
        with self.lock:
            mirror = key.mirror
            if mirror is None:
                object_type, managed = key.managed()
                request = S.RegisterRequest(
                    object_type=object_type, attributes=key.mirror_attributes(), managed_object=managed
                )
                mirror = str(self.run(Operation.REGISTER, request, in_memory=True).unique_identifier)
                key.mirror = mirror
                self.in_memory.add(mirror)
            return mirror

    def drop_mirror(self, key: HeldKey) -> None:
        """Destroy ``key``'s mirror (its attributes changed, or it is destroyed itself)."""
        mirror, key.mirror = key.mirror, None
        if mirror is not None:
            try:
                self.destroy(mirror)
            except CkError as exc:  # the engine is per process: the mirror is unreachable all the same
                log.warning("could not destroy the mirror %s: %s", mirror, exc.message)

    def _mirrored(self, payload: Struct) -> Struct:
        """``payload`` with every held key it names (the object, a wrapping or unwrapping key) replaced by its
        mirror, for the session-object engine."""
        changes: dict[str, Any] = {}
        uid = getattr(payload, "unique_identifier", None)
        if isinstance(uid, str) and uid in self.held:
            changes["unique_identifier"] = self._mirror_of(uid)
        elif isinstance(uid, list) and any(isinstance(u, str) and u in self.held for u in uid):
            changes["unique_identifier"] = [self._mirror_of(u) if isinstance(u, str) else u for u in uid]
        spec = getattr(payload, "key_wrapping_specification", None)
        if spec is not None:
            changes["key_wrapping_specification"] = self._mirrored_wrapping(spec)
        block = getattr(getattr(payload, "managed_object", None), "key_block", None)
        if block is not None and block.key_wrapping_data is not None:
            data = self._mirrored_wrapping(block.key_wrapping_data)
            if data is not block.key_wrapping_data:
                block = dataclasses.replace(block, key_wrapping_data=data)
                changes["managed_object"] = dataclasses.replace(payload.managed_object, key_block=block)  # type: ignore[attr-defined]
        return dataclasses.replace(payload, **changes) if changes else payload  # type: ignore[type-var]

    def _mirrored_wrapping(self, wrapping: Any) -> Any:
        info = wrapping.encryption_key_information
        if info is None or not isinstance(info.unique_identifier, str) or info.unique_identifier not in self.held:
            return wrapping
        info = dataclasses.replace(info, unique_identifier=self._mirror_of(info.unique_identifier))
        return dataclasses.replace(wrapping, encryption_key_information=info)

    def _mirror_of(self, uid: str) -> str:
        key = self.held.get(uid)
        return self.mirror(key) if key is not None else uid

    def memory_backend(self) -> Backend:
        """The engine holding this application's session objects (``session_backend``), opened on first use."""
        backend = self.session_backend
        if backend is not None:
            return backend
        # Under the lock: two threads making the first session objects at once must not each open an engine (the
        # objects of the replaced one would be lost: "not found" when used or destroyed).
        with self.lock:
            if self.session_backend is None:
                from .backends.memory import MemoryBackend

                self.session_backend = MemoryBackend()
            return self.session_backend

    def run(self, operation: Operation, payload: Struct, *, uid: str | None = None, in_memory: bool = False) -> Any:
        """One KMIP operation as the current identity; KMIP failures become ``CkError`` through the CKR table.
        It goes to the session-object engine when ``in_memory`` (a new session object) or when the object it
        names (``uid``, else the payload's Unique Identifier) is held there; to the KMS otherwise. An operation on a
        held key is answered by the holder, or else run on the key's mirror in the session-object engine."""
        backend = self.backend
        if backend is None:
            raise CkError(ReturnValue.CRYPTOKI_NOT_INITIALIZED)
        try:
            if in_memory:
                backend = self.memory_backend()
            elif self.in_memory or self.held:
                named = uid or getattr(payload, "unique_identifier", None)
                if isinstance(named, str):
                    if named in self.in_memory:
                        backend = self.memory_backend()
                    elif (key := self.held.get(named)) is not None:
                        answered = self.held.answer(operation, payload, key)
                        if answered is not None:
                            return answered
                        backend = self.memory_backend()
            if self.held and backend is self.session_backend:
                payload = self._mirrored(payload)
            return backend.run(operation, payload, self.identity)
        except KmipError as exc:
            rv = ckr_for_reason(exc.reason)
            if log.isEnabledFor(logging.INFO):
                log.info("KMIP %s failed: %s (%s) -> %s", operation.name, exc.reason.name, exc.message, rv.name)
            raise CkError(rv, exc.message) from None

    def plan(self, operation: Operation, uid: str, parameters: S.CryptographicParameters) -> Plan | None:
        """The reusable Plan of a one-shot Encrypt, Decrypt or Sign of ``uid`` with ``parameters`` as the current
        identity, from a backend that runs the engine in this process (``EmbeddedBackend.plan``), routed like
        ``run``; the caller runs ``Plan.run`` itself. None: send each request through ``run``. A refusal raises
        the CkError the request would get."""
        backend: Any = self.backend
        if backend is None:
            raise CkError(ReturnValue.CRYPTOKI_NOT_INITIALIZED)
        if self.in_memory and uid in self.in_memory:
            backend = self.memory_backend()
        try:
            key = self.held.get(uid)
            if key is not None:  # the holder's cipher (no engine decides on a held key)
                return self.held.plan(operation, key, parameters)
            planner = getattr(backend, "plan", None)
            if planner is None:
                return None
            plan: Plan | None = planner(operation, uid, parameters, self.identity)
        except KmipError as exc:
            raise CkError(ckr_for_reason(exc.reason), exc.message) from None
        return plan

    def locate(self, payload: Struct) -> list[str]:
        """Locate in the KMS and among the session objects held here (their uids, in that order)."""
        found = [str(uid) for uid in self.run(Operation.LOCATE, payload).unique_identifier]
        if self.in_memory:
            located = self.run(Operation.LOCATE, payload, in_memory=True).unique_identifier
            found += [str(uid) for uid in located if str(uid) in self.session_objects]
        return found

    def view(self, uid: str) -> ObjectView | None:
        """The object's PKCS#11 view (cached); None if it is gone or of a type the provider does not present."""
        key = self.held.get(uid)
        if key is not None:
            return key.view
        cached = self.cache.get(uid)
        if cached is not None:
            return cached
        try:
            response = self.run(Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=uid))
        except CkError as exc:
            if exc.rv == ReturnValue.OBJECT_HANDLE_INVALID:
                self.cache.drop(uid)
                return None
            raise
        return self.remember(uid, response.attributes)

    def remember(self, uid: str, kmip: Attributes) -> ObjectView | None:
        """Cache the view built from an object's KMIP attributes."""
        presented = view_values(kmip)
        if presented is None:
            return None
        view = ObjectView(uid, presented[0], presented[1], time.monotonic(), presented[2], presented[3])
        if view.object_class is ObjectClass.CERTIFICATE and not view.pkcs11_made and view.public_uid is not None:
            # A KMS certificate of a key made through PKCS#11 pairs with it by that key's CKA_ID.
            key = self.view(view.public_uid)
            if key is not None and key.pkcs11_made and key.values.get(Attribute.ID):
                view.values[Attribute.ID] = key.values[Attribute.ID]
        self.cache.put(view)
        return view

    def visible(self, view: ObjectView) -> bool:
        """Private objects are hidden until a user logs in (§4.4); other applications' session objects always."""
        values = view.values  # ``private`` and ``token`` read here without the properties: once per C_*Init
        if self.login is not _USER and values.get(_PRIVATE, True):
            return False
        return bool(values.get(_TOKEN, True)) or view.uid in self.session_objects


__all__ = ["SLOT_ID", "HandleTable", "KeptOutputs", "Library", "ObjectCache", "ObjectView", "Session"]
