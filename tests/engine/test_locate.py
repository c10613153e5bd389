"""Locate (KMIP 2.1 §6.1.28): filters, paging, and visibility (a user finds only objects it may see)."""

from __future__ import annotations

from typing import Any

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import (
    CryptographicAlgorithm,
    CryptographicUsageMask,
    ItemType,
    ObjectType,
    Operation,
    State,
    Tag,
)
from kms_backend.kmip.schema import Attributes
from kms_backend.kmip.ttlv import Item
from kms_backend.store.base import EVERYONE

from .conftest import ADMIN, NOW, OTHER, OWNER, Kms, name


def locate(kms: Kms, *attributes: tuple[int, Any], user: str = OWNER, **fields: Any) -> list[str]:
    response = kms.run(Operation.LOCATE, S.LocateRequest(attributes=Attributes(list(attributes)), **fields), user)
    return list(response.unique_identifier)


def test_locate_shows_only_visible_objects(kms: Kms) -> None:
    mine = kms.create_key()
    theirs = kms.create_key(user=OTHER)
    shared = kms.create_key()
    public = kms.create_key()
    kms.grant(shared, OTHER, [Operation.GET])
    kms.grant(public, EVERYONE, [Operation.GET_ATTRIBUTES])
    assert locate(kms) == [mine, shared, public]
    assert locate(kms, user=OTHER) == [theirs, shared, public]
    assert locate(kms, user="carol") == [public]
    assert locate(kms, user=ADMIN) == [mine, theirs, shared, public]


def test_located_items_counts_only_visible_objects(kms: Kms) -> None:
    for _ in range(3):
        kms.create_key(user=OTHER)
    kms.create_key()
    response = kms.run(Operation.LOCATE, S.LocateRequest(), OWNER)
    assert response.located_items == 1


def test_locate_by_name_object_type_and_algorithm(kms: Kms) -> None:
    named = kms.create_key((Tag.NAME, name("wanted")))
    kms.create_key((Tag.NAME, name("other")))
    assert locate(kms, (Tag.NAME, name("wanted"))) == [named]
    assert locate(kms, (Tag.NAME, name("wanted")), user=OTHER) == []
    assert len(locate(kms, (Tag.OBJECT_TYPE, ObjectType.SYMMETRIC_KEY))) == 2
    assert locate(kms, (Tag.OBJECT_TYPE, ObjectType.PRIVATE_KEY)) == []
    assert len(locate(kms, (Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.AES))) == 2


def test_locate_by_state_and_usage_mask(kms: Kms) -> None:
    active = kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.ENCRYPT))
    kms.run(Operation.ACTIVATE, S.ActivateRequest(unique_identifier=active))
    kms.create_key((Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.DECRYPT))
    assert locate(kms, (Tag.STATE, State.ACTIVE)) == [active]
    assert locate(kms, (Tag.CRYPTOGRAPHIC_USAGE_MASK, CryptographicUsageMask.ENCRYPT)) == [active]


def test_locate_by_date_range(kms: Kms) -> None:
    early = kms.create_key()
    kms.clock.advance(100)
    late = kms.create_key()
    assert locate(kms, (Tag.INITIAL_DATE, NOW)) == [early]
    assert locate(kms, (Tag.INITIAL_DATE, NOW + 50), (Tag.INITIAL_DATE, NOW + 200)) == [late]


def test_locate_by_cosmian_tags(kms: Kms) -> None:
    def tags(*values: str) -> S.VendorAttribute:
        text = "[" + ",".join(f'"{v}"' for v in values) + "]"
        return S.VendorAttribute(
            vendor_identification="cosmian",
            attribute_name="tag",
            attribute_value=Item(Tag.ATTRIBUTE_VALUE, ItemType.TEXT_STRING, text),
        )

    both = kms.create_key((Tag.ATTRIBUTE, tags("a", "b")))
    kms.create_key((Tag.ATTRIBUTE, tags("a")))
    assert locate(kms, (Tag.ATTRIBUTE, tags("a", "b"))) == [both]
    assert len(locate(kms, (Tag.ATTRIBUTE, tags("a")))) == 2


def test_locate_by_an_attribute_that_is_not_indexed(kms: Kms) -> None:
    commented = kms.create_key((Tag.COMMENT, "find me"))
    kms.create_key((Tag.COMMENT, "not me"))
    assert locate(kms, (Tag.COMMENT, "find me")) == [commented]


def test_locate_paging(kms: Kms) -> None:
    uids = [kms.create_key() for _ in range(5)]
    response = kms.run(Operation.LOCATE, S.LocateRequest(maximum_items=2, offset_items=1))
    assert list(response.unique_identifier) == uids[1:3]
    assert response.located_items == 5


def test_locate_fresh_group_members(kms: Kms) -> None:
    from kms_backend.kmip._registry_data import ObjectGroupMember

    fresh = kms.create_key((Tag.OBJECT_GROUP, "pool"))
    served = kms.create_key((Tag.OBJECT_GROUP, "pool"))
    with kms.store.transaction() as tx:
        record = tx.get(served)
        assert record is not None
    # Fresh is the server's (§4.24); mark the object served directly in the store.
    mo = kms.engine.records.from_record(record)
    mo.attributes.set(Tag.FRESH, False)
    with kms.store.transaction() as tx:
        tx.update(kms.engine.records.to_record(mo))
    found = locate(kms, (Tag.OBJECT_GROUP, "pool"), object_group_member=ObjectGroupMember.GROUP_MEMBER_FRESH)
    assert found == [fresh]
