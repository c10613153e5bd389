"""What a replacement key inherits from the key it replaces (Re-key §6.1.46, Re-key Key Pair §6.1.47)."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, ResultReason, State, Tag
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes
from ..lifecycle import DESTROYED_STATES, SERVER_ONLY
from ..objects import ManagedObject

#: Attributes a replacement key never inherits: lifecycle, identity and links are its own.
_NOT_INHERITED = SERVER_ONLY | {
    Tag.OBJECT_TYPE,
    Tag.LINK,
    Tag.ACTIVATION_DATE,
    Tag.DEACTIVATION_DATE,
    Tag.PROCESS_START_DATE,
    Tag.PROTECT_STOP_DATE,
    Tag.ORIGINAL_CREATION_DATE,
    Tag.NAME,
    Tag.KEY_FORMAT_TYPE,
}
_SHIFTED_DATES = (Tag.DEACTIVATION_DATE, Tag.PROCESS_START_DATE, Tag.PROTECT_STOP_DATE)


def successor_attributes(old: ManagedObject, requested: Attributes | None, now: int, offset: int | None) -> Attributes:
    """The replacement's attributes: the old key's client-settable ones, its Names (moved, KMIP 1.4 §4.4), dates
    shifted by ``offset`` (Activation Date = now + Offset, the others keeping their distance), then the request's."""
    attrs = Attributes([(t, v) for t, v in old.attributes if t not in _NOT_INHERITED])
    for name in old.attributes.get_all(Tag.NAME):
        attrs.add(Tag.NAME, name)
    old_activation = old.attributes.get(Tag.ACTIVATION_DATE)
    if offset is not None:
        activation = now + offset
        attrs.set(Tag.ACTIVATION_DATE, activation)
        if isinstance(old_activation, int):
            for date_tag in _SHIFTED_DATES:
                value = old.attributes.get(date_tag)
                if isinstance(value, int):
                    attrs.set(date_tag, activation + (value - old_activation))
    elif old.state in REKEYABLE_STATES:
        # No Offset: the replacement is usable at once, as Cosmian KMS makes it and as its clients expect (they
        # encrypt or sign with the new key right after Re-key). KMIP leaves the dates to the server without an
        # Offset; a client that wants the replacement Pre-Active gives an Offset.
        attrs.set(Tag.ACTIVATION_DATE, now)
    for tag, value in requested or ():
        if tag in (Tag.NAME, Tag.OBJECT_GROUP, Tag.ATTRIBUTE, Tag.LINK):
            attrs.add(tag, value)
        else:
            attrs.set(tag, value)
    return attrs


#: States of a key whose replacement is made usable at once when no Offset is given.
REKEYABLE_STATES = frozenset({State.ACTIVE, State.DEACTIVATED})


def check_not_destroyed(old: ManagedObject, what: str) -> None:
    """Wrong Key Lifecycle State for a destroyed key, worded as Cosmian KMS words it ("no active … found")."""
    if old.state in DESTROYED_STATES:
        raise KmipError(
            ResultReason.WRONG_KEY_LIFECYCLE_STATE, f"no active {what} found: object {old.uid} is destroyed"
        )


def retire(old: ManagedObject, replacement_uid: str) -> None:
    """The old key gives up its Names and points at its replacement."""
    old.attributes.remove(Tag.NAME)
    old.attributes.add(
        Tag.LINK, S.Link(link_type=LinkType.REPLACEMENT_OBJECT_LINK, linked_object_identifier=replacement_uid)
    )


def replaced_link(old_uid: str) -> S.Link:
    return S.Link(link_type=LinkType.REPLACED_OBJECT_LINK, linked_object_identifier=old_uid)


__all__ = ["REKEYABLE_STATES", "check_not_destroyed", "replaced_link", "retire", "successor_attributes"]
