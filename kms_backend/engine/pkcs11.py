"""The engine's side of the KMIP 2.1 PKCS#11 operation (§6.1.37): an interface the server wires at startup.

A client sends a PKCS#11 function and its marshalled parameters; the server runs the function through a PKCS#11
implementation and returns the output and the CK_RV. This server's implementation is its own provider
(``provider/``), which is a *client* of the engine: it turns PKCS#11 calls into KMIP operations. The engine must
not import it (that would point a dependency upward and make a cycle), so the engine only declares what it needs,
``Pkcs11Functions``, and the composition root (``server.serve``) hands it an object from ``provider.kmip_pkcs11``
built around this very engine. Without one the operation is Operation Not Supported and Query does not list it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..kmip._registry_data import PKCS11Function


@dataclass(frozen=True, slots=True)
class Pkcs11Result:
    """What one PKCS#11 function gave back: its CK_RV, output parameters and the Correlation Value that names the
    PKCS#11 context for the calls that follow (set by C_Initialize, absent after C_Finalize)."""

    return_code: int
    output: bytes | None = None
    correlation_value: bytes | None = None


class Pkcs11Functions(Protocol):
    """Runs PKCS#11 functions on behalf of KMIP users; each user's contexts are its own."""

    def call(
        self, user: str, function: PKCS11Function, correlation_value: bytes | None, parameters: bytes | None
    ) -> Pkcs11Result:
        """Run ``function`` for ``user`` in the context ``correlation_value`` names (None: before C_Initialize).
        Raises ``KmipError`` (Invalid Correlation Value, PKCS#11 Codec Error...) when the request itself is
        wrong; a PKCS#11 failure is a ``Pkcs11Result`` with its CK_RV."""
        ...


__all__ = ["Pkcs11Functions", "Pkcs11Result"]
