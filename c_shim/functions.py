"""The PKCS#11 function table the shim is generated from (PKCS#11 Base Specification 3.0 §5, in the order of
``CK_FUNCTION_LIST``, ``CK_FUNCTION_LIST_3_0`` and ``CK_FUNCTION_LIST_3_2``).

Each entry is ``(name, parameters)``; parameters are ``(C type, name)`` pairs. The build script turns this table
into the exported C entry points, the two function-list structures, the cffi ``extern "Python"`` declarations,
and the marshalling layer checks its own functions against it, so a signature is written exactly once.
"""

from __future__ import annotations

Param = tuple[str, str]
Function = tuple[str, tuple[Param, ...]]

_S = ("CK_SESSION_HANDLE", "hSession")
_MECH = ("CK_MECHANISM_PTR", "pMechanism")
_KEY = ("CK_OBJECT_HANDLE", "hKey")


def _fn(name: str, *params: Param) -> Function:
    return (name, params)


def _out(prefix: str) -> tuple[Param, Param]:
    """An output buffer and its in/out length (§5.2 conventions for variable-length output)."""
    return (("CK_BYTE_PTR", f"p{prefix}"), ("CK_ULONG_PTR", f"pul{prefix}Len"))


def _in(prefix: str) -> tuple[Param, Param]:
    return (("CK_BYTE_PTR", f"p{prefix}"), ("CK_ULONG", f"ul{prefix}Len"))


#: ``CK_FUNCTION_LIST`` (version 2.40): 68 functions, C_GetFunctionList included.
FUNCTIONS_2_40: tuple[Function, ...] = (
    _fn("C_Initialize", ("CK_VOID_PTR", "pInitArgs")),
    _fn("C_Finalize", ("CK_VOID_PTR", "pReserved")),
    _fn("C_GetInfo", ("CK_INFO_PTR", "pInfo")),
    _fn("C_GetFunctionList", ("CK_FUNCTION_LIST_PTR_PTR", "ppFunctionList")),
    _fn("C_GetSlotList", ("CK_BBOOL", "tokenPresent"), ("CK_SLOT_ID_PTR", "pSlotList"), ("CK_ULONG_PTR", "pulCount")),
    _fn("C_GetSlotInfo", ("CK_SLOT_ID", "slotID"), ("CK_SLOT_INFO_PTR", "pInfo")),
    _fn("C_GetTokenInfo", ("CK_SLOT_ID", "slotID"), ("CK_TOKEN_INFO_PTR", "pInfo")),
    _fn(
        "C_GetMechanismList",
        ("CK_SLOT_ID", "slotID"),
        ("CK_MECHANISM_TYPE_PTR", "pMechanismList"),
        ("CK_ULONG_PTR", "pulCount"),
    ),
    _fn(
        "C_GetMechanismInfo",
        ("CK_SLOT_ID", "slotID"),
        ("CK_MECHANISM_TYPE", "type"),
        ("CK_MECHANISM_INFO_PTR", "pInfo"),
    ),
    _fn("C_InitToken", ("CK_SLOT_ID", "slotID"), *_in("Pin"), ("CK_UTF8CHAR_PTR", "pLabel")),
    _fn("C_InitPIN", _S, *_in("Pin")),
    _fn("C_SetPIN", _S, *_in("OldPin"), *_in("NewPin")),
    _fn(
        "C_OpenSession",
        ("CK_SLOT_ID", "slotID"),
        ("CK_FLAGS", "flags"),
        ("CK_VOID_PTR", "pApplication"),
        ("CK_NOTIFY", "Notify"),
        ("CK_SESSION_HANDLE_PTR", "phSession"),
    ),
    _fn("C_CloseSession", _S),
    _fn("C_CloseAllSessions", ("CK_SLOT_ID", "slotID")),
    _fn("C_GetSessionInfo", _S, ("CK_SESSION_INFO_PTR", "pInfo")),
    _fn("C_GetOperationState", _S, *_out("OperationState")),
    _fn(
        "C_SetOperationState",
        _S,
        *_in("OperationState"),
        ("CK_OBJECT_HANDLE", "hEncryptionKey"),
        ("CK_OBJECT_HANDLE", "hAuthenticationKey"),
    ),
    _fn("C_Login", _S, ("CK_USER_TYPE", "userType"), *_in("Pin")),
    _fn("C_Logout", _S),
    _fn(
        "C_CreateObject",
        _S,
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulCount"),
        ("CK_OBJECT_HANDLE_PTR", "phObject"),
    ),
    _fn(
        "C_CopyObject",
        _S,
        ("CK_OBJECT_HANDLE", "hObject"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulCount"),
        ("CK_OBJECT_HANDLE_PTR", "phNewObject"),
    ),
    _fn("C_DestroyObject", _S, ("CK_OBJECT_HANDLE", "hObject")),
    _fn("C_GetObjectSize", _S, ("CK_OBJECT_HANDLE", "hObject"), ("CK_ULONG_PTR", "pulSize")),
    _fn(
        "C_GetAttributeValue",
        _S,
        ("CK_OBJECT_HANDLE", "hObject"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulCount"),
    ),
    _fn(
        "C_SetAttributeValue",
        _S,
        ("CK_OBJECT_HANDLE", "hObject"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulCount"),
    ),
    _fn("C_FindObjectsInit", _S, ("CK_ATTRIBUTE_PTR", "pTemplate"), ("CK_ULONG", "ulCount")),
    _fn(
        "C_FindObjects",
        _S,
        ("CK_OBJECT_HANDLE_PTR", "phObject"),
        ("CK_ULONG", "ulMaxObjectCount"),
        ("CK_ULONG_PTR", "pulObjectCount"),
    ),
    _fn("C_FindObjectsFinal", _S),
    _fn("C_EncryptInit", _S, _MECH, _KEY),
    _fn("C_Encrypt", _S, *_in("Data"), *_out("EncryptedData")),
    _fn("C_EncryptUpdate", _S, *_in("Part"), *_out("EncryptedPart")),
    _fn("C_EncryptFinal", _S, *_out("LastEncryptedPart")),
    _fn("C_DecryptInit", _S, _MECH, _KEY),
    _fn("C_Decrypt", _S, *_in("EncryptedData"), *_out("Data")),
    _fn("C_DecryptUpdate", _S, *_in("EncryptedPart"), *_out("Part")),
    _fn("C_DecryptFinal", _S, *_out("LastPart")),
    _fn("C_DigestInit", _S, _MECH),
    _fn("C_Digest", _S, *_in("Data"), *_out("Digest")),
    _fn("C_DigestUpdate", _S, *_in("Part")),
    _fn("C_DigestKey", _S, _KEY),
    _fn("C_DigestFinal", _S, *_out("Digest")),
    _fn("C_SignInit", _S, _MECH, _KEY),
    _fn("C_Sign", _S, *_in("Data"), *_out("Signature")),
    _fn("C_SignUpdate", _S, *_in("Part")),
    _fn("C_SignFinal", _S, *_out("Signature")),
    _fn("C_SignRecoverInit", _S, _MECH, _KEY),
    _fn("C_SignRecover", _S, *_in("Data"), *_out("Signature")),
    _fn("C_VerifyInit", _S, _MECH, _KEY),
    _fn("C_Verify", _S, *_in("Data"), *_in("Signature")),
    _fn("C_VerifyUpdate", _S, *_in("Part")),
    _fn("C_VerifyFinal", _S, *_in("Signature")),
    _fn("C_VerifyRecoverInit", _S, _MECH, _KEY),
    _fn("C_VerifyRecover", _S, *_in("Signature"), *_out("Data")),
    _fn("C_DigestEncryptUpdate", _S, *_in("Part"), *_out("EncryptedPart")),
    _fn("C_DecryptDigestUpdate", _S, *_in("EncryptedPart"), *_out("Part")),
    _fn("C_SignEncryptUpdate", _S, *_in("Part"), *_out("EncryptedPart")),
    _fn("C_DecryptVerifyUpdate", _S, *_in("EncryptedPart"), *_out("Part")),
    _fn(
        "C_GenerateKey",
        _S,
        _MECH,
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulCount"),
        ("CK_OBJECT_HANDLE_PTR", "phKey"),
    ),
    _fn(
        "C_GenerateKeyPair",
        _S,
        _MECH,
        ("CK_ATTRIBUTE_PTR", "pPublicKeyTemplate"),
        ("CK_ULONG", "ulPublicKeyAttributeCount"),
        ("CK_ATTRIBUTE_PTR", "pPrivateKeyTemplate"),
        ("CK_ULONG", "ulPrivateKeyAttributeCount"),
        ("CK_OBJECT_HANDLE_PTR", "phPublicKey"),
        ("CK_OBJECT_HANDLE_PTR", "phPrivateKey"),
    ),
    _fn(
        "C_WrapKey",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hWrappingKey"),
        _KEY,
        *_out("WrappedKey"),
    ),
    _fn(
        "C_UnwrapKey",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hUnwrappingKey"),
        *_in("WrappedKey"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulAttributeCount"),
        ("CK_OBJECT_HANDLE_PTR", "phKey"),
    ),
    _fn(
        "C_DeriveKey",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hBaseKey"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulAttributeCount"),
        ("CK_OBJECT_HANDLE_PTR", "phKey"),
    ),
    _fn("C_SeedRandom", _S, *_in("Seed")),
    _fn("C_GenerateRandom", _S, ("CK_BYTE_PTR", "pRandomData"), ("CK_ULONG", "ulRandomLen")),
    _fn("C_GetFunctionStatus", _S),
    _fn("C_CancelFunction", _S),
    _fn("C_WaitForSlotEvent", ("CK_FLAGS", "flags"), ("CK_SLOT_ID_PTR", "pSlot"), ("CK_VOID_PTR", "pReserved")),
)

_PARAM = ("CK_VOID_PTR", "pParameter")
_PARAM_LEN = ("CK_ULONG", "ulParameterLen")

#: Functions ``CK_FUNCTION_LIST_3_0`` adds after the 2.40 ones (§5.4.5-5.4.6, §5.6, §5.9, §5.11, §5.14, §5.16).
FUNCTIONS_3_0_EXTRA: tuple[Function, ...] = (
    _fn("C_GetInterfaceList", ("CK_INTERFACE_PTR", "pInterfacesList"), ("CK_ULONG_PTR", "pulCount")),
    _fn(
        "C_GetInterface",
        ("CK_UTF8CHAR_PTR", "pInterfaceName"),
        ("CK_VERSION_PTR", "pVersion"),
        ("CK_INTERFACE_PTR_PTR", "ppInterface"),
        ("CK_FLAGS", "flags"),
    ),
    _fn("C_LoginUser", _S, ("CK_USER_TYPE", "userType"), *_in("Pin"), *_in("Username")),
    _fn("C_SessionCancel", _S, ("CK_FLAGS", "flags")),
    _fn("C_MessageEncryptInit", _S, _MECH, _KEY),
    _fn(
        "C_EncryptMessage",
        _S,
        _PARAM,
        _PARAM_LEN,
        *_in("AssociatedData"),
        *_in("Plaintext"),
        *_out("Ciphertext"),
    ),
    _fn("C_EncryptMessageBegin", _S, _PARAM, _PARAM_LEN, *_in("AssociatedData")),
    _fn(
        "C_EncryptMessageNext",
        _S,
        _PARAM,
        _PARAM_LEN,
        *_in("PlaintextPart"),
        *_out("CiphertextPart"),
        ("CK_FLAGS", "flags"),
    ),
    _fn("C_MessageEncryptFinal", _S),
    _fn("C_MessageDecryptInit", _S, _MECH, _KEY),
    _fn(
        "C_DecryptMessage",
        _S,
        _PARAM,
        _PARAM_LEN,
        *_in("AssociatedData"),
        *_in("Ciphertext"),
        *_out("Plaintext"),
    ),
    _fn("C_DecryptMessageBegin", _S, _PARAM, _PARAM_LEN, *_in("AssociatedData")),
    _fn(
        "C_DecryptMessageNext",
        _S,
        _PARAM,
        _PARAM_LEN,
        *_in("CiphertextPart"),
        *_out("PlaintextPart"),
        ("CK_FLAGS", "flags"),
    ),
    _fn("C_MessageDecryptFinal", _S),
    _fn("C_MessageSignInit", _S, _MECH, _KEY),
    _fn("C_SignMessage", _S, _PARAM, _PARAM_LEN, *_in("Data"), *_out("Signature")),
    _fn("C_SignMessageBegin", _S, _PARAM, _PARAM_LEN),
    _fn("C_SignMessageNext", _S, _PARAM, _PARAM_LEN, *_in("Data"), *_out("Signature")),
    _fn("C_MessageSignFinal", _S),
    _fn("C_MessageVerifyInit", _S, _MECH, _KEY),
    _fn("C_VerifyMessage", _S, _PARAM, _PARAM_LEN, *_in("Data"), *_in("Signature")),
    _fn("C_VerifyMessageBegin", _S, _PARAM, _PARAM_LEN),
    _fn("C_VerifyMessageNext", _S, _PARAM, _PARAM_LEN, *_in("Data"), *_in("Signature")),
    _fn("C_MessageVerifyFinal", _S),
)

#: Functions ``CK_FUNCTION_LIST_3_2`` adds after the 3.0 ones (PKCS#11 3.2 pkcs11f.h order: KEMs, signature
#: verification with the signature first, validation flags, asynchronous operations, authenticated key wrapping).
FUNCTIONS_3_2_EXTRA: tuple[Function, ...] = (
    _fn(
        "C_EncapsulateKey",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hPublicKey"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulAttributeCount"),
        *_out("Ciphertext"),
        ("CK_OBJECT_HANDLE_PTR", "phKey"),
    ),
    _fn(
        "C_DecapsulateKey",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hPrivateKey"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulAttributeCount"),
        *_in("Ciphertext"),
        ("CK_OBJECT_HANDLE_PTR", "phKey"),
    ),
    _fn("C_VerifySignatureInit", _S, _MECH, _KEY, *_in("Signature")),
    _fn("C_VerifySignature", _S, *_in("Data")),
    _fn("C_VerifySignatureUpdate", _S, *_in("Part")),
    _fn("C_VerifySignatureFinal", _S),
    _fn(
        "C_GetSessionValidationFlags",
        _S,
        ("CK_SESSION_VALIDATION_FLAGS_TYPE", "type"),
        ("CK_FLAGS_PTR", "pFlags"),
    ),
    _fn("C_AsyncComplete", _S, ("CK_UTF8CHAR_PTR", "pFunctionName"), ("CK_ASYNC_DATA_PTR", "pResult")),
    _fn("C_AsyncGetID", _S, ("CK_UTF8CHAR_PTR", "pFunctionName"), ("CK_ULONG_PTR", "pulID")),
    _fn(
        "C_AsyncJoin",
        _S,
        ("CK_UTF8CHAR_PTR", "pFunctionName"),
        ("CK_ULONG", "ulID"),
        ("CK_BYTE_PTR", "pData"),
        ("CK_ULONG", "ulData"),
    ),
    _fn(
        "C_WrapKeyAuthenticated",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hWrappingKey"),
        _KEY,
        *_in("AssociatedData"),
        *_out("WrappedKey"),
    ),
    _fn(
        "C_UnwrapKeyAuthenticated",
        _S,
        _MECH,
        ("CK_OBJECT_HANDLE", "hUnwrappingKey"),
        *_in("WrappedKey"),
        ("CK_ATTRIBUTE_PTR", "pTemplate"),
        ("CK_ULONG", "ulAttributeCount"),
        *_in("AssociatedData"),
        ("CK_OBJECT_HANDLE_PTR", "phKey"),
    ),
)

#: Entry points implemented in C (they must work before, and without, Python).
C_ONLY = frozenset({"C_GetFunctionList", "C_GetInterfaceList", "C_GetInterface"})

#: Entry points that hand over, in C, the output a single-part length query kept (§5.2; shim.c's header comment),
#: each with the number its entries carry in the C table. Their parameters are (session, input, its length, output,
#: its length pointer).
KEPT_OUTPUT_KINDS: dict[str, int] = {"C_Encrypt": 1, "C_Decrypt": 2, "C_Sign": 3}

ALL_FUNCTIONS: tuple[Function, ...] = FUNCTIONS_2_40 + FUNCTIONS_3_0_EXTRA + FUNCTIONS_3_2_EXTRA
#: Entry points forwarded to Python (everything else).
PYTHON_FUNCTIONS: tuple[Function, ...] = tuple(f for f in ALL_FUNCTIONS if f[0] not in C_ONLY)

__all__ = [
    "ALL_FUNCTIONS",
    "C_ONLY",
    "FUNCTIONS_2_40",
    "FUNCTIONS_3_0_EXTRA",
    "FUNCTIONS_3_2_EXTRA",
    "KEPT_OUTPUT_KINDS",
    "PYTHON_FUNCTIONS",
]
