"""A pytest plugin that runs any test-suite with every in-process ``Engine`` sealing its store under an HSM KEK:
``python -m pytest -p tests.hsm.kek_plugin tests/provider`` (the PKCS#11 provider's suite over a KEK-protected
store). It creates a throw-away SoftHSM token and wraps ``kms_backend.engine.Engine`` so that engines built
without ``records``/``hsm`` get the KEK's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kms_backend.hsm import HsmRuntime, HsmSettings, open_hsm
from kms_backend.hsm.softhsm import SoftHsm, missing_reason

_RUNTIME: list[HsmRuntime] = []


def pytest_configure(config: pytest.Config) -> None:
    reason = missing_reason()
    if reason is not None:
        raise pytest.UsageError(f"kek_plugin: {reason}")
    directory = Path(tempfile.mkdtemp(prefix="keystead-kek-plugin-"))
    softhsm = SoftHsm.create(directory)
    softhsm.init_token("kek-plugin", "plugin-pin-1234", base=os.environ)
    os.environ["SOFTHSM2_CONF"] = str(softhsm.conf)
    import pkcs11

    pkcs11.lib(softhsm.module).reinitialize()
    runtime = open_hsm(HsmSettings(softhsm.module, "kek-plugin", "plugin-pin-1234", "kek", create_kek=True))
    _RUNTIME.append(runtime)
    import kms_backend.engine as engine_package
    import kms_backend.engine.engine as engine_module

    original = engine_module.Engine

    class SealedEngine(original):  # type: ignore[misc,valid-type]
        def __init__(self, store: Any, config: Any = None, **kwargs: Any) -> None:
            if kwargs.get("records") is None:
                kwargs.update(runtime.engine_options())
            super().__init__(store, config, **kwargs)

    engine_module.Engine = SealedEngine  # type: ignore[misc]
    engine_package.Engine = SealedEngine  # type: ignore[misc]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for runtime in _RUNTIME:
        stats = runtime.sealer.cache.stats
        terminalreporter.write_line(
            f"kek_plugin: engines sealed their store under HSM KEK {runtime.kek.kek_id.hex()} "
            f"(unseal cache: {stats.hits} hits, {stats.misses} misses)"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    for runtime in _RUNTIME:
        runtime.close()
