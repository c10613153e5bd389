"""Links between managed objects (KMIP 2.1 §4.34 Link): reading, setting and removing them in an object's
Attributes, for the handlers that follow or maintain them (PKI, key pairs, Locate, Re-key Key Pair)."""

from __future__ import annotations

from ...kmip import _schema_data as S
from ...kmip._registry_data import LinkType, Tag
from ...kmip.schema import Attributes


def link_target(attrs: Attributes, *types: LinkType) -> str | None:
    """The object the first Link of one of ``types`` names (in the order of ``types``)."""
    links = [link for link in attrs.get_all(Tag.LINK) if isinstance(link, S.Link)]
    for link_type in types:
        for link in links:
            if link.link_type == link_type:
                return str(link.linked_object_identifier)
    return None


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


__all__ = ["add_link", "link_target", "links_of", "remove_links", "set_link"]
