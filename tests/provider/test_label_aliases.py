"""Oracle TDE's label-only searches: ``ORACLE.SECURITY.KM.ENCRYPTION.<hex>`` finds ``ORACLE.TDE.HSM.MK.<MKID>``."""

from __future__ import annotations

from provider import keys, objects
from provider.constants import Attribute, Mechanism
from provider.label_aliases import oracle_security_label, search_labels
from provider.library import Library

from .test_library import aes_template, find

A = Attribute
MKID = "069F37D091A73D4F13BF2CE921EB2CF080"
MASTER = f"ORACLE.TDE.HSM.MK.{MKID}"
SECURITY = "ORACLE.SECURITY.KM.ENCRYPTION." + MKID.encode().hex().upper()


def test_security_label_designates_the_master_key():
    assert oracle_security_label(MASTER) == SECURITY
    assert search_labels(SECURITY) == (SECURITY, MASTER)
    lower = "ORACLE.SECURITY.KM.ENCRYPTION." + MKID.encode().hex()
    assert search_labels(lower) == (lower, MASTER)


def test_other_labels_have_no_alias():
    assert search_labels(MASTER) == (MASTER,)
    assert search_labels("plain") == ("plain",)
    assert search_labels("ORACLE.SECURITY.KM.ENCRYPTION.zz") == ("ORACLE.SECURITY.KM.ENCRYPTION.zz",)  # not hex
    assert search_labels("ORACLE.SECURITY.KM.ENCRYPTION.ff00") == ("ORACLE.SECURITY.KM.ENCRYPTION.ff00",)  # not ASCII
    assert search_labels("ORACLE.SECURITY.KM.ENCRYPTION.") == ("ORACLE.SECURITY.KM.ENCRYPTION.",)


def test_label_only_search_finds_the_master_key(lib: Library, user_session: int):
    master = keys.generate_key(lib, user_session, Mechanism.AES_KEY_GEN, aes_template(MASTER))
    keys.generate_key(lib, user_session, Mechanism.AES_KEY_GEN, aes_template(f"ORACLE.TDE.HSM.MK.06{'0' * 32}"))
    assert find(lib, user_session, [(A.LABEL, SECURITY.encode())]) == [master]
    assert find(lib, user_session, [(A.LABEL, MASTER.encode())]) == [master]
    # An object labelled with the security label itself is found too, once.
    data = objects.create_object(
        lib, user_session, [(A.CLASS, b"\0" * 8), (A.LABEL, SECURITY.encode()), (A.VALUE, b"companion")]
    )
    assert sorted(find(lib, user_session, [(A.LABEL, SECURITY.encode())])) == sorted([master, data])
    absent = oracle_security_label(f"ORACLE.TDE.HSM.MK.06{'1' * 32}")
    assert find(lib, user_session, [(A.LABEL, absent.encode())]) == []
