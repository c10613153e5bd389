"""Parser for ../shared/kmip-spec/structures.md: structure and payload tables as plain data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FieldDef:
    name: str
    tag: int | None
    type_text: str
    required: bool
    multi: bool


@dataclass
class StructDef:
    name: str
    tag: int | None
    version: str  # "2.1" or "1.4"
    section: str
    fields: list[FieldDef] = field(default_factory=list)
    operation: str | None = None
    role: str | None = None  # "request" | "response" for operation payloads
    server_to_client: bool = False


_HEADING = re.compile(r"^#### (.*)$")
_BACKTICK = re.compile(r"^`([^`]+)`\s+(0x[0-9A-Fa-f]{6}|—)\s+(\w+):")
_OPERATION = re.compile(r"^(.*?) — (?:1\.4 )?§([\d.]+) — Operation (0x[0-9A-F]{8})( \(server-to-client\))?")


def _cells(line: str) -> list[str]:
    # Split on '|' that is not escaped as '\|'.
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def _title(heading: str) -> tuple[str, str]:
    """(structure name, section) from a heading such as 'Request Header — §8.2' or 'Table 282: Request
    Header Structure — 1.4 §7.2'."""
    parts = [p.strip() for p in heading.split(" — ")]
    section = next((p for p in parts if "§" in p), "")
    name = parts[0]
    m = re.match(r"Table \d+: (.*?)(?: Structure)?$", name)
    if m:
        name = m.group(1)
    name = re.sub(r" \((?:attribute structure|1\.4 attribute structure)\)$", "", name)
    return name, section


def parse(path: Path) -> list[StructDef]:
    """Every table of structures.md as a StructDef, in document order."""
    lines = path.read_text().splitlines()
    version = "2.1"
    out: list[StructDef] = []
    heading = ""
    op: tuple[str, str, bool] | None = None
    role: str | None = None
    pending: tuple[str, int | None] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## KMIP 1.4"):
            version = "1.4"
        m = _HEADING.match(line)
        if m:
            heading = m.group(1)
            om = _OPERATION.match(heading)
            op = (om.group(1), om.group(2), bool(om.group(4))) if om else None
            role = None
            pending = None
        elif line.startswith("*Request Payload*"):
            role = "request"
        elif line.startswith("*Response Payload*"):
            role = "response"
        else:
            bm = _BACKTICK.match(line)
            if bm:
                tag = int(bm.group(2), 16) if bm.group(2) != "—" else None
                pending = (bm.group(1), tag)
        if line.strip() == "(empty)" and op is not None and role is not None:
            # An operation payload the spec defines as empty (Interop, Log, Logout... responses).
            out.append(
                StructDef(
                    name=op[0],
                    tag=None,
                    version=version,
                    section=op[1],
                    operation=op[0],
                    role=role,
                    server_to_client=op[2],
                )
            )
            role = None
        if line.startswith("| Field |"):
            rows: list[FieldDef] = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = _cells(lines[i])
                fname, ftag, ftype, freq, fmult = cells[:5]
                rows.append(
                    FieldDef(
                        name=fname,
                        tag=int(ftag, 16) if ftag.startswith("0x") else None,
                        type_text=ftype,
                        required=freq.startswith("Yes") and "cond" not in fmult,
                        multi=fmult.startswith(("0..n", "1..n")),
                    )
                )
                i += 1
            title, section = _title(heading)
            if op is not None:
                sdef = StructDef(
                    name=op[0],
                    tag=None,
                    version=version,
                    section=op[1],
                    fields=rows,
                    operation=op[0],
                    role=role,
                    server_to_client=op[2],
                )
            else:
                name, tag = pending if pending else (title, None)
                table_title = heading.split(" — ")[-1]
                if name in ("Key Material",):
                    name = title
                elif name == "Credential Value":
                    cm = re.search(r"for the (.*?)(?: Credential)?$", table_title)
                    name = f"{cm.group(1) if cm else 'Generic'} Credential Value"
                elif name.startswith("Template-Attribute,"):
                    name = "Template-Attribute"
                sdef = StructDef(name=name, tag=tag, version=version, section=section, fields=rows)
            out.append(sdef)
            pending = None
            continue
        i += 1
    return out
