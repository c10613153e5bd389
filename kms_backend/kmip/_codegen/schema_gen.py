"""Generate ``kms_backend/kmip/_schema_data.py``: one dataclass per KMIP structure of structures.md.

2.1 structures get plain names (``CreateRequest``, ``KeyBlock``); every 1.4 structure gets a ``V1`` twin
(``CreateRequestV1``, ``KeyBlockV1``) so that a 1.x message maps to typed objects and back unchanged. Each class
carries a ``__kmip__`` StructSpec (tag, fields in spec order) that the generic mapper (``mapper.py``) reads.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict

from .common import HEADER, KMIP_PACKAGE, class_name, spec_dir
from .registry_gen import ITEM_TYPES
from .structures_md import FieldDef, StructDef, parse

# Structures whose content is "any attribute": one hand-written container type (attributes.Attributes).
ATTRIBUTE_CONTAINERS = {0x420125, 0x420126, 0x420127, 0x420128, 0x42013C, 0x42013D}
OBJECT_TAGS = {
    "2.1": [
        "Certificate",
        "Certificate Request",
        "Opaque Object",
        "PGP Key",
        "Private Key",
        "Public Key",
        "Secret Data",
        "Split Key",
        "Symmetric Key",
    ],
    "1.4": [
        "Certificate",
        "Opaque Object",
        "PGP Key",
        "Private Key",
        "Public Key",
        "Secret Data",
        "Split Key",
        "Symmetric Key",
        "Template",
    ],
}
# Tags that share another tag's layout (1.4 §2.1.8: the Template-Attribute family; 2.1 §7.33: storage masks).
LAYOUT_ALIASES = {
    # 2.1 §4.46: the Random Number Generator attribute has the RNG Parameters layout (§7.36)
    0x4200DE: 0x4200D9,
    0x42001F: 0x420091,
    0x420065: 0x420091,
    0x42006E: 0x420091,
    0x420163: 0x42015F,
    0x420164: 0x42015F,
    0x420165: 0x42015F,
}
# Structures the spec describes in prose only (2.1 §7.33 shows the outer row alone).
SUPPLEMENT = [
    StructDef(
        name="Protection Storage Masks",
        tag=0x42015F,
        version="2.1",
        section="7.33",
        fields=[FieldDef("Protection Storage Mask", 0x42015E, "Integer", False, True)],
    ),
]
# Fields the spec tables mark REQUIRED that the OASIS test cases (and real servers) omit.
RELAXED = {
    ("QueryResponse", "Protection Storage Masks"),
    ("UsageLimits", "Usage Limits Count"),
    # PyKMIP 0.11 sends a 2.0 Locate without Attributes when there is no filter.
    ("LocateRequest", "Attributes"),
}
PY_TYPES = {
    1: "object",
    2: "int",
    3: "int",
    4: "int",
    5: "int",
    6: "bool",
    7: "str",
    8: "bytes",
    9: "int",
    10: "int",
    11: "int",
}


def snake(name: str) -> str:
    text = re.sub(r"\(.*?\)", "", name)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", text)
    return text.lower()


def _tags_by_name() -> dict[str, dict[str, str]]:
    rows = csv.DictReader((spec_dir() / "tags.csv").open(newline=""))
    return {r["name"].casefold(): r for r in rows}


class Generator:
    def __init__(self) -> None:
        self.defs = parse(spec_dir() / "structures.md") + SUPPLEMENT
        self.tags = _tags_by_name()
        self.tag_rows = {int(r["hex"], 16): r for r in self.tags.values()}
        self.classes: dict[str, StructDef] = {}  # class name -> def
        self.class_version: dict[str, str] = {}
        self.by_tag: dict[tuple[str, int], list[str]] = defaultdict(list)
        self.payloads: dict[tuple[str, str, str], str] = {}
        self.missing: set[tuple[str, str, int]] = set()

    def tag_for(self, name: str) -> int:
        if name in ("Request Batch Item", "Response Batch Item"):
            return 0x42000F
        row = self.tags.get(name.casefold())
        if row is None:
            raise KeyError(f"no tag named {name!r}")
        return int(row["hex"], 16)

    def collect(self) -> None:
        for d in self.defs:
            suffix = "V1" if d.version == "1.4" else ""
            if d.operation:
                if d.server_to_client and any(
                    o.operation == d.operation and not o.server_to_client and o.version == d.version for o in self.defs
                ):
                    continue  # 2.1 §6.2 repeats of client-to-server operations: same payloads
                role = d.role or "request"
                cname = class_name(d.operation) + ("Request" if role == "request" else "Response") + suffix
                d.tag = 0x420079 if role == "request" else 0x42007C
                self.payloads[(d.version, d.operation, role)] = cname
            else:
                name = d.name
                if d.version == "2.1" and name == "Attribute":
                    name = "Vendor Attribute"
                if d.tag is None:
                    d.tag = self.tag_for(name)
                if d.tag in ATTRIBUTE_CONTAINERS:
                    continue
                cname = class_name(name) + suffix
            if cname in self.classes:
                if d.operation:
                    continue  # server-to-client tables of 1.4 §5 (Query): the client-to-server one wins
                if [(f.tag, f.multi) for f in self.classes[cname].fields] != [(f.tag, f.multi) for f in d.fields]:
                    raise ValueError(f"two different tables for {cname}")
                continue
            self.classes[cname] = d
            self.class_version[cname] = d.version
            assert d.tag is not None
            self.by_tag[(d.version, d.tag)].append(cname)

    def candidates(self, version: str, tag: int) -> list[str]:
        tag = LAYOUT_ALIASES.get(tag, tag)
        found = self.by_tag.get((version, tag)) or self.by_tag.get(("2.1", tag)) or []
        return list(found)

    def field_code(self, version: str, cname: str, f: FieldDef) -> tuple[str, str, str]:
        """(python annotation, default expression, FieldSpec expression)."""
        ftext = f.type_text
        name = snake(f.name)
        if f.tag is None and "managed object" in ftext:
            objs = [c for n in OBJECT_TAGS[version] for c in self.candidates(version, self.tag_for(n))]
            ann = " | ".join(objs)
            spec = f"F({name!r}, 0, 'o', (), ({', '.join(objs)},), {f.required}, {f.multi})"
            return ann, "", spec
        if f.tag is None:
            # "Vendor-Specific" / "Object Type | ObjectTypes": kept as raw items.
            return "list[Item]", "field(default_factory=list)", "F('extra', 0, 'x', (), (), False, True)"
        tag = f.tag
        if tag in ATTRIBUTE_CONTAINERS:
            ann = "Attributes"
            return ann, "", f"F({name!r}, 0x{tag:06X}, 'a', (), (), {f.required}, {f.multi})"
        if ftext in ("varies", "any") or (not ftext and tag in self.tag_rows):
            if tag == 0x420025:  # Credential Value: one of the credential value structures
                creds = self.candidates(version, tag)
                ann = " | ".join([*creds, "Item"])
                return ann, "", f"F({name!r}, 0x{tag:06X}, 's', (), ({', '.join(creds)},), {f.required}, {f.multi})"
            return "Item", "", f"F({name!r}, 0x{tag:06X}, 'r', (), (), {f.required}, {f.multi})"
        if ftext.startswith("Attribute"):  # "Attribute, May be repeated" (Object Group)
            ftext = "TextString"
        types = [t.strip() for t in ftext.replace("Structure (managed object)", "Structure").split("|")]
        prim = [ITEM_TYPES[t] for t in types if t in ITEM_TYPES and t != "Structure"]
        structs: list[str] = []
        if tag in (0x420079, 0x42007C):  # Request/Response Payload: the class follows the Operation
            return "Struct", "", f"F({name!r}, 0x{tag:06X}, 'y', (), (), {f.required}, {f.multi})"
        if "Structure" in types:
            structs = self.candidates(version, tag)
            for direction in ("Request", "Response"):
                # Batch Item: the request message holds request batch items, the response message response ones.
                if cname.startswith(direction) and len(structs) > 1:
                    structs = [s for s in structs if s.startswith(direction)] or structs
            if not structs:
                # No table describes it (Vendor Extension): kept as a raw item.
                return "Item", "", f"F({name!r}, 0x{tag:06X}, 'r', (), (), {f.required}, {f.multi})"
        row = self.tag_rows[tag]
        enum_cls = "None"
        py: list[str] = []
        for t in prim:
            if t == 5:
                values_from = row["values_from"] or row["name"]
                ecls = class_name(values_from)
                if values_from == "Tag":
                    ecls = "Tag"
                enum_cls = f"E.{ecls}"
                py.append(enum_cls)
            else:
                py.append(PY_TYPES[t])
        py.extend(structs)
        seen: list[str] = []
        for p in py:
            if p not in seen:
                seen.append(p)
        ann = " | ".join(seen)
        kind = "s" if structs else "p"
        spec = (
            f"F({name!r}, 0x{tag:06X}, {kind!r}, {tuple(prim)!r}, ({', '.join(structs)}{',' if structs else ''}), "
            f"{f.required}, {f.multi}, {enum_cls})"
        )
        return ann, "", spec

    def emit(self) -> str:
        self.collect()
        out = [HEADER.format(generator="schema_gen.py")]
        out.append(
            "# ruff: noqa: E501\n"
            "from __future__ import annotations\n\n"
            "from dataclasses import dataclass, field\n\n"
            "from . import _registry_data as E\n"
            "from ._registry_data import Tag\n"
            ""
            "from .schema import FieldSpec as F\n"
            "from .schema import Attributes, StructSpec, Struct\n"
            "from .ttlv import Item\n\n"
        )
        specs: list[str] = []
        for cname, d in self.classes.items():
            version = self.class_version[cname]
            title = (
                f"{d.operation} {'Request' if (d.role or 'request') == 'request' else 'Response'} Payload"
                if d.operation
                else d.name
            )
            vtext = "KMIP 1.0-1.4 form" if version == "1.4" else "KMIP 2.x"
            out.append(f"@dataclass(slots=True, kw_only=True)\nclass {cname}(Struct):\n")
            out.append(f'    """{title} ({vtext}, {version} §{d.section.lstrip("§").replace("1.4 §", "")})."""\n\n')
            fspecs: list[str] = []
            names: set[str] = set()
            for f in d.fields:
                if (cname, f.name) in RELAXED:
                    f.required = False
                ann, _, spec = self.field_code(version, cname, f)
                if f.tag is None:
                    fname = "managed_object" if "managed object" in f.type_text else "extra"
                    spec = spec.replace(f"F({snake(f.name)!r}, ", "F('managed_object', ")
                else:
                    fname = snake(f.name)
                if fname in names:
                    continue
                names.add(fname)
                if fname == "extra":
                    ann_full, default = "list[Item]", " = field(default_factory=list)"
                elif f.multi:
                    ann_full = f"list[{ann}]"
                    default = "" if f.required else " = field(default_factory=list)"
                else:
                    ann_full = ann if f.required else f"{ann} | None"
                    default = "" if f.required else " = None"
                out.append(f"    {fname}: {ann_full}{default}\n")
                fspecs.append(spec)
            if not d.fields:
                out.append("    pass\n")
            out.append("\n\n")
            specs.append(
                f"{cname}.__kmip__ = StructSpec({cname!r}, 0x{d.tag:06X}, {version!r}, (\n    "
                + ",\n    ".join(fspecs)
                + ("," if fspecs else "")
                + "\n))\n"
            )
        out.extend(specs)
        out.append("\n# (protocol family, operation, role) -> payload class\n")
        out.append("PAYLOADS: dict[tuple[int, E.Operation, str], type[Struct]] = {\n")
        for (version, op, role), cname in self.payloads.items():
            major = 1 if version == "1.4" else 2
            op_const = re.sub(r"[^A-Za-z0-9]+", "_", op).strip("_").upper()
            out.append(f"    ({major}, E.Operation.{op_const}, {role!r}): {cname},\n")
        out.append("}\n\n# (protocol family, tag) -> classes that structure may decode to, in preference order\n")
        out.append("CLASSES_BY_TAG: dict[tuple[int, int], tuple[type[Struct], ...]] = {\n")
        for (version, tag), names in self.by_tag.items():
            major = 1 if version == "1.4" else 2
            out.append(f"    ({major}, 0x{tag:06X}): ({', '.join(names)},),\n")
        out.append("}\n\n")
        out.append(self.attribute_fields())
        return "".join(out)

    def attribute_fields(self) -> str:
        """ATTRIBUTE_FIELDS: how each 2.1 attribute (§4) decodes inside an Attributes structure."""
        text = (spec_dir() / "structures.md").read_text()
        start = text.index("### Attributes (2.1 §4)")
        lines = [ln for ln in text[start:].splitlines() if re.match(r"^\| 4\.\d+ \|", ln)]
        out = [
            "# attribute tag -> how its value decodes inside Attributes (2.1 §4); multi = several instances allowed\n"
        ]
        out.append("ATTRIBUTE_FIELDS: dict[int, F] = {\n")
        for ln in lines:
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", ln)[1:-1]]
            name, tag_text, type_text, multi_text = cells[1], cells[2], cells[3], cells[9]
            if not tag_text.startswith("0x"):
                continue
            multi = multi_text.startswith("Yes") or tag_text == "0x420008"
            fdef = FieldDef(
                name if name != "Vendor Attribute" else "Vendor Attribute", int(tag_text, 16), type_text, False, multi
            )
            _, _, spec = self.field_code("2.1", "Attributes", fdef)
            out.append(f"    0x{fdef.tag:06X}: {spec},\n")
        out.append("}\n")
        return "".join(out)


def generate() -> str:
    return Generator().emit()


def main() -> None:
    target = KMIP_PACKAGE / "_schema_data.py"
    target.write_text(generate())
    print(f"wrote {target}")
