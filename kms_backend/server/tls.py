"""TLS contexts for the two listeners: HTTPS (client certificates optional or required) and the KMIP socket
(mutual TLS always: KMIP Profiles 2.1 §4.1 "Basic Authentication Suite" / §4.2 "TLS 1.2 Authentication Suite")."""

from __future__ import annotations

import ssl

from .config import ServerConfig

_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def server_context(config: ServerConfig, client_auth: str) -> ssl.SSLContext:
    """A server-side context with the configured certificate, TLS 1.2 at least, verifying client certificates
    against ``tls_ca`` as ``client_auth`` (none, optional, required) says."""
    if not config.tls_cert or not config.tls_key:
        raise ValueError("TLS needs --tls-cert and --tls-key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if client_auth != "none":
        if not config.tls_ca:
            raise ValueError("client certificates need --tls-ca")
        context.load_verify_locations(cafile=config.tls_ca)
    context.verify_mode = _VERIFY[client_auth]
    return context


def http_client_auth(config: ServerConfig, other_auth: bool) -> str:
    """The effective client-certificate mode of HTTPS. ``auto``: required when there is a CA and no token or JWT
    authentication to fall back on (so mutual TLS protects the API as it protects port 5696), optional when there
    is, none without a CA."""
    mode = config.http_client_auth
    if not config.tls_enabled or not config.tls_ca:
        return "none"
    if mode == "auto":
        return "optional" if other_auth else "required"
    return mode


__all__ = ["http_client_auth", "server_context"]
