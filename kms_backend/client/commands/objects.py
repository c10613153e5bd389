"""``keystead locate``, ``keystead attributes get|set|delete|modify`` and ``keystead access-rights …``."""

from __future__ import annotations

import argparse
import calendar
import time
from typing import Any

from ...kmip import _schema_data as S
from ...kmip import registry
from ...kmip._registry_data import (
    CryptographicAlgorithm,
    ItemType,
    KeyFormatType,
    LinkType,
    NameType,
    ObjectType,
    State,
    Tag,
)
from ..client import key_attributes, tag_attribute
from ._common import (
    CommandError,
    Session,
    SubParsers,
    add_group,
    add_object_options,
    add_verb,
    enum_choice,
    object_id,
)
from ._keys import describe_attributes, usage_mask

_LINK_OPTIONS = (
    ("public_key_id", LinkType.PUBLIC_KEY_LINK),
    ("private_key_id", LinkType.PRIVATE_KEY_LINK),
    ("certificate_id", LinkType.CERTIFICATE_LINK),
)


# -- locate ---------------------------------------------------------------------------------------------------------
def cmd_locate(session: Session) -> None:
    args = session.args
    extra: list[tuple[int, Any]] = []
    for option, link_type in _LINK_OPTIONS:
        target = getattr(args, option)
        if target:
            extra.append((Tag.LINK, S.Link(link_type=link_type, linked_object_identifier=target)))
    if args.key_format_type:
        extra.append((Tag.KEY_FORMAT_TYPE, enum_choice(KeyFormatType, args.key_format_type)))
    if args.state:
        extra.append((Tag.STATE, enum_choice(State, args.state)))
    attributes = key_attributes(
        object_type=enum_choice(ObjectType, args.object_type) if args.object_type else None,
        algorithm=enum_choice(CryptographicAlgorithm, args.algorithm) if args.algorithm else None,
        length=args.cryptographic_length,
        tags=args.tag,
        extra=extra,
    )
    found = session.client.locate(attributes or None, maximum_items=args.max_items)
    session.emit("\n".join(found) if found else "No object found.", found)


# -- attributes -----------------------------------------------------------------------------------------------------
def parse_date(text: str) -> int:
    """An ISO 8601 date/time (UTC) or seconds since the epoch, as KMIP Date-Time seconds; ``now`` is accepted."""
    if text == "now":
        return int(time.time())
    if text.isdigit():
        return int(text)
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, layout))
        except ValueError:
            continue
    raise CommandError(f"{text!r} is not a date (YYYY-MM-DD[THH:MM:SS[Z]], seconds since 1970, or now)")


def attribute_tag(name: str) -> int:
    """A KMIP attribute's tag from its name (``ContactInformation``, ``contact-information``, ``Contact
    Information``)."""
    squashed = "".join(ch for ch in name if ch.isalnum()).lower()
    for tag in S.ATTRIBUTE_FIELDS:
        info = registry.tag_info(tag)
        if info is not None and "".join(ch for ch in info.xml_name if ch.isalnum()).lower() == squashed:
            return tag
    raise CommandError(f"{name!r} is not a KMIP attribute name")


def parse_attribute(text: str) -> tuple[int, Any]:
    """``NAME=VALUE`` as an attribute: the value parsed by the attribute's type (text, integer, boolean, date,
    enumeration name, usage names joined by ``|``; ``Name`` and ``Link=TYPE:UID`` structures)."""
    name, sep, raw = text.partition("=")
    if not sep:
        raise CommandError(f"{text!r}: expected NAME=VALUE")
    tag = attribute_tag(name)
    spec = S.ATTRIBUTE_FIELDS[tag]
    if tag == Tag.NAME:
        return tag, S.Name(name_value=raw, name_type=NameType.UNINTERPRETED_TEXT_STRING)
    if tag == Tag.LINK:
        link_type, colon, target = raw.partition(":")
        if not colon:
            raise CommandError("Link=TYPE:UID, e.g. Link=public-key-link:1234")
        return tag, S.Link(link_type=enum_choice(LinkType, link_type), linked_object_identifier=target)
    if tag == Tag.CRYPTOGRAPHIC_USAGE_MASK:
        return tag, usage_mask(raw.split("|"))
    if spec.kind != "p" or not spec.types:
        raise CommandError(f"{name} is a structure; it cannot be given as text")
    kind = spec.types[0]
    try:
        if spec.enum is not None:
            return tag, enum_choice(spec.enum, raw)
        if kind in (ItemType.INTEGER, ItemType.LONG_INTEGER, ItemType.BIG_INTEGER, ItemType.INTERVAL):
            return tag, int(raw, 0)
        if kind == ItemType.BOOLEAN:
            if raw.lower() not in ("true", "false"):
                raise CommandError(f"{name} takes true or false")
            return tag, raw.lower() == "true"
        if kind in (ItemType.DATE_TIME, ItemType.DATE_TIME_EXTENDED):
            return tag, parse_date(raw)
        if kind == ItemType.BYTE_STRING:
            return tag, bytes.fromhex(raw)
    except ValueError:
        raise CommandError(f"{name}: invalid value {raw!r}") from None
    return tag, raw


def _attribute_references(names: list[str]) -> list[int | S.AttributeReference]:
    refs: list[int | S.AttributeReference] = []
    for name in names:
        if name.lower() in ("tag", "tags"):
            refs.append(S.AttributeReference(vendor_identification="cosmian", attribute_name="tag"))
        else:
            refs.append(attribute_tag(name))
    return refs


def cmd_attributes_get(session: Session) -> None:
    args = session.args
    attributes = session.client.get_attributes(object_id(args, "object"), _attribute_references(args.attribute))
    described = describe_attributes(attributes)
    text = "\n".join(f"{name}: {value}" for name, value in described.items())
    session.emit(text, described)


def _changes(args: argparse.Namespace) -> list[tuple[int, Any]]:
    changes = [parse_attribute(text) for text in args.attribute]
    if args.set_tag:
        changes.append((Tag.ATTRIBUTE, tag_attribute(args.set_tag)))
    if not changes:
        raise CommandError("give at least one --attribute NAME=VALUE (or --set-tag)")
    return changes


def cmd_attributes_set(session: Session) -> None:
    args = session.args
    uid = object_id(args, "object")
    kms = session.client
    for tag, value in _changes(args):
        multi = S.ATTRIBUTE_FIELDS[tag].multi if tag in S.ATTRIBUTE_FIELDS else False
        if multi and tag != Tag.ATTRIBUTE:
            kms.add_attribute(uid, tag, value)
        else:
            kms.set_attribute(uid, tag, value)
    session.emit(f"Attributes of {uid} set", {"unique_identifier": uid})


def cmd_attributes_modify(session: Session) -> None:
    args = session.args
    uid = object_id(args, "object")
    for tag, value in _changes(args):
        session.client.modify_attribute(uid, tag, value)
    session.emit(f"Attributes of {uid} modified", {"unique_identifier": uid})


def cmd_attributes_delete(session: Session) -> None:
    args = session.args
    uid = object_id(args, "object")
    if not args.attribute:
        raise CommandError("give at least one --attribute NAME (or NAME=VALUE for one instance)")
    for text in args.attribute:
        if "=" in text:
            tag, value = parse_attribute(text)
            session.client.delete_attribute(uid, tag, current=value)
        else:
            session.client.delete_attribute(uid, attribute_tag(text))
    session.emit(f"Attributes of {uid} deleted", {"unique_identifier": uid})


# -- access rights --------------------------------------------------------------------------------------------------
def cmd_access_grant(session: Session) -> None:
    args = session.args
    session.client.grant_access(args.object_id, args.user, args.operations)
    session.emit(
        f"Granted {', '.join(args.operations)} on {args.object_id} to {args.user}",
        {"unique_identifier": args.object_id, "user": args.user, "operations": args.operations},
    )


def cmd_access_revoke(session: Session) -> None:
    args = session.args
    session.client.revoke_access(args.object_id, args.user, args.operations)
    session.emit(
        f"Revoked {', '.join(args.operations)} on {args.object_id} from {args.user}",
        {"unique_identifier": args.object_id, "user": args.user, "operations": args.operations},
    )


def cmd_access_list(session: Session) -> None:
    rows = session.client.list_access(session.args.object_id)
    text = "\n".join(f"{row.get('user_id')}: {', '.join(row.get('operations', []))}" for row in rows)
    session.emit(text or "No access granted.", rows)


def cmd_access_owned(session: Session) -> None:
    rows = session.client.owned()
    text = "\n".join(f"{row.get('object_id')}  {row.get('state')}" for row in rows)
    session.emit(text or "No object owned.", rows)


def cmd_access_obtained(session: Session) -> None:
    rows = session.client.obtained()
    text = "\n".join(
        f"{row.get('object_id')}  owner {row.get('owner_id')}: {', '.join(row.get('operations', []))}" for row in rows
    )
    session.emit(text or "No access obtained.", rows)


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``locate``, ``attributes`` and ``access-rights``."""
    locate = add_verb(sub, "locate", cmd_locate, "find objects by tags, algorithm, length, type, format and links")
    locate.add_argument("-t", "--tag", action="append", default=[], help="a tag (repeatable: all must match)")
    locate.add_argument("-a", "--algorithm", help="cryptographic algorithm (aes, rsa, ec...)")
    locate.add_argument("-l", "--cryptographic-length", type=int, help="length in bits")
    locate.add_argument("-o", "--object-type", help="symmetric-key, private-key, public-key, certificate...")
    locate.add_argument("-f", "--key-format-type", help="raw, pkcs8, x509...")
    locate.add_argument("-p", "--public-key-id", help="objects linked to this public key")
    locate.add_argument("-k", "--private-key-id", help="objects linked to this private key")
    locate.add_argument("-c", "--certificate-id", help="objects linked to this certificate")
    locate.add_argument("--state", help="pre-active, active, deactivated, compromised, destroyed...")
    locate.add_argument("--max-items", type=int, help="at most this many ids")

    attributes = add_group(sub, "attributes", "read and change an object's attributes")
    get = add_verb(attributes, "get", cmd_attributes_get, "print an object's attributes (all, or those named)")
    _id_options(get)
    get.add_argument("-a", "--attribute", action="append", default=[], help="an attribute name (repeatable)")
    for name, handler, help_text in (
        ("set", cmd_attributes_set, "set attributes (KMIP Set Attribute; Add Attribute for multi-instance ones)"),
        ("modify", cmd_attributes_modify, "change existing attributes (KMIP Modify Attribute)"),
    ):
        verb = add_verb(attributes, name, handler, help_text)
        _id_options(verb)
        verb.add_argument(
            "-a",
            "--attribute",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="e.g. ContactInformation=ops@example.com, ActivationDate=2030-01-01, Name=db-key (repeatable)",
        )
        verb.add_argument("--set-tag", action="append", default=[], help="replace the object's tags (repeatable)")
    delete = add_verb(attributes, "delete", cmd_attributes_delete, "delete attributes (KMIP Delete Attribute)")
    _id_options(delete)
    delete.add_argument(
        "-a", "--attribute", action="append", default=[], help="NAME, or NAME=VALUE for one instance (repeatable)"
    )

    access = add_group(sub, "access-rights", "share objects with other users")
    for name, handler, help_text in (
        ("grant", cmd_access_grant, "let USER run OPERATIONS on an object"),
        ("revoke", cmd_access_revoke, "withdraw OPERATIONS on an object from USER"),
    ):
        verb = add_verb(access, name, handler, help_text)
        verb.add_argument("user", help="the user")
        verb.add_argument("-i", "--object-id", required=True, help="the object's unique identifier")
        verb.add_argument("operations", nargs="+", help="operation names: get, encrypt, decrypt, export, destroy...")
    listing = add_verb(access, "list", cmd_access_list, "who may do what on an object (owner only)")
    listing.add_argument("object_id", help="the object's unique identifier")
    add_verb(access, "owned", cmd_access_owned, "the objects you own")
    add_verb(access, "obtained", cmd_access_obtained, "the objects others shared with you")


def _id_options(parser: argparse.ArgumentParser) -> None:
    add_object_options(parser, "object")
    parser.add_argument("-i", "--id", dest="key_id", help="the object's unique identifier (same as --key-id)")


__all__ = ["attribute_tag", "parse_attribute", "parse_date", "register"]
