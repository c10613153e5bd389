"""The HSM layer (PKCS#11 through python-pkcs11): a key-encryption key that seals every stored object blob, keys
that live in the HSM (``hsm::<slot>::<label>``), and KEK rotation.

=============  =================================================================================================
module         what
=============  =================================================================================================
``session``    thread-safe session pool with login, recovery and retry on session/device faults
``kek``        the KEK: find/create, seal/unseal with AES-256-GCM in the HSM, the versioned sealed-blob header
``cache``      bounded LRU + age cache of unsealed blobs
``resident``   ``hsm::`` keys (a key source the engine routes to): Create, Create Key Pair, Encrypt, Decrypt,
               Sign, Get (public), Destroy
``rotation``   ``keystead hsm rotate-kek``: resumable re-sealing under a new KEK, retirement of the old one
``runtime``    settings, start-up checks and what an engine is built with (seal/unseal, the key source)
=============  =================================================================================================
"""

from .cache import UnsealCache
from .kek import KekInfo, KekSealer, SealedHeader, is_sealed, sealed_kek_id
from .resident import ResidentKeys, is_hsm_uid
from .rotation import RETIRE_CHOICES, RotationReport, rotate_kek
from .runtime import HsmRuntime, HsmSettings, open_hsm, open_sessions, startup_error
from .session import HsmSessions

__all__ = [
    "RETIRE_CHOICES",
    "HsmRuntime",
    "HsmSessions",
    "HsmSettings",
    "KekInfo",
    "KekSealer",
    "ResidentKeys",
    "RotationReport",
    "SealedHeader",
    "UnsealCache",
    "is_hsm_uid",
    "is_sealed",
    "open_hsm",
    "open_sessions",
    "rotate_kek",
    "sealed_kek_id",
    "startup_error",
]
