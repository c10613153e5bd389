/* A PKCS#11 2.40 caller's view of a module, for the replay harnesses (Oracle TDE, VeraCrypt): written from the
 * OASIS PKCS#11 Base Specification (section 3 data types, section 5 function list order), Linux x86-64 layout.
 * Applications reach the module the way these products do: dlopen, C_GetFunctionList, then the list. */
#ifndef KEYSTEAD_P11_CLIENT_H
#define KEYSTEAD_P11_CLIENT_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned char CK_BYTE;
typedef CK_BYTE CK_BBOOL;
typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV, CK_FLAGS, CK_SLOT_ID, CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_USER_TYPE, CK_STATE;
typedef CK_ULONG CK_MECHANISM_TYPE, CK_ATTRIBUTE_TYPE, CK_OBJECT_CLASS, CK_KEY_TYPE;

typedef struct { CK_BYTE major, minor; } CK_VERSION;
typedef struct {
    CK_BYTE slotDescription[64], manufacturerID[32];
    CK_FLAGS flags;
    CK_VERSION hardwareVersion, firmwareVersion;
} CK_SLOT_INFO;
typedef struct {
    CK_BYTE label[32], manufacturerID[32], model[16], serialNumber[16];
    CK_FLAGS flags;
    CK_ULONG ulMaxSessionCount, ulSessionCount, ulMaxRwSessionCount, ulRwSessionCount, ulMaxPinLen, ulMinPinLen;
    CK_ULONG ulTotalPublicMemory, ulFreePublicMemory, ulTotalPrivateMemory, ulFreePrivateMemory;
    CK_VERSION hardwareVersion, firmwareVersion;
    CK_BYTE utcTime[16];
} CK_TOKEN_INFO;
typedef struct { CK_SLOT_ID slotID; CK_STATE state; CK_FLAGS flags; CK_ULONG ulDeviceError; } CK_SESSION_INFO;
typedef struct { CK_ATTRIBUTE_TYPE type; void *pValue; CK_ULONG ulValueLen; } CK_ATTRIBUTE;
typedef struct { CK_MECHANISM_TYPE mechanism; void *pParameter; CK_ULONG ulParameterLen; } CK_MECHANISM;

#define CKR_OK 0x0UL
#define CKR_ATTRIBUTE_SENSITIVE 0x11UL
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKF_TOKEN_PRESENT 0x1UL
#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKF_WRITE_PROTECTED 0x2UL
#define CKF_LOGIN_REQUIRED 0x4UL
#define CKF_PROTECTED_AUTHENTICATION_PATH 0x100UL
#define CKU_USER 1UL
#define CKS_RO_USER_FUNCTIONS 1UL
#define CKS_RW_USER_FUNCTIONS 3UL
#define CKO_DATA 0x0UL
#define CKO_SECRET_KEY 0x4UL
#define CKK_AES 0x1FUL
#define CKA_CLASS 0x0UL
#define CKA_TOKEN 0x1UL
#define CKA_PRIVATE 0x2UL
#define CKA_LABEL 0x3UL
#define CKA_VALUE 0x11UL
#define CKA_KEY_TYPE 0x100UL
#define CKA_SENSITIVE 0x103UL
#define CKA_ENCRYPT 0x104UL
#define CKA_DECRYPT 0x105UL
#define CKA_WRAP 0x106UL
#define CKA_UNWRAP 0x107UL
#define CKA_VALUE_LEN 0x161UL
#define CKA_EXTRACTABLE 0x162UL
#define CKM_AES_KEY_GEN 0x1080UL
#define CKM_AES_CBC 0x1082UL
#define CKM_AES_CBC_PAD 0x1085UL
#define CK_TRUE 1
#define CK_FALSE 0

typedef void *UNUSED_FN; /* functions the replays never call: only their slot in the list matters */
typedef struct CK_FUNCTION_LIST {
    CK_VERSION version;
    CK_RV (*C_Initialize)(void *);
    CK_RV (*C_Finalize)(void *);
    UNUSED_FN C_GetInfo, C_GetFunctionList;
    CK_RV (*C_GetSlotList)(CK_BBOOL, CK_SLOT_ID *, CK_ULONG *);
    CK_RV (*C_GetSlotInfo)(CK_SLOT_ID, CK_SLOT_INFO *);
    CK_RV (*C_GetTokenInfo)(CK_SLOT_ID, CK_TOKEN_INFO *);
    UNUSED_FN C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN;
    CK_RV (*C_OpenSession)(CK_SLOT_ID, CK_FLAGS, void *, void *, CK_SESSION_HANDLE *);
    CK_RV (*C_CloseSession)(CK_SESSION_HANDLE);
    UNUSED_FN C_CloseAllSessions;
    CK_RV (*C_GetSessionInfo)(CK_SESSION_HANDLE, CK_SESSION_INFO *);
    UNUSED_FN C_GetOperationState, C_SetOperationState;
    CK_RV (*C_Login)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_BYTE *, CK_ULONG);
    CK_RV (*C_Logout)(CK_SESSION_HANDLE);
    CK_RV (*C_CreateObject)(CK_SESSION_HANDLE, CK_ATTRIBUTE *, CK_ULONG, CK_OBJECT_HANDLE *);
    UNUSED_FN C_CopyObject;
    CK_RV (*C_DestroyObject)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
    UNUSED_FN C_GetObjectSize;
    CK_RV (*C_GetAttributeValue)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE *, CK_ULONG);
    UNUSED_FN C_SetAttributeValue;
    CK_RV (*C_FindObjectsInit)(CK_SESSION_HANDLE, CK_ATTRIBUTE *, CK_ULONG);
    CK_RV (*C_FindObjects)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE *, CK_ULONG, CK_ULONG *);
    CK_RV (*C_FindObjectsFinal)(CK_SESSION_HANDLE);
    CK_RV (*C_EncryptInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
    CK_RV (*C_Encrypt)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    UNUSED_FN C_EncryptUpdate, C_EncryptFinal;
    CK_RV (*C_DecryptInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
    CK_RV (*C_Decrypt)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
    UNUSED_FN C_DecryptUpdate, C_DecryptFinal;
    UNUSED_FN C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal;
    UNUSED_FN C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit, C_SignRecover;
    UNUSED_FN C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover;
    UNUSED_FN C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate;
    CK_RV (*C_GenerateKey)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG, CK_OBJECT_HANDLE *);
    UNUSED_FN C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom;
    CK_RV (*C_GenerateRandom)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG);
    UNUSED_FN C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent;
} CK_FUNCTION_LIST;

/* Exit with the failing call and its CK_RV in hexadecimal: the test reads it from stderr. */
#define CHECK(call)                                                                     \
    do {                                                                                \
        CK_RV rv_ = (call);                                                             \
        if (rv_ != CKR_OK) {                                                            \
            fprintf(stderr, "%s failed: CK_RV 0x%lx (line %d)\n", #call, rv_, __LINE__); \
            exit(3);                                                                    \
        }                                                                               \
    } while (0)

/* dlopen(RTLD_NOW | RTLD_LOCAL) and C_GetFunctionList, as both products load a vendor module. */
static inline CK_FUNCTION_LIST *p11_load(const char *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        exit(2);
    }
    CK_RV (*get_list)(CK_FUNCTION_LIST **) = (CK_RV(*)(CK_FUNCTION_LIST **))dlsym(handle, "C_GetFunctionList");
    if (get_list == NULL) {
        fprintf(stderr, "%s has no C_GetFunctionList\n", path);
        exit(2);
    }
    CK_FUNCTION_LIST *list = NULL;
    CHECK(get_list(&list));
    return list;
}

static inline void hex_print(const CK_BYTE *data, CK_ULONG length) {
    for (CK_ULONG i = 0; i < length; i++) printf("%02x", data[i]);
    printf("\n");
}

static inline CK_ULONG hex_parse(const char *text, CK_BYTE *out, CK_ULONG capacity) {
    CK_ULONG n = strlen(text) / 2;
    if (n > capacity) {
        fprintf(stderr, "hex input longer than %lu bytes\n", capacity);
        exit(2);
    }
    for (CK_ULONG i = 0; i < n; i++) {
        unsigned int byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1) {
            fprintf(stderr, "bad hex input\n");
            exit(2);
        }
        out[i] = (CK_BYTE)byte;
    }
    return n;
}

#endif
