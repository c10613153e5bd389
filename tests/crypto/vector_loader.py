"""The one loader for the crypto known-answer files in ``tests/crypto/vectors/``.

Format (close to NIST CAVP ``.rsp``): ``# comment`` lines; ``[Section]`` lines name the section of the records
that follow; records are ``name = value`` lines separated by blank lines. A value is hex, or ASCII text in double
quotes; an empty value is the empty byte string. Each file's header cites the publication the values come from.
"""

from __future__ import annotations

from pathlib import Path

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"


class Vector(dict[str, str]):
    """One record: field name → value text, plus ``section``; :meth:`bytes` decodes a field."""

    def bytes(self, name: str) -> bytes:
        text = self[name]
        if len(text) >= 2 and text[0] == text[-1] == '"':
            return text[1:-1].encode()
        return bytes.fromhex(text)

    @property
    def name(self) -> str:
        """A short id for pytest parametrization."""
        return " ".join(part for part in (self.get("section", ""), self.get("source", "")) if part) or "vector"


def load_vectors(file_name: str) -> list[Vector]:
    """Every record of ``vectors/<file_name>`` in file order."""
    records: list[Vector] = []
    section = ""
    current: Vector | None = None
    for raw in [*(VECTORS_DIR / file_name).read_text().splitlines(), ""]:
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                records.append(current)
            current = None
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{file_name}: not a 'name = value' line: {raw!r}")
        if current is None:
            current = Vector(section=section) if section else Vector()
        current[name.strip()] = value.strip()
    return records


def vector_files() -> list[str]:
    """Names of every vector file (the test of the loader reads them all)."""
    return sorted(path.name for path in VECTORS_DIR.glob("*.txt"))
