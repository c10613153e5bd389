"""Every package and public module lists its public names in ``__all__``, and every listed name exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import kms_backend

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(kms_backend.__path__, "kms_backend.")
    if "._" not in m.name and "._codegen" not in m.name
)


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_all(name: str) -> None:
    module = importlib.import_module(name)
    if name.endswith(".cli") or name.rsplit(".", maxsplit=1)[-1] in {"__main__"}:
        pytest.skip("entry points have no library API")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists missing names {missing}"
