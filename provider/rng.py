"""Random number generation (PKCS#11 3.0 §5.19)."""

from __future__ import annotations

import os

from .library import Library
from .sessions import get_session


def generate_random(lib: Library, session_handle: int, length: int) -> bytes:
    """§5.19.2 C_GenerateRandom: the operating system's CSPRNG (the KMS's RNG Retrieve once it is routed)."""
    get_session(lib, session_handle)
    return os.urandom(length)


def seed_random(lib: Library, session_handle: int, seed: bytes) -> None:
    """§5.19.1 C_SeedRandom: the seed is mixed into the kernel pool (a write to /dev/urandom adds input without
    crediting entropy, so a poor seed can never weaken the generator)."""
    get_session(lib, session_handle)
    if seed:
        with open("/dev/urandom", "wb") as pool:
            pool.write(seed)


__all__ = ["generate_random", "seed_random"]
