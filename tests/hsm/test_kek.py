"""The key-encryption key: find/create, protection attributes, sealing with AES-256-GCM in SoftHSM, the header."""

from __future__ import annotations

from collections.abc import Iterator

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from kms_backend.hsm import HsmSessions, KekSealer, SealedHeader, UnsealCache, is_sealed, sealed_kek_id
from kms_backend.hsm.kek import MAGIC
from kms_backend.kmip._registry_data import ResultReason
from kms_backend.kmip.errors import KmipError

from .conftest import token, unique

PLAIN = b"\x42\x00\x8f\x01" + bytes(range(60))


@pytest.fixture
def sessions(softhsm) -> Iterator[HsmSessions]:
    tok = token(softhsm, "kek")
    pool = HsmSessions(tok.module, tok.label, tok.pin)
    pool.connect()
    yield pool
    pool.close()


def test_create_then_find_the_kek(sessions: HsmSessions) -> None:
    label = unique("kek")
    with pytest.raises(KmipError) as missing:
        KekSealer(sessions, label).open()
    assert missing.value.reason == ResultReason.PROTECTION_STORAGE_UNAVAILABLE
    assert label in missing.value.message and "--hsm-create-kek" in missing.value.message
    created = KekSealer(sessions, label).open(create=True)
    found = KekSealer(sessions, label).open()
    assert found == created and len(found.kek_id) == 16


def test_kek_is_sensitive_and_never_extractable(sessions: HsmSessions) -> None:
    label = unique("kek")
    info = KekSealer(sessions, label).open(create=True)

    def attributes(pooled):
        key = pooled.session.get_key(object_class=ObjectClass.SECRET_KEY, id=info.kek_id)
        try:
            key[Attribute.VALUE]
            value_readable = True
        except pkcs11.exceptions.AttributeSensitive:
            value_readable = False
        return (
            key[Attribute.SENSITIVE],
            key[Attribute.EXTRACTABLE],
            key[Attribute.VALUE_LEN],
            key[Attribute.TOKEN],
            value_readable,
        )

    assert sessions.run(attributes) == (True, False, 32, True, False)


def test_an_extractable_key_is_refused_as_kek(sessions: HsmSessions) -> None:
    label = unique("weak")
    sessions.run(
        lambda p: p.session.generate_key(
            KeyType.AES, 256, label=label, id=b"weak", store=True, template={Attribute.EXTRACTABLE: True}
        )
    )
    with pytest.raises(KmipError, match="not protected"):
        KekSealer(sessions, label).open()


def test_two_active_keks_with_one_label_are_ambiguous(sessions: HsmSessions) -> None:
    label = unique("dup")
    sealer = KekSealer(sessions, label)
    sealer.create(label)
    sealer.create(label)
    with pytest.raises(KmipError, match="may encrypt; keep one"):
        sealer.open()


def test_seal_unseal_round_trip_and_header(sessions: HsmSessions) -> None:
    sealer = KekSealer(sessions, unique("kek"))
    info = sealer.open(create=True)
    sealed = sealer.seal("uid-1", PLAIN)
    assert is_sealed(sealed) and sealed.startswith(MAGIC)
    assert PLAIN not in sealed
    header, ciphertext = SealedHeader.parse(sealed)
    assert header.kek_id == info.kek_id == sealed_kek_id(sealed)
    assert header.version == 1 and header.algorithm == 1 and len(header.iv) == 12
    assert len(ciphertext) == len(PLAIN) + 16
    assert sealer.unseal("uid-1", sealed) == PLAIN
    assert sealer.seal("uid-1", PLAIN) != sealed  # fresh IV each time


def test_a_blob_is_bound_to_its_object(sessions: HsmSessions) -> None:
    sealer = KekSealer(sessions, unique("kek"))
    sealer.open(create=True)
    sealed = sealer.seal("uid-1", PLAIN)
    with pytest.raises(KmipError) as other:
        sealer.unseal("uid-2", sealed)
    assert other.value.reason == ResultReason.CRYPTOGRAPHIC_FAILURE
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(KmipError, match="failed authentication"):
        sealer.unseal("uid-1", tampered)
    with pytest.raises(KmipError, match="cannot be unsealed"):
        sealer.unseal("uid-1", MAGIC + b"\x09\x01\x00")


def test_plaintext_blobs_are_refused_unless_accepted(sessions: HsmSessions) -> None:
    sealer = KekSealer(sessions, unique("kek"))
    sealer.open(create=True)
    with pytest.raises(KmipError, match="rotate-kek"):
        sealer.unseal("uid-1", PLAIN)
    sealer.accept_plaintext = True
    assert sealer.unseal("uid-1", PLAIN) == PLAIN


def test_unsealing_finds_any_kek_by_id(sessions: HsmSessions) -> None:
    first = KekSealer(sessions, unique("a"))
    first.open(create=True)
    sealed = first.seal("uid-1", PLAIN)
    second = KekSealer(sessions, unique("b"))
    second.open(create=True)
    assert second.unseal("uid-1", sealed) == PLAIN


def test_sealing_follows_the_label_when_the_kek_is_retired(sessions: HsmSessions) -> None:
    label = unique("kek")
    sealer = KekSealer(sessions, label, cache=UnsealCache(0))
    old = sealer.open(create=True)
    new = sealer.create(label + ".next")
    sealer.update(old.kek_id, can_encrypt=False)  # what rotation does, seen from a running server
    sealer.update(new.kek_id, label=label)
    sealed = sealer.seal("uid-1", PLAIN)
    assert sealed_kek_id(sealed) == new.kek_id
    assert sealer.active_id == new.kek_id
