"""The Python half of the shim: each ``ks_py_C_*`` callback turns C pointers into Python values, calls the
provider function for its spec chapter, and writes the results back. No PKCS#11 logic lives here beyond the
§5.2 output-buffer convention and NULL-pointer checks; anything the provider does not implement answers
CKR_FUNCTION_NOT_SUPPORTED.

Bound once per process by the embedding init code (``bind``); everything is imported then, so a call costs
the cffi transition and the provider's own work only. ``bind`` also gives the provider the C table that lets the
entry points of C_Encrypt, C_Decrypt and C_Sign hand over a length query's kept output without entering Python
(``KeptInC``; c_shim/shim.c's header comment).
"""

# ruff: noqa: N802, PLR0917, PLR1714
# (callbacks are named after the C entry points they serve; NULL checks compare cdata pointers one by one)

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from provider import ciphers, digests, general, keys, objects, rng, sessions, signatures, slots
from provider.constants import ReturnValue
from provider.errors import CkError
from provider.library import Library
from provider.mechanisms import PARAMETER_LAYOUTS, MechanismParameter

from .functions import KEPT_OUTPUT_KINDS, PYTHON_FUNCTIONS

log = logging.getLogger("keystead.pkcs11.shim")

CKR_OK = int(ReturnValue.OK)
ARGUMENTS_BAD = int(ReturnValue.ARGUMENTS_BAD)
BUFFER_TOO_SMALL = int(ReturnValue.BUFFER_TOO_SMALL)
NOT_SUPPORTED = int(ReturnValue.FUNCTION_NOT_SUPPORTED)
GENERAL_ERROR = int(ReturnValue.GENERAL_ERROR)

#: The library state of this process.
LIB = Library()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at fork time; that thread does not exist in the child.
    LIB.lock = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)

ffi: Any = None
#: The embedded module's C functions (``ks_read_template``, ``ks_read_query``, ``ks_write_query``: c_shim/marshal.c).
shim: Any = None


def _padded(field: Any, text: str, size: int) -> None:
    """Blank-padded, not NUL-terminated UTF-8 (§3: CK_UTF8CHAR fields of the info structures)."""
    ffi.memmove(field, text.encode()[:size].ljust(size, b" "), size)


# A cdata pointer is false when NULL (``not p`` costs a quarter of ``p == ffi.NULL``), and ``ffi.buffer(p, n)[:]``
# copies C bytes into one bytes object without the cast ``ffi.unpack`` needs for a CK_BYTE pointer.


def _bytes(pointer: Any, length: int) -> bytes:
    return ffi.buffer(pointer, length)[:] if length else b""  # type: ignore[no-any-return]


def _input(pointer: Any, length: int) -> bytes:
    """An input byte buffer (NULL with a non-zero length is CKR_ARGUMENTS_BAD)."""
    if length:
        if not pointer:
            raise CkError(ReturnValue.ARGUMENTS_BAD, "input pointer is NULL")
        return ffi.buffer(pointer, length)[:]  # type: ignore[no-any-return]
    return b""


def _capacity(pointer: Any, p_length: Any) -> int | None:
    """The output buffer's size, None when pBuffer is NULL (a length query, §5.2)."""
    if not p_length:
        raise CkError(ReturnValue.ARGUMENTS_BAD, "output length pointer is NULL")
    return p_length[0] if pointer else None  # type: ignore[no-any-return]


def _deref(address: int, length: int) -> bytes:
    """Bytes a mechanism parameter points at (NULL with a non-zero length is CKR_ARGUMENTS_BAD)."""
    if not address:
        if length:
            raise CkError(ReturnValue.ARGUMENTS_BAD, "parameter pointer is NULL")
        return b""
    return ffi.unpack(ffi.cast("char *", address), length) if length else b""  # type: ignore[no-any-return]


def _mechanism(p_mechanism: Any) -> tuple[int, MechanismParameter]:
    """CK_MECHANISM as (type, parameter): a structure the mechanism's row declares (``PARAMETER_LAYOUTS``) is read
    out of C memory by its layout; any other parameter is passed on as bytes."""
    if not p_mechanism:
        raise CkError(ReturnValue.ARGUMENTS_BAD, "pMechanism is NULL")
    kind = p_mechanism.mechanism
    parameter, length = p_mechanism.pParameter, p_mechanism.ulParameterLen
    layouts = PARAMETER_LAYOUTS.get(kind)
    if not parameter or not length:
        # No parameter (the mechanism's planner says if it needs one); half of one only for a structure.
        if (not parameter and not length) or layouts is None:
            return kind, None
        layout = None
    elif layouts is None:  # most mechanisms: no parameter, or bytes (an IV)
        return kind, ffi.buffer(parameter, length)[:]
    else:
        layout = layouts.get(length)
    if layout is None:
        names = " or ".join(layout.name for layout in layouts.values())
        raise CkError(ReturnValue.MECHANISM_PARAM_INVALID, f"expected a {names}")
    return kind, layout.read(ffi.buffer(parameter, length)[:], _deref)


def _template(pointer: Any, count: int) -> list[tuple[int, bytes]]:
    """A CK_ATTRIBUTE array given as input (§5.7.1: values supplied by the caller), read by one C call
    (``ks_read_template``: each attribute's type and where its value lies in one copy of them all)."""
    if not count:
        return []
    fields = ffi.new("CK_ULONG[]", 3 * count + 1)
    room = _VALUES_ROOM
    values = ffi.new("unsigned char[]", room)
    rv = shim.ks_read_template(pointer, count, fields, values, room)
    if rv == BUFFER_TOO_SMALL:
        room = fields[3 * count]
        values = ffi.new("unsigned char[]", room)
        rv = shim.ks_read_template(pointer, count, fields, values, room)
    if rv:
        raise _template_error(rv, pointer, fields[0])
    data = ffi.buffer(values, fields[3 * count])[:]
    it = iter(ffi.unpack(fields, 3 * count))
    return [(kind, data[start:end]) for kind, start, end in zip(it, it, it, strict=True)]


#: Room for an input template's values on the first try (python-pkcs11's C_GenerateKey template: 27 bytes).
_VALUES_ROOM = 256


def _template_error(rv: int, pointer: Any, index: int) -> CkError:
    if rv == ARGUMENTS_BAD:
        return CkError(ReturnValue.ARGUMENTS_BAD, "attribute value pointer is NULL")
    if rv == ReturnValue.ATTRIBUTE_VALUE_INVALID:
        # CK_UNAVAILABLE_INFORMATION left over from a C_GetAttributeValue, or garbage: no buffer is that long.
        return CkError(ReturnValue.ATTRIBUTE_VALUE_INVALID, f"attribute 0x{pointer[index].type:x} length is invalid")
    return CkError(ReturnValue(rv), "the template's values add up to more than memory can hold")


def _ulong_array(values: list[int], pointer: Any, p_count: Any) -> int:
    """The §5.2 convention for CK_ULONG arrays: NULL buffer asks for the count; a short buffer is an error."""
    if p_count == ffi.NULL:
        return ARGUMENTS_BAD
    if pointer == ffi.NULL:
        p_count[0] = len(values)
        return CKR_OK
    if p_count[0] < len(values):
        p_count[0] = len(values)
        return BUFFER_TOO_SMALL
    for i, value in enumerate(values):
        pointer[i] = value
    p_count[0] = len(values)
    return CKR_OK


def _single_part(
    function: Callable[[Library, int, bytes, int | None], bytes],
    h_session: int,
    p_in: Any,
    in_len: int,
    p_out: Any,
    p_out_len: Any,
) -> int:
    """A single-part call with byte output (C_Encrypt, C_Decrypt, C_Sign, C_Digest): ``_capacity``, ``_input`` and
    ``_output`` in one frame, these being the calls every length query and its second call make."""
    if not p_out_len:
        return ARGUMENTS_BAD
    if in_len:
        if not p_in:
            return ARGUMENTS_BAD
        data = ffi.buffer(p_in, in_len)[:]
    else:
        data = b""
    if not p_out:  # a length query
        p_out_len[0] = len(function(LIB, h_session, data, None))
        return CKR_OK
    capacity = p_out_len[0]
    out = function(LIB, h_session, data, capacity)
    length = p_out_len[0] = len(out)
    if capacity < length:
        return BUFFER_TOO_SMALL
    ffi.memmove(p_out, out, length)
    return CKR_OK


def _output(data: bytes, pointer: Any, p_length: Any) -> int:
    """The §5.2 convention for byte output: NULL buffer asks for the length; a short buffer is an error."""
    if not p_length:
        return ARGUMENTS_BAD
    length = len(data)
    if not pointer:
        p_length[0] = length
        return CKR_OK
    if p_length[0] < length:
        p_length[0] = length
        return BUFFER_TOO_SMALL
    ffi.memmove(pointer, data, length)
    p_length[0] = length
    return CKR_OK


# -- §5.4 general purpose --------------------------------------------------------------------------------------------
def C_Initialize(p_init_args: Any) -> int:
    args = None
    if p_init_args != ffi.NULL:
        a = ffi.cast("CK_C_INITIALIZE_ARGS *", p_init_args)
        mutexes = (a.CreateMutex, a.DestroyMutex, a.LockMutex, a.UnlockMutex)
        args = general.InitializeArgs(
            tuple(m != ffi.NULL for m in mutexes),  # type: ignore[arg-type]
            int(a.flags),
            a.pReserved != ffi.NULL,
        )
    general.initialize(LIB, args)
    return CKR_OK


def C_Finalize(p_reserved: Any) -> int:
    general.finalize(LIB, p_reserved != ffi.NULL)
    return CKR_OK


def C_GetInfo(p_info: Any) -> int:
    info = general.get_info(LIB)
    if p_info == ffi.NULL:
        return ARGUMENTS_BAD
    p_info.cryptokiVersion.major, p_info.cryptokiVersion.minor = info.cryptoki_version
    _padded(p_info.manufacturerID, info.manufacturer_id, 32)
    p_info.flags = info.flags
    _padded(p_info.libraryDescription, info.library_description, 32)
    p_info.libraryVersion.major, p_info.libraryVersion.minor = info.library_version
    return CKR_OK


# -- §5.5 slots and tokens -------------------------------------------------------------------------------------------
def C_GetSlotList(token_present: int, p_slot_list: Any, p_count: Any) -> int:
    return _ulong_array(slots.get_slot_list(LIB, bool(token_present)), p_slot_list, p_count)


def C_GetSlotInfo(slot_id: int, p_info: Any) -> int:
    slot = slots.get_slot_info(LIB, slot_id)
    if p_info == ffi.NULL:
        return ARGUMENTS_BAD
    _padded(p_info.slotDescription, slot.description, 64)
    _padded(p_info.manufacturerID, slot.manufacturer_id, 32)
    p_info.flags = slot.flags
    p_info.hardwareVersion.major, p_info.hardwareVersion.minor = slot.hardware_version
    p_info.firmwareVersion.major, p_info.firmwareVersion.minor = slot.firmware_version
    return CKR_OK


def C_GetTokenInfo(slot_id: int, p_info: Any) -> int:
    token = slots.get_token_info(LIB, slot_id)
    if p_info == ffi.NULL:
        return ARGUMENTS_BAD
    _padded(p_info.label, token.label, 32)
    _padded(p_info.manufacturerID, token.manufacturer_id, 32)
    _padded(p_info.model, token.model, 16)
    _padded(p_info.serialNumber, token.serial_number, 16)
    p_info.flags = token.flags
    p_info.ulMaxSessionCount = token.max_session_count
    p_info.ulSessionCount = token.session_count
    p_info.ulMaxRwSessionCount = token.max_rw_session_count
    p_info.ulRwSessionCount = token.rw_session_count
    p_info.ulMaxPinLen = token.max_pin_len
    p_info.ulMinPinLen = token.min_pin_len
    p_info.ulTotalPublicMemory = token.total_public_memory
    p_info.ulFreePublicMemory = token.free_public_memory
    p_info.ulTotalPrivateMemory = token.total_private_memory
    p_info.ulFreePrivateMemory = token.free_private_memory
    p_info.hardwareVersion.major, p_info.hardwareVersion.minor = token.hardware_version
    p_info.firmwareVersion.major, p_info.firmwareVersion.minor = token.firmware_version
    _padded(p_info.utcTime, token.utc_time, 16)
    return CKR_OK


def C_GetMechanismList(slot_id: int, p_list: Any, p_count: Any) -> int:
    return _ulong_array(slots.get_mechanism_list(LIB, slot_id), p_list, p_count)


def C_GetMechanismInfo(slot_id: int, mechanism: int, p_info: Any) -> int:
    low, high, flags = slots.get_mechanism_info(LIB, slot_id, mechanism)
    if p_info == ffi.NULL:
        return ARGUMENTS_BAD
    p_info.ulMinKeySize, p_info.ulMaxKeySize, p_info.flags = low, high, flags
    return CKR_OK


def C_InitToken(slot_id: int, p_pin: Any, pin_len: int, p_label: Any) -> int:
    if p_pin == ffi.NULL or p_label == ffi.NULL:
        return ARGUMENTS_BAD
    slots.init_token(LIB, slot_id, _bytes(p_pin, pin_len), _bytes(p_label, 32))
    return CKR_OK


def C_InitPIN(h_session: int, p_pin: Any, pin_len: int) -> int:
    if p_pin == ffi.NULL:
        return ARGUMENTS_BAD
    slots.init_pin(LIB, h_session, _bytes(p_pin, pin_len))
    return CKR_OK


def C_SetPIN(h_session: int, p_old: Any, old_len: int, p_new: Any, new_len: int) -> int:
    if p_old == ffi.NULL or p_new == ffi.NULL:
        return ARGUMENTS_BAD
    slots.set_pin(LIB, h_session, _bytes(p_old, old_len), _bytes(p_new, new_len))
    return CKR_OK


# -- §5.6 sessions ---------------------------------------------------------------------------------------------------
def C_OpenSession(slot_id: int, flags: int, _application: Any, _notify: Any, ph_session: Any) -> int:
    if ph_session == ffi.NULL:
        return ARGUMENTS_BAD
    ph_session[0] = sessions.open_session(LIB, slot_id, flags)
    return CKR_OK


def C_CloseSession(h_session: int) -> int:
    sessions.close_session(LIB, h_session)
    return CKR_OK


def C_CloseAllSessions(slot_id: int) -> int:
    sessions.close_all_sessions(LIB, slot_id)
    return CKR_OK


def C_GetSessionInfo(h_session: int, p_info: Any) -> int:
    slot_id, state, flags, device_error = sessions.get_session_info(LIB, h_session)
    if p_info == ffi.NULL:
        return ARGUMENTS_BAD
    p_info.slotID, p_info.state, p_info.flags, p_info.ulDeviceError = slot_id, state, flags, device_error
    return CKR_OK


def C_Login(h_session: int, user_type: int, p_pin: Any, pin_len: int) -> int:
    sessions.login(LIB, h_session, user_type, None if p_pin == ffi.NULL else _bytes(p_pin, pin_len))
    return CKR_OK


def C_LoginUser(h_session: int, user_type: int, p_pin: Any, pin_len: int, p_user: Any, user_len: int) -> int:
    """§5.6.9: the user name joins the PIN in the ``user:pin`` form the provider understands."""
    if p_pin == ffi.NULL or p_user == ffi.NULL:
        return ARGUMENTS_BAD
    pin = _bytes(p_user, user_len) + b":" + _bytes(p_pin, pin_len)
    sessions.login(LIB, h_session, user_type, pin)
    return CKR_OK


def C_Logout(h_session: int) -> int:
    sessions.logout(LIB, h_session)
    return CKR_OK


# -- §5.7 objects ----------------------------------------------------------------------------------------------------
def C_CreateObject(h_session: int, p_template: Any, count: int, ph_object: Any) -> int:
    if (p_template == ffi.NULL and count) or ph_object == ffi.NULL:
        return ARGUMENTS_BAD
    ph_object[0] = objects.create_object(LIB, h_session, _template(p_template, count))
    return CKR_OK


def C_CopyObject(h_session: int, h_object: int, p_template: Any, count: int, ph_new: Any) -> int:
    if (p_template == ffi.NULL and count) or ph_new == ffi.NULL:
        return ARGUMENTS_BAD
    ph_new[0] = objects.copy_object(LIB, h_session, h_object, _template(p_template, count))
    return CKR_OK


def C_DestroyObject(h_session: int, h_object: int) -> int:
    objects.destroy_object(LIB, h_session, h_object)
    return CKR_OK


def C_GetObjectSize(h_session: int, h_object: int, p_size: Any) -> int:
    if p_size == ffi.NULL:
        return ARGUMENTS_BAD
    p_size[0] = objects.get_object_size(LIB, h_session, h_object)
    return CKR_OK


def C_GetAttributeValue(h_session: int, h_object: int, p_template: Any, count: int) -> int:
    if not p_template and count:
        return ARGUMENTS_BAD
    # One C call reads every (type, pValue set, ulValueLen); a NULL pValue asks for the length.
    fields = ffi.new("CK_ULONG[]", 3 * count)
    shim.ks_read_query(p_template, count, fields)
    unpacked = ffi.unpack(fields, 3 * count)
    answers = LIB.answers
    if count and not any(unpacked[1::3]) and answers is not None:
        # A length query: on a held key the provider gives the values too, kept for the call that follows; only
        # the lengths are written.
        generation = answers.generation()
        rv, results, keep = objects.length_query(LIB, h_session, h_object, unpacked[0::3])
        lengths = [length for length, _ in results]
        if keep:
            kept = b"".join([value for _, value in results if value is not None])
            shim.ks_answers_put(h_session, h_object, generation, fields, count, lengths, kept, len(kept))
        data = b""
    else:
        it = iter(unpacked)
        requests = [(kind, length if given else None) for kind, given, length in zip(it, it, it, strict=True)]
        rv, results = objects.get_attribute_value(LIB, h_session, h_object, requests)
        lengths = [length for length, _ in results]
        data = b"".join([value for _, value in results if value is not None])
    # One C call writes every ulValueLen, and the values end to end into the buffers that receive one.
    if len(lengths) != count or shim.ks_write_query(p_template, count, lengths, data, len(data)):
        raise AssertionError("the provider's answer does not fit the template")
    return int(rv)


def C_SetAttributeValue(h_session: int, h_object: int, p_template: Any, count: int) -> int:
    if p_template == ffi.NULL and count:
        return ARGUMENTS_BAD
    objects.set_attribute_value(LIB, h_session, h_object, _template(p_template, count))
    return CKR_OK


def C_FindObjectsInit(h_session: int, p_template: Any, count: int) -> int:
    if p_template == ffi.NULL and count:
        return ARGUMENTS_BAD
    objects.find_objects_init(LIB, h_session, _template(p_template, count))
    return CKR_OK


def C_FindObjects(h_session: int, ph_object: Any, max_count: int, p_count: Any) -> int:
    if ph_object == ffi.NULL or p_count == ffi.NULL:
        return ARGUMENTS_BAD
    handles = objects.find_objects(LIB, h_session, max_count)
    for i, handle in enumerate(handles):
        ph_object[i] = handle
    p_count[0] = len(handles)
    return CKR_OK


def C_FindObjectsFinal(h_session: int) -> int:
    objects.find_objects_final(LIB, h_session)
    return CKR_OK


# -- §5.8-5.12 encryption, decryption, digests, signatures ------------------------------------------------------------
def C_EncryptInit(h_session: int, p_mechanism: Any, h_key: int) -> int:
    kind, parameter = _mechanism(p_mechanism)
    ciphers.encrypt_init(LIB, h_session, kind, parameter, h_key)
    return CKR_OK


def C_Encrypt(h_session: int, p_data: Any, data_len: int, p_out: Any, p_out_len: Any) -> int:
    return _single_part(ciphers.encrypt, h_session, p_data, data_len, p_out, p_out_len)


def C_EncryptUpdate(h_session: int, p_part: Any, part_len: int, p_out: Any, p_out_len: Any) -> int:
    capacity = _capacity(p_out, p_out_len)
    return _output(ciphers.encrypt_update(LIB, h_session, _input(p_part, part_len), capacity), p_out, p_out_len)


def C_EncryptFinal(h_session: int, p_out: Any, p_out_len: Any) -> int:
    capacity = _capacity(p_out, p_out_len)
    return _output(ciphers.encrypt_final(LIB, h_session, capacity), p_out, p_out_len)


def C_DecryptInit(h_session: int, p_mechanism: Any, h_key: int) -> int:
    kind, parameter = _mechanism(p_mechanism)
    ciphers.decrypt_init(LIB, h_session, kind, parameter, h_key)
    return CKR_OK


def C_Decrypt(h_session: int, p_data: Any, data_len: int, p_out: Any, p_out_len: Any) -> int:
    return _single_part(ciphers.decrypt, h_session, p_data, data_len, p_out, p_out_len)


def C_DecryptUpdate(h_session: int, p_part: Any, part_len: int, p_out: Any, p_out_len: Any) -> int:
    capacity = _capacity(p_out, p_out_len)
    return _output(ciphers.decrypt_update(LIB, h_session, _input(p_part, part_len), capacity), p_out, p_out_len)


def C_DecryptFinal(h_session: int, p_out: Any, p_out_len: Any) -> int:
    capacity = _capacity(p_out, p_out_len)
    return _output(ciphers.decrypt_final(LIB, h_session, capacity), p_out, p_out_len)


def C_DigestInit(h_session: int, p_mechanism: Any) -> int:
    kind, parameter = _mechanism(p_mechanism)
    digests.digest_init(LIB, h_session, kind, parameter)
    return CKR_OK


def C_Digest(h_session: int, p_data: Any, data_len: int, p_out: Any, p_out_len: Any) -> int:
    return _single_part(digests.digest, h_session, p_data, data_len, p_out, p_out_len)


def C_DigestUpdate(h_session: int, p_part: Any, part_len: int) -> int:
    digests.digest_update(LIB, h_session, _input(p_part, part_len))
    return CKR_OK


def C_DigestKey(h_session: int, h_key: int) -> int:
    digests.digest_key(LIB, h_session, h_key)
    return CKR_OK


def C_DigestFinal(h_session: int, p_out: Any, p_out_len: Any) -> int:
    capacity = _capacity(p_out, p_out_len)
    return _output(digests.digest_final(LIB, h_session, capacity), p_out, p_out_len)


def C_SignInit(h_session: int, p_mechanism: Any, h_key: int) -> int:
    kind, parameter = _mechanism(p_mechanism)
    signatures.sign_init(LIB, h_session, kind, parameter, h_key)
    return CKR_OK


def C_Sign(h_session: int, p_data: Any, data_len: int, p_out: Any, p_out_len: Any) -> int:
    return _single_part(signatures.sign, h_session, p_data, data_len, p_out, p_out_len)


def C_SignUpdate(h_session: int, p_part: Any, part_len: int) -> int:
    signatures.sign_update(LIB, h_session, _input(p_part, part_len))
    return CKR_OK


def C_SignFinal(h_session: int, p_out: Any, p_out_len: Any) -> int:
    capacity = _capacity(p_out, p_out_len)
    return _output(signatures.sign_final(LIB, h_session, capacity), p_out, p_out_len)


def C_VerifyInit(h_session: int, p_mechanism: Any, h_key: int) -> int:
    kind, parameter = _mechanism(p_mechanism)
    signatures.verify_init(LIB, h_session, kind, parameter, h_key)
    return CKR_OK


def C_Verify(h_session: int, p_data: Any, data_len: int, p_signature: Any, signature_len: int) -> int:
    data = _input(p_data, data_len)
    signatures.verify(LIB, h_session, data, _input(p_signature, signature_len))
    return CKR_OK


def C_VerifyUpdate(h_session: int, p_part: Any, part_len: int) -> int:
    signatures.verify_update(LIB, h_session, _input(p_part, part_len))
    return CKR_OK


def C_VerifyFinal(h_session: int, p_signature: Any, signature_len: int) -> int:
    signatures.verify_final(LIB, h_session, _input(p_signature, signature_len))
    return CKR_OK


def C_SessionCancel(h_session: int, flags: int) -> int:
    sessions.session_cancel(LIB, h_session)
    return CKR_OK


# -- §5.18 keys, §5.19 random ----------------------------------------------------------------------------------------
def C_GenerateKey(h_session: int, p_mechanism: Any, p_template: Any, count: int, ph_key: Any) -> int:
    if p_mechanism == ffi.NULL or ph_key == ffi.NULL or (p_template == ffi.NULL and count):
        return ARGUMENTS_BAD
    kind, _parameter = _mechanism(p_mechanism)
    ph_key[0] = keys.generate_key(LIB, h_session, kind, _template(p_template, count))
    return CKR_OK


def C_GenerateKeyPair(
    h_session: int,
    p_mechanism: Any,
    p_public: Any,
    public_count: int,
    p_private: Any,
    private_count: int,
    ph_public: Any,
    ph_private: Any,
) -> int:
    if ph_public == ffi.NULL or ph_private == ffi.NULL:
        return ARGUMENTS_BAD
    if (p_public == ffi.NULL and public_count) or (p_private == ffi.NULL and private_count):
        return ARGUMENTS_BAD
    kind, _parameter = _mechanism(p_mechanism)
    public, private = keys.generate_key_pair(
        LIB, h_session, kind, _template(p_public, public_count), _template(p_private, private_count)
    )
    ph_public[0], ph_private[0] = public, private
    return CKR_OK


def C_WrapKey(h_session: int, p_mechanism: Any, h_wrapping: int, h_key: int, p_out: Any, p_out_len: Any) -> int:
    _capacity(p_out, p_out_len)
    kind, parameter = _mechanism(p_mechanism)
    return _output(
        keys.wrap_key(LIB, h_session, kind, parameter, wrapping_handle=h_wrapping, key_handle=h_key), p_out, p_out_len
    )


def C_UnwrapKey(
    h_session: int,
    p_mechanism: Any,
    h_unwrapping: int,
    p_wrapped: Any,
    wrapped_len: int,
    p_template: Any,
    count: int,
    ph_key: Any,
) -> int:
    if ph_key == ffi.NULL or (p_template == ffi.NULL and count) or p_wrapped == ffi.NULL:
        return ARGUMENTS_BAD
    kind, parameter = _mechanism(p_mechanism)
    wrapped = _input(p_wrapped, wrapped_len)
    ph_key[0] = keys.unwrap_key(
        LIB,
        h_session,
        kind,
        parameter,
        unwrapping_handle=h_unwrapping,
        wrapped=wrapped,
        raw_template=_template(p_template, count),
    )
    return CKR_OK


def C_DeriveKey(h_session: int, p_mechanism: Any, h_base: int, p_template: Any, count: int, ph_key: Any) -> int:
    if ph_key == ffi.NULL or (p_template == ffi.NULL and count):
        return ARGUMENTS_BAD
    kind, parameter = _mechanism(p_mechanism)
    ph_key[0] = keys.derive_key(
        LIB, h_session, kind, parameter, base_handle=h_base, raw_template=_template(p_template, count)
    )
    return CKR_OK


# -- PKCS#11 3.2 key encapsulation ----------------------------------------------------------------------------------
def C_EncapsulateKey(
    h_session: int,
    p_mechanism: Any,
    h_public: int,
    p_template: Any,
    count: int,
    p_ciphertext: Any,
    p_ciphertext_len: Any,
    ph_key: Any,
) -> int:
    """3.2 C_EncapsulateKey: a NULL pCiphertext asks for the length (no key is made); a short buffer gets
    CKR_BUFFER_TOO_SMALL, also before any key is made."""
    if p_ciphertext_len == ffi.NULL or (p_template == ffi.NULL and count):
        return ARGUMENTS_BAD
    kind, parameter = _mechanism(p_mechanism)
    needed = keys.encapsulated_length(LIB, h_session, kind, parameter, h_public)
    if p_ciphertext == ffi.NULL or p_ciphertext_len[0] < needed:
        short = p_ciphertext != ffi.NULL
        p_ciphertext_len[0] = needed
        return BUFFER_TOO_SMALL if short else CKR_OK
    if ph_key == ffi.NULL:
        return ARGUMENTS_BAD
    ciphertext, handle = keys.encapsulate_key(
        LIB, h_session, kind, parameter, public_handle=h_public, raw_template=_template(p_template, count)
    )
    ffi.memmove(p_ciphertext, ciphertext, len(ciphertext))
    p_ciphertext_len[0] = len(ciphertext)
    ph_key[0] = handle
    return CKR_OK


def C_DecapsulateKey(
    h_session: int,
    p_mechanism: Any,
    h_private: int,
    p_template: Any,
    count: int,
    p_ciphertext: Any,
    ciphertext_len: int,
    ph_key: Any,
) -> int:
    """3.2 C_DecapsulateKey."""
    if ph_key == ffi.NULL or (p_template == ffi.NULL and count):
        return ARGUMENTS_BAD
    kind, parameter = _mechanism(p_mechanism)
    ph_key[0] = keys.decapsulate_key(
        LIB,
        h_session,
        kind,
        parameter,
        private_handle=h_private,
        ciphertext=_input(p_ciphertext, ciphertext_len),
        raw_template=_template(p_template, count),
    )
    return CKR_OK


def C_SeedRandom(h_session: int, p_seed: Any, seed_len: int) -> int:
    if p_seed == ffi.NULL and seed_len:
        return ARGUMENTS_BAD
    rng.seed_random(LIB, h_session, _bytes(p_seed, seed_len))
    return CKR_OK


def C_GenerateRandom(h_session: int, p_data: Any, length: int) -> int:
    if p_data == ffi.NULL and length:
        return ARGUMENTS_BAD
    data = rng.generate_random(LIB, h_session, length)
    ffi.memmove(p_data, data, length)
    return CKR_OK


#: Provider operation kind -> the number of the entry point that serves its kept outputs (``KEPT_OUTPUT_KINDS``).
KEPT_KINDS = {
    ciphers.ENCRYPT: KEPT_OUTPUT_KINDS["C_Encrypt"],
    ciphers.DECRYPT: KEPT_OUTPUT_KINDS["C_Decrypt"],
    signatures.SIGN: KEPT_OUTPUT_KINDS["C_Sign"],
}


class KeptInC:
    """``Library.KeptOutputs`` in shim.c's table (ks_kept_*), whose C_Encrypt, C_Decrypt and C_Sign entry points
    hand over the kept output of the provider operation kind each serves."""

    def __init__(self, lib: Any) -> None:
        self._put, self._take = lib.ks_kept_put, lib.ks_kept_take
        self.forget, self.clear = lib.ks_kept_forget, lib.ks_kept_clear
        self._served = lib.ks_kept_served  # the C array itself: read without a call (or the GIL released)
        self._slots = len(self._served)

    def keep(self, session: int, kind: str, data: bytes, output: bytes) -> int:
        return self._put(session, KEPT_KINDS[kind], data, len(data), output, len(output))  # type: ignore[no-any-return]

    def handed_over(self, ticket: int) -> bool:
        return self._served[ticket % self._slots] == ticket  # type: ignore[no-any-return]

    def take(self, session: int, kind: str) -> bool:
        return self._take(session, KEPT_KINDS[kind]) == 1  # type: ignore[no-any-return]


class AnswersInC:
    """``Library.KeptAnswers`` in shim.c's table (ks_answers_*), whose C_GetAttributeValue entry point answers the
    second call of a length query on a held key."""

    def __init__(self, lib: Any) -> None:
        self._generation = lib.ks_answers_generation  # the C array itself: read without a call
        self.clear = lib.ks_answers_clear

    def generation(self) -> int:
        return self._generation[0]  # type: ignore[no-any-return]


def _not_supported(*_args: Any) -> int:
    return NOT_SUPPORTED


def _on_error(exc_type: Any, exc: BaseException | None, _traceback: Any) -> int:
    """A callback raised: a provider failure (``CkError``) answers its CK_RV; any other exception is a bug, logged
    and answered CKR_GENERAL_ERROR (never unwinding into C). cffi returns what this returns, so the callbacks need
    no wrapper frame of their own."""
    if isinstance(exc, CkError):
        return int(exc.rv)
    log.error("internal error in the PKCS#11 provider", exc_info=(exc_type, exc, _traceback))
    return GENERAL_ERROR


def implementations() -> dict[str, Callable[..., int]]:
    """Every Python-served entry point: the implemented ones, the rest CKR_FUNCTION_NOT_SUPPORTED."""
    table = {}
    for name, _params in PYTHON_FUNCTIONS:
        function = globals().get(name)
        table[name] = function if callable(function) else _not_supported
    return table


def bind(the_ffi: Any, lib: Any) -> None:
    """Attach every callback to the embedded module, then tell the C side the callbacks are live."""
    global ffi, shim
    ffi, shim = the_ffi, lib
    LIB.outputs = KeptInC(lib)
    LIB.answers = AnswersInC(lib)
    for name, function in implementations().items():
        the_ffi.def_extern(name=f"ks_py_{name}", error=GENERAL_ERROR, onerror=_on_error)(function)
    lib.ks_mark_bound()


__all__ = ["LIB", "bind", "implementations"]
