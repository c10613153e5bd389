"""Every provider and c_shim module lists its public names in ``__all__`` (STYLE rule 8)."""

import importlib
import pkgutil

import pytest

import c_shim
import provider

MODULES = sorted(
    m.name
    for package in (provider, c_shim)
    for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    if "._" not in m.name
)


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_all(name: str) -> None:
    module = importlib.import_module(name)
    if name == "c_shim.build":
        pytest.skip("a build script")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert [n for n in exported if not hasattr(module, n)] == []
