"""Transports: the HTTP API (Cosmian KMS 5.x compatible) and the KMIP TLS socket, with their configuration,
authentication, metrics and the ``serve`` / ``certs init`` commands; beside them the external key services
(``key_services``: Google Workspace CSE in ``google_cse``, Microsoft DKE in ``ms_dke``).

Transports turn bytes into engine calls and back; they never touch stored objects (DESIGN.md).
"""

from .config import ConfigError, JwtIssuer, ServerConfig, load_config
from .serve import KeysteadServer, StartupError, run

__all__ = ["ConfigError", "JwtIssuer", "KeysteadServer", "ServerConfig", "StartupError", "load_config", "run"]
