"""Random number generation (PKCS#11 3.0 §5.19) through KMIP RNG Retrieve and RNG Seed."""

from __future__ import annotations

from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import Operation

from .library import Library

#: One RNG Retrieve asks for at most this much (the KMS bounds responses; large requests are split).
MAX_CHUNK = 1 << 20


def generate_random(lib: Library, session_handle: int, length: int) -> bytes:
    """§5.19.2 C_GenerateRandom: the KMS's CSPRNG (KMIP RNG Retrieve)."""
    lib.session(session_handle)
    parts: list[bytes] = []
    remaining = length
    while remaining > 0:
        size = min(remaining, MAX_CHUNK)
        response = lib.run(Operation.RNG_RETRIEVE, S.RNGRetrieveRequest(data_length=size))
        parts.append(bytes(response.data))
        remaining -= size
    return b"".join(parts)


def seed_random(lib: Library, session_handle: int, seed: bytes) -> None:
    """§5.19.1 C_SeedRandom: KMIP RNG Seed (the KMS decides how much of the seed it mixes in)."""
    lib.session(session_handle)
    if seed:
        lib.run(Operation.RNG_SEED, S.RNGSeedRequest(data=seed))


__all__ = ["generate_random", "seed_random"]
