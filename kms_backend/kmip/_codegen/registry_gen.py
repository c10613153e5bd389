"""Generate ``kms_backend/kmip/_registry_data.py`` from tags.csv, enumerations.json and masks.json.

The output holds one IntEnum per KMIP enumeration (plus ``Tag``), one IntFlag per bit mask, and row tables with
the per-version facts (first/last version, XML names, item types) that ``registry.py`` indexes at import.
Cosmian's vendor extensions (``cosmian_extensions.json`` beside this file) are merged in, flagged ``extension``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .common import HEADER, KMIP_PACKAGE, class_name, constant_name, spec_dir, version_tuple

ITEM_TYPES = {
    "Structure": 1,
    "Integer": 2,
    "LongInteger": 3,
    "BigInteger": 4,
    "Enumeration": 5,
    "Boolean": 6,
    "TextString": 7,
    "ByteString": 8,
    "DateTime": 9,
    "Interval": 10,
    "DateTimeExtended": 11,
}

EXTENSIONS_FILE = Path(__file__).with_name("cosmian_extensions.json")
#: Values of the two enumerations KMIP defines by reference to PKCS#11 (no table in the KMIP spec).
PKCS11_NAMES_FILE = Path(__file__).with_name("pkcs11_names.json")
LATEST = "2.1"


def _types(text: str) -> tuple[int, ...]:
    return tuple(ITEM_TYPES[t] for t in text.split("|") if t)


def _load_extensions() -> dict[str, Any]:
    if not EXTENSIONS_FILE.exists():
        return {"tags": [], "enumerations": {}}
    return dict(json.loads(EXTENSIONS_FILE.read_text()))


def _squash(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum()).casefold()


def _json_tag_names(tags: list[dict[str, str]], ext: dict[str, Any], spelled: list[str]) -> dict[int, str]:
    """tag -> Cosmian JSON spelling, for the spellings that differ from the XML name (matched ignoring case and
    separators; a spelling that matches no tag, or several, is an error in the data)."""
    by_squash: dict[str, list[int]] = {}
    for row in [*tags, *ext.get("tags", [])]:
        by_squash.setdefault(_squash(row["xml_name"]), []).append(int(row["hex"], 16))
    out: dict[int, str] = {}
    for spelling in spelled:
        matches = by_squash.get(_squash(spelling), [])
        if len(matches) != 1:
            raise ValueError(f"JSON spelling {spelling!r} matches {len(matches)} tags")
        out[matches[0]] = spelling
    return out


def generate() -> str:
    """Return the text of ``_registry_data.py``."""
    spec = spec_dir()
    tags = list(csv.DictReader((spec / "tags.csv").open(newline="")))
    enums: dict[str, Any] = json.loads((spec / "enumerations.json").read_text())
    masks: dict[str, Any] = json.loads((spec / "masks.json").read_text())
    ext = _load_extensions()
    pkcs11_names: dict[str, list[dict[str, Any]]] = json.loads(PKCS11_NAMES_FILE.read_text())["enumerations"]
    spellings = ext.get("json_spellings", {})
    json_tags = _json_tag_names(tags, ext, spellings.get("tags", []))
    json_enums: dict[str, dict[int, str]] = {
        name: {int(value, 16): spelled for value, spelled in values.items()}
        for name, values in spellings.get("enumerations", {}).items()
    }

    out: list[str] = [HEADER.format(generator="registry_gen.py")]
    out.append("from __future__ import annotations\n\nfrom enum import IntEnum, IntFlag\n\n")

    # --- Tag enum -----------------------------------------------------------------------------------------------
    out.append('class Tag(IntEnum):\n    """Every KMIP 1.0-2.1 tag, plus Cosmian extension tags (0x54xxxx)."""\n\n')
    tag_rows: list[str] = []
    seen_tag_idents: set[str] = set()
    for row in tags:
        ident = constant_name(row["name"])
        seen_tag_idents.add(ident)
        value = int(row["hex"], 16)
        out.append(f"    {ident} = 0x{value:06X}\n")
        tag_rows.append(
            f"    (0x{value:06X}, {row['name']!r}, {row['xml_name']!r}, {_types(row['type'])!r}, "
            f"{version_tuple(row['first_version'])!r}, {version_tuple(row['last_version'])!r}, "
            f"{_types(row['type_1x'])!r}, {row['values_from'] or None!r}, False, "
            f"{json_tags.get(value, row['xml_name'])!r}),\n"
        )
    for row in ext.get("tags", []):
        ident = constant_name(row["name"])
        if ident in seen_tag_idents:
            ident = f"COSMIAN_{ident}"
        seen_tag_idents.add(ident)
        value = int(row["hex"], 16)
        out.append(f"    {ident} = 0x{value:06X}  # Cosmian extension\n")
        tag_rows.append(
            f"    (0x{value:06X}, {row['name']!r}, {row['xml_name']!r}, {_types(row['type'])!r}, (2, 0), (2, 1), "
            f"{_types(row['type'])!r}, {row.get('values_from')!r}, True, {row['xml_name']!r}),\n"
        )
    out.append("\n\n")

    # --- Enumerations ------------------------------------------------------------------------------------------
    enum_rows: list[str] = []
    for enum_name, info in enums.items():
        if enum_name == "Tag":
            continue  # the Tag enumeration's values are the tag numbers: the Tag class above
        cls = class_name(enum_name)
        tag = info["tag"]
        out.append(f'class {cls}(IntEnum):\n    """KMIP {enum_name} enumeration')
        out.append(f' (2.1 section {info["sections"].get(LATEST, "-")})."""\n\n')
        values = list(info["values"]) or list(pkcs11_names.get(enum_name, []))
        ext_values = ext.get("enumerations", {}).get(enum_name, [])
        value_rows: list[str] = []
        idents: set[str] = set()
        for val, is_ext in [(v, False) for v in values] + [(v, True) for v in ext_values]:
            ident = constant_name(val["name"], val["xml_name"])
            if ident in idents:
                ident = f"{ident}_{int(val['value'], 16):X}"
            idents.add(ident)
            number = int(val["value"], 16)
            comment = "  # Cosmian extension" if is_ext else ""
            out.append(f"    {ident} = 0x{number:08X}{comment}\n")
            aliases = tuple(val.get("xml_name_aliases", ()))
            first = version_tuple(val.get("first_version", "2.0"))
            last = version_tuple(val.get("last_version", "2.1"))
            json_name = json_enums.get(enum_name, {}).get(number, val["xml_name"])
            value_rows.append(
                f"        (0x{number:08X}, {val['name']!r}, {val['xml_name']!r}, {aliases!r}, {first!r}, {last!r}, "
                f"{is_ext}, {json_name!r}),\n"
            )
        if not values and not ext_values:
            out.append("    pass\n")
        out.append("\n\n")
        tag_value = int(tag, 16) if tag else None
        used_by = tuple(info.get("used_by_tags", ()))
        enum_rows.append(
            f"    ({enum_name!r}, {cls}, {tag_value!r}, {used_by!r}, "
            f"{version_tuple(info['first_version'])!r}, {version_tuple(info['last_version'])!r}, (\n"
            + "".join(value_rows)
            + "    )),\n"
        )

    # --- Masks -------------------------------------------------------------------------------------------------
    mask_rows: list[str] = []
    for mask_name, info in masks.items():
        cls = class_name(mask_name)
        out.append(f'class {cls}(IntFlag):\n    """KMIP {mask_name} bit mask')
        out.append(f' (2.1 section {info["sections"].get(LATEST, "-")})."""\n\n')
        bit_rows: list[str] = []
        for bit in info["bits"]:
            ident = constant_name(bit["name"], bit["xml_name"])
            number = int(bit["value"], 16)
            out.append(f"    {ident} = 0x{number:08X}\n")
            bit_rows.append(
                f"        (0x{number:08X}, {bit['name']!r}, {bit['xml_name']!r}, "
                f"{version_tuple(bit['first_version'])!r}, {version_tuple(bit['last_version'])!r}),\n"
            )
        out.append("\n\n")
        used_by = tuple(info.get("used_by_tags", ()))
        mask_rows.append(
            f"    ({mask_name!r}, {cls}, {int(info['tag'], 16)!r}, {used_by!r}, (\n" + "".join(bit_rows) + "    )),\n"
        )

    out.append(
        "# (value, name, xml_name, item types, first version, last version, 1.x item types, values_from, extension,\n"
        "#  json_name: the Cosmian KMS JSON TTLV spelling)\n"
    )
    out.append("TAG_ROWS = (\n" + "".join(tag_rows) + ")\n\n")
    out.append("# Tag enumeration values (Attribute Reference) whose Cosmian JSON spelling differs from the tag's\n")
    out.append(f"TAG_ENUM_JSON_NAMES = {dict(sorted(json_enums.get('Tag', {}).items()))!r}\n\n")
    out.append(
        "# (name, class, tag, used_by_tags, first, last,\n"
        "#  ((value, name, xml_name, xml_aliases, first, last, extension, json_name), ...))\n"
    )
    out.append("ENUM_ROWS = (\n" + "".join(enum_rows) + ")\n\n")
    out.append("# (name, class, tag, used_by_tags, ((value, name, xml_name, first, last), ...))\n")
    out.append("MASK_ROWS = (\n" + "".join(mask_rows) + ")\n")
    return "".join(out)


def main() -> None:
    target = KMIP_PACKAGE / "_registry_data.py"
    target.write_text(generate())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
