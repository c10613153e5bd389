"""What MAC and MAC Verify share: the key loaded for the operation, with the MAC it resolves to
(``_params.mac_algorithm``, ``_params.mac_mode``), and a stream of that MAC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...crypto import MacStream
from ...kmip._registry_data import BlockCipherMode, CryptographicAlgorithm, Operation
from ..context import RequestContext
from ..keymaterial import Key
from ..objects import ManagedObject
from ._params import approved_only, mac_algorithm, mac_mode
from ._usage import U, load_key


@dataclass(frozen=True, slots=True)
class MacKey:
    """A symmetric key loaded for MAC or MAC Verify and the MAC it computes."""

    mo: ManagedObject
    key: Key
    algorithm: CryptographicAlgorithm
    mode: BlockCipherMode | None
    approved_only: bool

    def stream(self) -> MacStream:
        return MacStream(self.key.material, self.algorithm, approved_only=self.approved_only, mode=self.mode)


def load_mac_key(ctx: RequestContext, request: Any, operation: Operation) -> MacKey:
    """The key of a MAC (protects: Active keys only) or MAC Verify (processes) request, checked for that use."""
    verify = operation == Operation.MAC_VERIFY
    usage = U.MAC_VERIFY if verify else U.MAC_GENERATE
    mo, key = load_key(ctx, request.unique_identifier, operation, usage, kinds=("symmetric",), process=verify)
    algorithm = mac_algorithm(mo, key, request.cryptographic_parameters)
    mode = mac_mode(algorithm, request.cryptographic_parameters)
    return MacKey(mo, key, algorithm, mode, approved_only(ctx))


__all__ = ["MacKey", "load_mac_key"]
