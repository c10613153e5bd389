"""SoftHSM2 fixtures: one throw-away SoftHSM configuration per test session, with its tokens created before the
library is loaded (SoftHSM scans its token directory only at C_Initialize).

Without SoftHSM2 the HSM tests skip with the reason, unless ``KEYSTEAD_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kms_backend.hsm.softhsm import SoftHsm, missing_reason

REQUIRE_SERVICES = os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1"
PIN = "user-pin-1234"
#: token name -> label; every test module uses its own token.
TOKENS = ("kek", "cache", "faults", "resident", "rotation", "engine")


@dataclass(frozen=True)
class HsmToken:
    module: str
    label: str
    pin: str
    softhsm: SoftHsm


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    reason = missing_reason()
    if reason is not None:
        if REQUIRE_SERVICES:
            pytest.fail(f"{reason} (KEYSTEAD_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    hsm = SoftHsm.create(tmp_path_factory.mktemp("softhsm"))
    for name in TOKENS:
        hsm.init_token(f"kst-{name}", PIN, base=os.environ)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(hsm.conf))
        import pkcs11

        pkcs11.lib(hsm.module).reinitialize()  # in case another test loaded SoftHSM with another configuration
        yield hsm


def token(softhsm: SoftHsm, name: str) -> HsmToken:
    return HsmToken(softhsm.module, f"kst-{name}", PIN, softhsm)


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
