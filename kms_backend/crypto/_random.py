"""RNG Retrieve and RNG Seed (KMIP 2.1 §6.1.44, §6.1.45).

Randomness comes from the operating system CSPRNG (``os.urandom``: getrandom(2) on Linux), which NIST SP 800-90B/C
entropy sources feed in validated kernels. That generator takes no caller seed, so RNG Seed accepts the data and
mixes nothing: the KMIP response reports the amount accepted, as §6.1.45 allows ("the amount of seed data
accepted"), and client-supplied bytes can never weaken the server's randomness.
"""

from __future__ import annotations

import os

from kms_backend.kmip._registry_data import ResultReason

from ._common import fail

#: Upper bound of one RNG Retrieve, so that a single request cannot exhaust memory.
MAX_RANDOM_BYTES = 1024 * 1024


def random_bytes(length: int) -> bytes:
    """``length`` bytes from the OS CSPRNG (RNG Retrieve Data Length, KMIP 2.1 §6.1.44)."""
    if not 0 <= length <= MAX_RANDOM_BYTES:
        fail(ResultReason.INVALID_FIELD, f"Data Length must be 0 to {MAX_RANDOM_BYTES}, got {length}")
    return os.urandom(length)


def seed(data: bytes) -> int:
    """Accept RNG Seed data (KMIP 2.1 §6.1.45) and return the number of bytes accepted; the OS CSPRNG is not
    reseeded by callers (see the module docstring)."""
    return len(data)
