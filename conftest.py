"""Fixtures both test trees share (``tests/`` and ``integration_tests/``): the PKCS#11 shim built for this run.

It lives in the root conftest because that is the one conftest pytest loads for every test path under the project,
from any working directory, whichever of the two trees is collected.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from c_shim import build


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``libkeystead_pkcs11.so`` built from the current sources into this run's temporary directory, once per run
    (``c_shim/_build``, which ``make setup`` fills, may be older than the sources under test). Every test that
    loads it starts its own host process with its own token, so one copy serves them all."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler to build the shim")
    return build.build(tmp_path_factory.mktemp("shim") / build.LIBRARY_NAME)
