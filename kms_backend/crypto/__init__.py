"""Keystead's cryptographic layer: pure functions over bytes and DER keys, parameterised by KMIP enumerations.

Used by the KMIP engine (Create, Create Key Pair, Register/Get Key Format Types, Encrypt, Decrypt, Sign,
Signature Verify, MAC, MAC Verify, Hash, RNG, Derive Key, Create/Join Split Key, key wrapping) and, through it, by
the PKCS#11 provider. No message handling and no storage here; every failure is a ``KmipError`` carrying a KMIP
Result Reason (the reasons used are listed in ``_common``). Primitives stay private (STYLE rule 8): this module
re-exports the API and nothing else.

Keys: symmetric keys are raw bytes; private keys are PKCS#8 DER, public keys SubjectPublicKeyInfo DER.
Approved-only mode is a keyword (``approved_only=True``) on every operation, fed from the server configuration.
"""

from __future__ import annotations

from ._approved import approved, require_approved
from ._asymmetric import (
    DIGEST_INFO_PREFIXES,
    SignStream,
    VerifyStream,
    decapsulate,
    dss_signature_to_raw,
    ecdh,
    ecdsa_signature_from_raw,
    ecdsa_signature_to_raw,
    encapsulate,
    prepare_sign,
    sign,
    verify,
)
from ._cipher import (
    decrypt,
    decrypt_stream,
    encrypt,
    encrypt_stream,
    prepare_decrypt,
    prepare_encrypt,
    supported_algorithms,
    unwrap_key,
    wrap_key,
)
from ._kdf import derive_key
from ._keys import (
    KeyDescription,
    TransparentKey,
    check_symmetric_key,
    clear_key_caches,
    decode_domain_parameters,
    describe_key,
    encode_domain_parameters,
    export_private_key,
    export_public_key,
    export_symmetric_key,
    finite_field_key,
    finite_field_numbers,
    generate_domain_parameters,
    generate_key_pair,
    generate_symmetric_key,
    import_private_key,
    import_public_key,
    import_symmetric_key,
    public_key_from_private,
)
from ._mac import DigestStream, MacStream, digest, mac, mac_verify
from ._params import CipherParams, DerivationParams, EncryptResult
from ._pki import (
    CertificateInfo,
    ChainValidation,
    CsrInfo,
    Pkcs12Content,
    build_name,
    build_pkcs7,
    build_pkcs12,
    certificate_info,
    certificate_to_pem,
    create_csr,
    issue_certificate,
    load_certificate,
    name_text,
    order_chain,
    parse_csr,
    parse_extensions,
    parse_name,
    parse_pkcs7,
    parse_pkcs12,
    validate_chain,
)
from ._random import random_bytes, seed
from ._selftest import run_self_tests
from ._split import join_secret, split_secret
from ._symmetric import CipherStream

__all__ = [
    # value types
    "CipherParams",
    "DerivationParams",
    "EncryptResult",
    "KeyDescription",
    "TransparentKey",
    # keys
    "check_symmetric_key",
    "generate_symmetric_key",
    "generate_key_pair",
    "generate_domain_parameters",
    "encode_domain_parameters",
    "decode_domain_parameters",
    "finite_field_key",
    "finite_field_numbers",
    "export_private_key",
    "export_public_key",
    "export_symmetric_key",
    "import_private_key",
    "import_public_key",
    "import_symmetric_key",
    "public_key_from_private",
    "describe_key",
    "clear_key_caches",
    "supported_algorithms",
    # encrypt / decrypt / wrap
    "encrypt",
    "decrypt",
    "encrypt_stream",
    "decrypt_stream",
    "prepare_encrypt",
    "prepare_decrypt",
    "CipherStream",
    "wrap_key",
    "unwrap_key",
    "encapsulate",
    "decapsulate",
    # signatures
    "sign",
    "prepare_sign",
    "DIGEST_INFO_PREFIXES",
    "verify",
    "SignStream",
    "VerifyStream",
    "ecdsa_signature_to_raw",
    "ecdsa_signature_from_raw",
    "dss_signature_to_raw",
    # MAC and hash
    "mac",
    "mac_verify",
    "MacStream",
    "digest",
    "DigestStream",
    # derivation and agreement
    "derive_key",
    "ecdh",
    # split keys
    "split_secret",
    "join_secret",
    # randomness
    "random_bytes",
    "seed",
    # PKI: X.509, CSRs, chains, PKCS#7 and PKCS#12
    "CertificateInfo",
    "ChainValidation",
    "CsrInfo",
    "Pkcs12Content",
    "build_name",
    "parse_name",
    "name_text",
    "parse_csr",
    "create_csr",
    "parse_extensions",
    "issue_certificate",
    "certificate_info",
    "load_certificate",
    "certificate_to_pem",
    "order_chain",
    "validate_chain",
    "build_pkcs7",
    "parse_pkcs7",
    "build_pkcs12",
    "parse_pkcs12",
    # policy and self tests
    "approved",
    "require_approved",
    "run_self_tests",
]
