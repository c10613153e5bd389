"""The CKM table (STYLE rule 14; PKCS#11 Current Mechanisms 3.0): one row per mechanism the token offers, owning
its CK_MECHANISM_INFO (key sizes, CKF flags), the C layout of its parameter and its KMIP plan, kept together by
family as kryoptic does (``aes``, ``des``, ``rsa``, ``dsa``, ``dh``, ``ec``, ``pqc``, ``hmac``, ``digest``;
``_table`` gathers them).

Only what is implemented is listed, so C_GetMechanismList never advertises a mechanism that fails. Adding a
mechanism is one row in its family module: its ``MechanismSpec`` with the ``CStruct`` layouts of its parameter
(the shim reads any declared layout, nothing to write in C) and the planner that turns the parameter into KMIP
fields. The CKM value itself comes from ``constants.Mechanism``.
"""

from __future__ import annotations

from ._base import (
    DIGEST_MECHANISMS,
    HASHES,
    MGF_HASHES,
    CField,
    CipherPlan,
    CStruct,
    MacGeneralParams,
    MechanismParameter,
    MechanismSpec,
    SignaturePlan,
    StructParameter,
)
from ._table import FAMILIES, MECHANISMS, PARAMETER_LAYOUTS, cipher_plan, lookup, signature_plan, wrap_parameters
from .aes import CtrParams, GcmParams
from .ec import Ecdh1Params, EddsaParams
from .hmac import HMAC_ALGORITHMS
from .rsa import OaepParams, PssParams, oaep_parameters

__all__ = [
    "DIGEST_MECHANISMS",
    "FAMILIES",
    "HASHES",
    "HMAC_ALGORITHMS",
    "MECHANISMS",
    "MGF_HASHES",
    "PARAMETER_LAYOUTS",
    "CField",
    "CStruct",
    "CipherPlan",
    "CtrParams",
    "Ecdh1Params",
    "EddsaParams",
    "GcmParams",
    "MacGeneralParams",
    "MechanismParameter",
    "MechanismSpec",
    "OaepParams",
    "PssParams",
    "SignaturePlan",
    "StructParameter",
    "cipher_plan",
    "lookup",
    "oaep_parameters",
    "signature_plan",
    "wrap_parameters",
]
