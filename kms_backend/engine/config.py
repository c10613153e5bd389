"""The engine's configuration: one frozen object, built by the entry point and passed in (STYLE rule 7)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import __version__


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What the KMIP engine needs to know about its deployment."""

    #: Name of the user when a transport authenticates nobody (no TLS client certificate, no token).
    default_username: str = "admin"
    #: When non-empty, only these users may create objects (Create, Create Key Pair, Register, Import...).
    privileged_users: frozenset[str] = frozenset()
    #: Users allowed every operation on every object (server administrators).
    admin_users: frozenset[str] = frozenset()
    server_name: str = "Keystead"
    vendor_identification: str = "Keystead"
    server_version: str = __version__
    max_batch_items: int = 1000
    #: Refuse non-approved algorithms (ChaCha20, RSA PKCS#1 v1.5 encryption, secp256k1, SHA-1 signatures...).
    approved_only: bool = False
    #: Run the crypto layer's power-on known-answer self tests when the engine starts; refuse to start on failure.
    self_test: bool = True
    #: Objects (records and grants) kept between requests while the store reports no commit (``engine.hot``);
    #: 0 reads every object from the store on every request.
    hot_objects: int = 4096


__all__ = ["EngineConfig"]
