"""Keystead's PKCS#11 provider: PKCS#11 (slots, tokens, sessions, handles) mapped to KMIP operations run by a
``Backend`` (the engine in-process, or a remote KMS). The C ABI lives in ``c_shim``."""

__version__ = "0.1.0"

__all__ = ["__version__"]
