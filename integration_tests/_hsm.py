"""SoftHSM2 for the HSM integration tests: a throw-away token directory per test module, exported through
``SOFTHSM2_CONF`` so that ``keystead`` subprocesses see the same tokens. Without SoftHSM2 the tests skip, unless
``KEYSTEAD_REQUIRE_SERVICES=1`` (CI), where they fail."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kms_backend.hsm.softhsm import SoftHsm, missing_reason

PIN = "user-pin-1234"
REQUIRE_SERVICES = os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1"


@dataclass(frozen=True)
class Token:
    softhsm: SoftHsm
    label: str
    pin: str = PIN

    def options(self, kek_label: str, *, create: bool = False, pin: str | None = None) -> list[str]:
        """The ``keystead serve`` / ``rotate-kek`` flags for this token."""
        flags = [
            "--hsm-module", self.softhsm.module,
            "--hsm-token-label", self.label,
            "--hsm-pin", pin or self.pin,
            "--hsm-kek-label", kek_label,
        ]  # fmt: skip
        return [*flags, "--hsm-create-kek"] if create else flags


def softhsm_tokens(tmp: Path, *labels: str) -> Iterator[list[Token]]:
    """Create the tokens, point SOFTHSM2_CONF at them for this process and its children; yields the tokens."""
    reason = missing_reason()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (KEYSTEAD_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    hsm = SoftHsm.create(tmp)
    for label in labels:
        hsm.init_token(label, PIN, base=os.environ)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(hsm.conf))
        import pkcs11

        pkcs11.lib(hsm.module).reinitialize()  # this process may have loaded SoftHSM with another directory
        yield [Token(hsm, label) for label in labels]


def find_tag(tree: Any, tag: str) -> list[Any]:
    """Every node of a JSON TTLV tree with this tag."""
    found = []
    if isinstance(tree, dict):
        if tree.get("tag") == tag:
            found.append(tree)
        value = tree.get("value")
        if isinstance(value, list):
            for child in value:
                found += find_tag(child, tag)
    elif isinstance(tree, list):
        for child in tree:
            found += find_tag(child, tag)
    return found


def secret_values(tree: Any) -> list[bytes]:
    """The byte strings and big integers under KeyMaterial (the secrets a raw database must never show)."""
    values = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind, value = node.get("type"), node.get("value")
            if kind == "ByteString" and isinstance(value, str):
                values.append(bytes.fromhex(value))
            elif kind == "BigInteger" and isinstance(value, str):
                number = int(value, 16)
                values.append(number.to_bytes((number.bit_length() + 7) // 8, "big"))
            elif isinstance(value, list):
                for child in value:
                    walk(child)

    for material in find_tag(tree, "KeyMaterial"):
        walk(material)
    return [v for v in values if len(v) >= 16]
