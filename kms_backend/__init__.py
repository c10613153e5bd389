"""Keystead: a KMIP key-management server and the engine behind the Keystead PKCS#11 provider."""

__version__ = "0.1.0"
__all__ = ["__version__"]
