"""Keystead's PKCS#11 provider: PKCS#11 (slots, tokens, sessions, handles) mapped to KMIP operations run by a
``Backend`` (the engine in-process, or a remote KMS). The C ABI lives in ``c_shim``, which calls the modules of
C_* functions below with the process's one ``Library``.

==================  ==============================================================================================
module              what
==================  ==============================================================================================
``library``         ``Library``: the state of one initialised instance (configuration, backend, its one slot,
                    the session table, object handles and views, session objects); every module below uses it
``general``         §5.4 C_Initialize, C_Finalize, C_GetInfo
``slots``           §5.5 slot and token information, C_InitToken, C_InitPIN, C_SetPIN
``sessions``        §5.6 C_OpenSession, C_CloseSession, C_SessionCancel, C_GetSessionInfo, C_Login, C_Logout
``objects``         §5.7 C_CreateObject, C_CopyObject, C_DestroyObject, attributes, C_FindObjects*
``keys``            §5.18 C_GenerateKey(Pair), C_WrapKey, C_UnwrapKey, C_DeriveKey
``ciphers``         §5.8-5.9 encryption and decryption
``signatures``      §5.11-5.12 signatures and MACs
``digests``         §5.10 digests (hashlib: no key is involved)
``rng``             §5.19 C_SeedRandom, C_GenerateRandom
``operations``      what the crypto functions share: the key check of each C_*Init, a session's active operation,
                    the §5.2 output kept for a second call (a copy offered to the C entry points, ``offer``)
``session_objects`` session secret keys held in memory, and the KMIP operations answered on them without an engine
``mechanisms``      the CKM table: one row per mechanism, by family, with its parameter layout and KMIP plan
``attributes``      the CKA table: PKCS#11 attributes to and from KMIP attributes
``imports``         C_CreateObject of key pairs and certificates (templates to the KMIP objects Register takes)
``label_aliases``   labels that applications search for under another name (Oracle TDE)
``backends``        where operations run: ``embedded`` (engine in-process), ``remote`` (a KMS), ``memory``
``config``          the YAML configuration and PIN hashes
``constants``       the PKCS#11 constants, typed
``errors``          ``CkError`` and the one table from KMIP Result Reason to CK_RV
``kmip_pkcs11``     the provider behind the KMS's KMIP PKCS#11 operation
==================  ==============================================================================================
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
