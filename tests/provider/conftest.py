"""A Library over an in-memory engine, with a token configuration in a temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider import general, sessions
from provider.backends.memory import MemoryBackend
from provider.config import BackendConfig, ProviderConfig, hash_pin, save
from provider.constants import SessionFlag, UserType
from provider.library import Library
from provider.slots import SLOT_ID

USER_PIN = b"1234"
SO_PIN = b"5678"
RW = SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION


def make_config(path: Path) -> ProviderConfig:
    config = ProviderConfig(
        path=path,
        user_pin_hash=hash_pin(USER_PIN),
        so_pin_hash=hash_pin(SO_PIN),
        users=(("alice", hash_pin(b"alicepin")),),
        backend=BackendConfig(type="memory"),
        cache_ttl=60.0,
    )
    save(config)
    return config


@pytest.fixture
def lib(tmp_path: Path) -> Library:
    config = make_config(tmp_path / "pkcs11.yaml")
    backend = MemoryBackend()
    library = Library(environ={}, config_loader=lambda _env: config, backend_factory=lambda _cfg: backend)
    general.initialize(library, None)
    yield library
    if library.initialized:
        general.finalize(library, False)


@pytest.fixture
def session(lib: Library) -> int:
    return sessions.open_session(lib, SLOT_ID, RW)


@pytest.fixture
def user_session(lib: Library, session: int) -> int:
    sessions.login(lib, session, UserType.USER, USER_PIN)
    return session
