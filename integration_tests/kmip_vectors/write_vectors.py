"""Writes the replay vectors in this folder: the KMIP requests that MongoDB (mongod Enterprise and Percona Server
for MongoDB), Percona pg_tde and MySQL (Enterprise keyring_okv, Percona component_keyring_kmip) send, byte for byte
as their encoders lay them out (../shared/notes/integrations.md §1, §5, §6), as annotated hex files.

This writer is deliberately independent of ``kms_backend.kmip``: it places every item where the product places it,
with the type the product gives it (an Integer where KMIP defines an Enumeration, an Attribute Index where a
product puts one), so the replays test our decoder against the products' bytes and not against our own encoder.

Run ``python integration_tests/kmip_vectors/write_vectors.py`` after changing a sequence; the files are committed.

File format (read by ``integration_tests/_replay.py``): hex digits, whitespace ignored, ``#`` starts a comment;
``{name:N}`` stands for N bytes the replay fills in from an earlier response (a Unique Identifier, an IV...).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Item types (KMIP 1.0 §9.1.1.2).
STRUCTURE, INTEGER, LONG, ENUM, BOOL, TEXT, BYTES, DATETIME = 0x01, 0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09

TAGS = {
    "Attribute": 0x420008,
    "Attribute Index": 0x420009,
    "Attribute Name": 0x42000A,
    "Attribute Value": 0x42000B,
    "Batch Count": 0x42000D,
    "Batch Item": 0x42000F,
    "Cryptographic Algorithm": 0x420028,
    "Cryptographic Length": 0x42002A,
    "Cryptographic Usage Mask": 0x42002C,
    "Data": 0x4200C2,
    "IV/Counter/Nonce": 0x42003D,
    "Key Block": 0x420040,
    "Key Format Type": 0x420042,
    "Key Material": 0x420043,
    "Key Value": 0x420045,
    "Maximum Items": 0x42004F,
    "Maximum Response Size": 0x420050,
    "Name": 0x420053,
    "Name Type": 0x420054,
    "Name Value": 0x420055,
    "Object Type": 0x420057,
    "Operation": 0x42005C,
    "Protocol Version": 0x420069,
    "Protocol Version Major": 0x42006A,
    "Protocol Version Minor": 0x42006B,
    "Request Header": 0x420077,
    "Request Message": 0x420078,
    "Request Payload": 0x420079,
    "Revocation Message": 0x420080,
    "Revocation Reason": 0x420081,
    "Revocation Reason Code": 0x420082,
    "Secret Data": 0x420085,
    "Secret Data Type": 0x420086,
    "Storage Status Mask": 0x42008E,
    "Symmetric Key": 0x42008F,
    "Template-Attribute": 0x420091,
    "Time Stamp": 0x420092,
    "Unique Identifier": 0x420094,
}

OPERATIONS = {
    "Create": 0x01,
    "Register": 0x03,
    "Locate": 0x08,
    "Get": 0x0A,
    "Get Attributes": 0x0B,
    "Activate": 0x12,
    "Revoke": 0x13,
    "Destroy": 0x14,
    "Encrypt": 0x1F,
    "Decrypt": 0x20,
}

AES, SYMMETRIC_KEY, SECRET_DATA, RAW, PASSWORD, UNINTERPRETED_TEXT = 0x03, 0x02, 0x07, 0x01, 0x01, 0x01
#: libkmip stamps its requests; a fixed time keeps the files reproducible (2024-11-28T00:00:00Z).
TIME = 1_732_752_000


@dataclass
class Node:
    """One TTLV item: a leaf with its encoded value bytes (or a placeholder), or a structure of nodes."""

    name: str
    type: int
    value: bytes = b""
    placeholder: tuple[str, int] | None = None
    children: list[Node] = field(default_factory=list)
    note: str = ""

    @property
    def length(self) -> int:
        if self.type == STRUCTURE:
            return sum(8 + c.padded for c in self.children)
        return self.placeholder[1] if self.placeholder else len(self.value)

    @property
    def padded(self) -> int:
        return (self.length + 7) // 8 * 8

    def lines(self, depth: int = 0) -> list[str]:
        tag = TAGS[self.name]
        head = f"{tag:06X}{self.type:02X} {self.length:08X}"
        indent = "  " * depth
        note = f" ({self.note})" if self.note else ""
        if self.type == STRUCTURE:
            out = [f"{indent}{head}  # {self.name}{note}"]
            for child in self.children:
                out.extend(child.lines(depth + 1))
            return out
        pad = "00" * (self.padded - self.length)
        if self.placeholder:
            body = f"{{{self.placeholder[0]}:{self.placeholder[1]}}}"
        else:
            body = self.value.hex().upper()
        return [f"{indent}{head} {body} {pad}".rstrip() + f"  # {self.name}{note}"]


def s(name: str, *children: Node, note: str = "") -> Node:
    return Node(name, STRUCTURE, children=list(children), note=note)


def integer(name: str, value: int, note: str = "") -> Node:
    return Node(name, INTEGER, struct.pack(">i", value), note=note)


def enum(name: str, value: int, note: str = "") -> Node:
    return Node(name, ENUM, struct.pack(">I", value), note=note)


def text(name: str, value: str) -> Node:
    return Node(name, TEXT, value.encode())


def octets(name: str, value: bytes) -> Node:
    return Node(name, BYTES, value)


def datetime(name: str, value: int) -> Node:
    return Node(name, DATETIME, struct.pack(">q", value))


def slot(name: str, kind: int, placeholder: str, size: int, note: str = "") -> Node:
    """An item whose value the replay fills in (``{placeholder:size}``)."""
    return Node(name, kind, placeholder=(placeholder, size), note=note)


def uid(placeholder: str) -> Node:
    # Keystead's identifiers are UUIDs: 36 characters, so the filled-in message keeps these lengths.
    return slot("Unique Identifier", TEXT, placeholder, 36)


def attribute(name: str, value: Node, index: int | None = None) -> Node:
    """A 1.x Attribute: Name, then Index when the product sends one, then Value (KMIP 1.0 §2.1.1)."""
    parts = [text("Attribute Name", name)]
    if index is not None:
        parts.append(integer("Attribute Index", index))
    value.name = "Attribute Value"
    return s("Attribute", *parts, value, note=name)


def name_attribute(value: str, index: int | None = None) -> Node:
    return attribute("Name", s("Name", text("Name Value", value), enum("Name Type", UNINTERPRETED_TEXT)), index)


def message(version: tuple[int, int], operation: str, payload: list[Node], header: str = "plain") -> Node:
    """A one-item Request Message; ``header`` is the product's header layout:

    - ``plain``: Protocol Version and Batch Count (mongod's hand-built requests);
    - ``libkmip``: Protocol Version, Maximum Response Size (libkmip's default buffer, 8192), Time Stamp, Batch
      Count (``kmip_bio_*`` in Percona-Lab/libkmip, used by pg_tde and Percona Server's kmippp);
    - ``okv``: Protocol Version, Maximum Response Size 280000, Batch Count (MySQL keyring_okv).
    """
    fields = [
        s(
            "Protocol Version",
            integer("Protocol Version Major", version[0]),
            integer("Protocol Version Minor", version[1]),
        )
    ]
    if header == "libkmip":
        fields += [integer("Maximum Response Size", 8192), datetime("Time Stamp", TIME)]
    elif header == "okv":
        fields.append(integer("Maximum Response Size", 280000))
    fields.append(integer("Batch Count", 1))
    item = s("Batch Item", enum("Operation", OPERATIONS[operation], note=operation), s("Request Payload", *payload))
    return s("Request Message", s("Request Header", *fields), item)


def aes_template(bits: int, mask: int, *extra: Node, index: bool = False) -> Node:
    zero = 0 if index else None
    return s(
        "Template-Attribute",
        attribute("Cryptographic Algorithm", enum("v", AES, note="AES"), zero),
        attribute("Cryptographic Length", integer("v", bits), zero),
        attribute("Cryptographic Usage Mask", integer("v", mask, note=f"0x{mask:X}"), zero),
        *extra,
    )


def symmetric_key(material: bytes) -> Node:
    return s(
        "Symmetric Key",
        s(
            "Key Block",
            enum("Key Format Type", RAW, note="Raw"),
            s("Key Value", octets("Key Material", material)),
            enum("Cryptographic Algorithm", AES, note="AES"),
            integer("Cryptographic Length", len(material) * 8),
        ),
    )


#: Key material the products would have generated themselves (fixed, so the files are reproducible).
MONGOD_KEY = bytes(range(0x40, 0x60))
PG_TDE_KEY = bytes(range(0xA0, 0xC0))
PG_TDE_ROTATED_KEY = bytes(range(0xC0, 0xE0))
MYSQL_KEY = bytes(range(0x10, 0x30))
MYSQL_PASSWORD = b"s3cret-replication-password"
AUDIT_RECORD = b"mongod audit log key, 32 bytes.."


def mongod(version: tuple[int, int]) -> dict[str, Node]:
    """mongod Enterprise (kmip_request.cpp): one request per send, Create/Activate/Get/Get Attributes("State"),
    and under 1.2 the audit-log Encrypt (UID + Data only) and Decrypt (UID + Data + IV); with
    ``kmipUseLegacyProtocol`` (1.0, which has no Encrypt) mongod refuses KMIP audit encryption."""
    requests = {
        "01-create": message(
            version, "Create", [enum("Object Type", SYMMETRIC_KEY, note="Symmetric Key"), aes_template(256, 12)]
        ),
        "02-activate": message(version, "Activate", [uid("key")]),
        "03-get": message(version, "Get", [uid("key")]),
        "04-get-attributes-state": message(version, "Get Attributes", [uid("key"), text("Attribute Name", "State")]),
    }
    if version >= (1, 2):
        requests["05-encrypt"] = message(version, "Encrypt", [uid("key"), octets("Data", AUDIT_RECORD)])
        requests["06-decrypt"] = message(
            version,
            "Decrypt",
            [uid("key"), slot("Data", BYTES, "ciphertext", 48), slot("IV/Counter/Nonce", BYTES, "iv", 16)],
        )
    return requests


def percona_mongodb() -> dict[str, Node]:
    """Percona Server for MongoDB: generates the master key itself, Registers it, Activates it, then Get and the
    State polling like mongod (libkmip header)."""
    register = message(
        (1, 0),
        "Register",
        [
            enum("Object Type", SYMMETRIC_KEY, note="Symmetric Key"),
            aes_template(256, 12),
            symmetric_key(MONGOD_KEY),
        ],
        header="libkmip",
    )
    return {
        "01-register": register,
        "02-activate": message((1, 0), "Activate", [uid("key")], header="libkmip"),
        "03-get": message((1, 0), "Get", [uid("key")], header="libkmip"),
        "04-get-attributes-state": message(
            (1, 0), "Get Attributes", [uid("key"), text("Attribute Name", "State")], header="libkmip"
        ),
    }


def pg_tde(key_name: str, material: bytes) -> dict[str, Node]:
    """pg_tde's KMIP keyring (libkmip, versions hard-coded per call): Register under 1.4, Locate and Get under 1.0,
    each on a new connection."""
    return {
        "01-register": message(
            (1, 4),
            "Register",
            [
                enum("Object Type", SYMMETRIC_KEY, note="Symmetric Key"),
                aes_template(256, 12, name_attribute(key_name)),
                symmetric_key(material),
            ],
            header="libkmip",
        ),
        "02-locate": message(
            (1, 0),
            "Locate",
            [
                integer("Maximum Items", 16),
                attribute("Object Type", enum("v", SYMMETRIC_KEY, note="Symmetric Key")),
                name_attribute(key_name),
            ],
            header="libkmip",
        ),
        "03-get": message((1, 0), "Get", [uid("key")], header="libkmip"),
    }


def percona_mysql(group: str) -> dict[str, Node]:
    """Percona Server for MySQL component_keyring_kmip (kmippp over libkmip): one connection, 1.0 and 1.4 headers."""
    group_attribute = attribute("Object Group", text("v", group))
    return {
        "01-register-key": message(
            (1, 4),
            "Register",
            [
                enum("Object Type", SYMMETRIC_KEY, note="Symmetric Key"),
                aes_template(256, 12, name_attribute("percona_binlog-1"), group_attribute),
                symmetric_key(MYSQL_KEY),
            ],
            header="libkmip",
        ),
        "02-activate-key": message((1, 0), "Activate", [uid("key")], header="libkmip"),
        "03-register-password": message(
            (1, 4),
            "Register",
            [
                enum("Object Type", SECRET_DATA, note="Secret Data"),
                s(
                    "Template-Attribute",
                    attribute("Cryptographic Usage Mask", integer("v", 0x100 | 0x40, note="Derive Key | Export")),
                    name_attribute("replication_password"),
                    attribute("Object Group", text("v", group)),
                ),
                s(
                    "Secret Data",
                    enum("Secret Data Type", PASSWORD, note="Password"),
                    s(
                        "Key Block",
                        enum("Key Format Type", 0x02, note="Opaque"),
                        s("Key Value", octets("Key Material", MYSQL_PASSWORD)),
                    ),
                ),
            ],
            header="libkmip",
        ),
        "04-activate-password": message((1, 0), "Activate", [uid("password")], header="libkmip"),
        "05-locate-group": message(
            (1, 0),
            "Locate",
            [attribute("Object Type", enum("v", SYMMETRIC_KEY, note="Symmetric Key")), group_attribute],
            header="libkmip",
        ),
        "06-get-key": message((1, 0), "Get", [uid("key")], header="libkmip"),
        "07-get-attributes-name": message(
            (1, 4), "Get Attributes", [uid("key"), text("Attribute Name", "Name")], header="libkmip"
        ),
        "08-revoke-key": message(
            (1, 0),
            "Revoke",
            [
                uid("key"),
                s(
                    "Revocation Reason",
                    enum("Revocation Reason Code", 1, note="Unspecified"),
                    text("Revocation Message", "Deleting the key"),
                ),
            ],
            header="libkmip",
        ),
        "09-destroy-key": message((1, 0), "Destroy", [uid("key")], header="libkmip"),
    }


def keyring_okv() -> dict[str, Node]:
    """MySQL Enterprise keyring_okv (KMIP 1.1): the server generates the key (Create with a Name), Attribute Index
    before each Attribute Value, Storage Status Mask as an Integer (a quirk: KMIP defines a mask Enumeration)."""
    key_name = "INNODBKey-8d0d2e5c-9b1a-11ef-8a3b-0242ac120002-1"
    return {
        "01-create": message(
            (1, 1),
            "Create",
            [
                enum("Object Type", SYMMETRIC_KEY, note="Symmetric Key"),
                aes_template(256, 12, name_attribute(key_name, index=0), index=True),
            ],
            header="okv",
        ),
        "02-activate": message((1, 1), "Activate", [uid("key")], header="okv"),
        "03-locate": message(
            (1, 1),
            "Locate",
            [
                Node("Storage Status Mask", INTEGER, struct.pack(">i", 1), note="On-line, sent as an Integer"),
                name_attribute(key_name, index=0),
            ],
            header="okv",
        ),
        "04-get": message((1, 1), "Get", [uid("key")], header="okv"),
        "05-revoke": message(
            (1, 1),
            "Revoke",
            [uid("key"), s("Revocation Reason", enum("Revocation Reason Code", 5, note="Cessation of Operation"))],
            header="okv",
        ),
        "06-destroy": message((1, 1), "Destroy", [uid("key")], header="okv"),
    }


SETS: dict[str, dict[str, Node]] = {
    "mongod-1.2": mongod((1, 2)),
    "mongod-1.0-legacy": mongod((1, 0)),
    "percona-mongodb": percona_mongodb(),
    "pg_tde": pg_tde("pg-tde-principal-key", PG_TDE_KEY),
    "pg_tde-rotated": pg_tde("pg-tde-principal-key-2", PG_TDE_ROTATED_KEY),
    "percona-mysql": percona_mysql("percona_mysql_keys"),
    "keyring_okv": keyring_okv(),
}


def main(root: Path = HERE) -> None:
    """Write every set under ``root`` (this folder; the tests write a scratch copy to check these are current)."""
    for folder, requests in SETS.items():
        target = root / folder
        target.mkdir(exist_ok=True)
        for old in target.glob("*.hex"):
            old.unlink()
        for stem, node in requests.items():
            operation = stem.split("-", 1)[1]
            text_lines = [f"# {folder}: {operation} (written by write_vectors.py)", *node.lines(), ""]
            (target / f"{stem}.hex").write_text("\n".join(text_lines))


if __name__ == "__main__":
    main()
