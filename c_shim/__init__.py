"""The C ABI of Keystead's PKCS#11 provider: ``libkeystead_pkcs11.so``, built by ``python -m c_shim.build``."""

from pathlib import Path

#: Where ``python -m c_shim.build`` puts the library (``keystead pkcs11 path`` prints it).
LIBRARY_PATH = Path(__file__).resolve().parent / "_build" / "libkeystead_pkcs11.so"

__all__ = ["LIBRARY_PATH"]
