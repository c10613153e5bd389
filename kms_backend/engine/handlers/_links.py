"""Links between managed objects (KMIP 2.1 §4.34 Link): reading, setting and removing them in an object's
Attributes, for the handlers that follow or maintain them (PKI, key pairs, Locate, Re-key Key Pair)."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, Tag
from ...kmip.schema import Attributes
from ..context import RequestContext
from ..objects import ManagedObject


def link_target(attrs: Attributes, *types: LinkType) -> str | None:
    """The object the first Link of one of ``types`` names (in the order of ``types``)."""
    links = [link for link in attrs.get_all(Tag.LINK) if isinstance(link, S.Link)]
    for link_type in types:
        for link in links:
            if link.link_type == link_type:
                return str(link.linked_object_identifier)
    return None


def linked_through_public_key(
    ctx: RequestContext, mo: ManagedObject, operation: int, direct: tuple[LinkType, ...], from_public: LinkType
) -> str | None:
    """The object ``mo`` names by one of its ``direct`` links, else the one its public key names by ``from_public``
    (a private key reaches its certificate, or a certificate its private key, through the pair's public key);
    the public key is read as a consequence of ``operation`` on ``mo``."""
    uid = link_target(mo.attributes, *direct)
    if uid is None:
        public_uid = link_target(mo.attributes, LinkType.PUBLIC_KEY_LINK)
        if public_uid is not None:
            public = ctx.load(public_uid, operation, with_object=False, consequence_of=mo)
            uid = link_target(public.attributes, from_public)
    return uid


def set_link(attrs: Attributes, link_type: LinkType, target: str) -> None:
    """Replace every Link of ``link_type`` by one to ``target``."""
    remove_links(attrs, link_type)
    attrs.add(Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=target))


def remove_links(attrs: Attributes, *types: LinkType) -> None:
    attrs.entries = [
        (t, v) for t, v in attrs.entries if not (t == Tag.LINK and isinstance(v, S.Link) and v.link_type in types)
    ]


def add_link(attrs: Attributes, link_type: LinkType, target: str) -> None:
    """Add a Link of ``link_type`` to ``target`` (beside any others of that type)."""
    attrs.add(Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=target))


def links_of(attrs: Attributes) -> list[tuple[int, str]]:
    """Every Link as (Link Type, linked object), an identifier that is not text read as empty."""
    return [
        (int(link.link_type), link.linked_object_identifier if isinstance(link.linked_object_identifier, str) else "")
        for link in attrs.get_all(Tag.LINK)
        if isinstance(link, S.Link)
    ]


__all__ = ["add_link", "link_target", "linked_through_public_key", "links_of", "remove_links", "set_link"]
