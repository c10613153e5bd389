"""The provider's view of the KMS: a ``Backend`` runs one KMIP 2.1 operation (STYLE rule 6), as an ``Identity``.

Failures are ``KmipError``; the provider maps their reason to a CK_RV through ``errors.REASON_TO_CKR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kms_backend.kmip._registry_data import Operation
from kms_backend.kmip.schema import Struct


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request runs as: the KMS user name (embedded) and, for a remote KMS, an optional bearer token."""

    user: str
    bearer_token: str | None = None


class Backend(Protocol):
    """Runs KMIP operations for the provider."""

    def run(self, operation: Operation, payload: Struct, identity: Identity) -> Struct:
        """Run one operation with a 2.1 request payload; return its response payload or raise ``KmipError``."""
        ...

    def close(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...


__all__ = ["Backend", "Identity"]
