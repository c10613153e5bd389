"""Labels that applications search for under another name than the one their object carries.

Oracle Database TDE (HSM keystore) names its master key ``ORACLE.TDE.HSM.MK.<MKID>`` when it generates it
(C_GenerateKey, CKA_LABEL), but later looks the key up by CKA_LABEL alone as
``ORACLE.SECURITY.KM.ENCRYPTION.<hex of the MKID's ASCII characters>``. HSM modules used with TDE answer that
search with the master key (Cosmian's module does the same mapping). A search by such a label therefore matches
both objects labelled with it literally and the master key it designates.
"""

from __future__ import annotations

import binascii

ORACLE_SECURITY_PREFIX = "ORACLE.SECURITY.KM.ENCRYPTION."
ORACLE_MASTER_KEY_PREFIX = "ORACLE.TDE.HSM.MK."


def search_labels(label: str) -> tuple[str, ...]:
    """The labels a C_FindObjectsInit for ``label`` matches: the label itself, then any alias it designates."""
    if label.startswith(ORACLE_SECURITY_PREFIX):
        encoded = label[len(ORACLE_SECURITY_PREFIX) :]
        try:
            decoded = binascii.unhexlify(encoded).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return (label,)  # not Oracle's encoding: only the literal label can match
        if decoded.isprintable() and decoded:
            return (label, ORACLE_MASTER_KEY_PREFIX + decoded)
    return (label,)


def oracle_security_label(master_key_label: str) -> str:
    """The ``ORACLE.SECURITY.KM.ENCRYPTION.`` label Oracle searches for to find a ``ORACLE.TDE.HSM.MK.`` key."""
    if not master_key_label.startswith(ORACLE_MASTER_KEY_PREFIX):
        raise ValueError(f"not an Oracle TDE master key label: {master_key_label!r}")
    mkid = master_key_label[len(ORACLE_MASTER_KEY_PREFIX) :]
    return ORACLE_SECURITY_PREFIX + mkid.encode("ascii").hex().upper()


__all__ = ["ORACLE_MASTER_KEY_PREFIX", "ORACLE_SECURITY_PREFIX", "oracle_security_label", "search_labels"]
