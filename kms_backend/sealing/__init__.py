"""Stored key material sealed at rest: the sealed-blob format every key-encryption key writes (``blob``), the
software key-encryption key from a key file (a key ring) or the environment (``software``), the store's choice of
the key that seals new writes, followed by every server sharing the database (``active``), the re-sealing loop both
key rotations share (``reseal``), and migration of a database written before sealing and rotation of the software key
(``rekey``). The HSM's key-encryption key (``hsm.kek``) writes the same format; its rotation (``hsm.rotation``)
re-seals through ``reseal`` too.
"""

from .active import ActiveKeyWatch, adopt_store_key
from .blob import SealedHeader, is_sealed, sealed_kek_id
from .rekey import RETIRE_CHOICES, RekeyReport, rekey, seal_once, seal_unsealed, store_marker
from .software import KeyFileKeyring, Keyring, SoftwareSealer, key_id, parse_key

__all__ = [
    "RETIRE_CHOICES",
    "ActiveKeyWatch",
    "KeyFileKeyring",
    "Keyring",
    "RekeyReport",
    "SealedHeader",
    "SoftwareSealer",
    "adopt_store_key",
    "is_sealed",
    "key_id",
    "parse_key",
    "rekey",
    "seal_once",
    "seal_unsealed",
    "sealed_kek_id",
    "store_marker",
]
