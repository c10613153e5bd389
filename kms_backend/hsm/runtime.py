"""The HSM as the server (and any other engine host) uses it: settings, start-up checks, and what an engine is built
with (``HsmRuntime.engine_options``): the seal/unseal pair for stored key material, the resident keys as the source
of ``hsm::`` keys, and the unsealed-blob cache to clear with the engine's. Nothing here imports the engine: the
HSM is a key source and crypto backend below it.

``open_hsm(settings)`` logs in, finds (or creates) the KEK and checks it, and returns an ``HsmRuntime``; every
failure is a ``KmipError`` whose message says what is missing (library, token, PIN, KEK), which ``keystead
serve`` prints before refusing to start. Other hosts (the PKCS#11 provider's embedded engine) build their engine
the same way from ``HsmSettings.from_environ``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..kmip._registry_data import ResultReason
from ..kmip.errors import KmipError
from .cache import DEFAULT_MAX_AGE, DEFAULT_MAX_ENTRIES, UnsealCache
from .kek import KekInfo, KekSealer
from .resident import ResidentKeys
from .session import HsmSessions

#: The ``KEYSTEAD_*`` variables ``HsmSettings.from_environ`` reads (the server's option names, upper-cased).
ENVIRONMENT = (
    "KEYSTEAD_HSM_MODULE",
    "KEYSTEAD_HSM_TOKEN_LABEL",
    "KEYSTEAD_HSM_PIN",
    "KEYSTEAD_HSM_KEK_LABEL",
    "KEYSTEAD_HSM_CREATE_KEK",
    "KEYSTEAD_HSM_CACHE_SIZE",
    "KEYSTEAD_HSM_CACHE_SECONDS",
    "KEYSTEAD_HSM_ADMINS",
)


@dataclass(frozen=True, slots=True)
class HsmSettings:
    """Where the HSM is and how to use it (the ``hsm_*`` options of ``keystead serve``)."""

    module: str
    token_label: str
    pin: str
    kek_label: str
    create_kek: bool = False
    cache_size: int = DEFAULT_MAX_ENTRIES
    cache_seconds: float = DEFAULT_MAX_AGE
    admins: tuple[str, ...] = ("admin",)
    max_sessions: int = 8

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HsmSettings | None:
        """Settings from ``KEYSTEAD_HSM_*`` variables (None when ``KEYSTEAD_HSM_MODULE`` is unset); ValueError
        names a missing or malformed variable."""
        module = environ.get("KEYSTEAD_HSM_MODULE")
        if not module:
            return None
        missing = [
            name
            for name in ("KEYSTEAD_HSM_TOKEN_LABEL", "KEYSTEAD_HSM_PIN", "KEYSTEAD_HSM_KEK_LABEL")
            if not environ.get(name)
        ]
        if missing:
            raise ValueError(f"KEYSTEAD_HSM_MODULE is set but {', '.join(missing)} is not")
        admins = tuple(a.strip() for a in environ.get("KEYSTEAD_HSM_ADMINS", "admin").split(",") if a.strip())
        return cls(
            module=module,
            token_label=environ["KEYSTEAD_HSM_TOKEN_LABEL"],
            pin=environ["KEYSTEAD_HSM_PIN"],
            kek_label=environ["KEYSTEAD_HSM_KEK_LABEL"],
            create_kek=environ.get("KEYSTEAD_HSM_CREATE_KEK", "").lower() in ("1", "true", "yes", "on"),
            cache_size=int(environ.get("KEYSTEAD_HSM_CACHE_SIZE", DEFAULT_MAX_ENTRIES)),
            cache_seconds=float(environ.get("KEYSTEAD_HSM_CACHE_SECONDS", DEFAULT_MAX_AGE)),
            admins=admins,
        )


@dataclass
class HsmRuntime:
    """A logged-in HSM with its KEK, and its resident keys: ``engine_options`` builds an engine on them."""

    settings: HsmSettings
    sessions: HsmSessions
    sealer: KekSealer
    kek: KekInfo
    resident: ResidentKeys

    def seal(self, uid: str, data: bytes) -> bytes:
        return self.sealer.seal(uid, data)

    def unseal(self, uid: str, data: bytes) -> bytes:
        return self.sealer.unseal(uid, data)

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Engine(store, config, **options)``: ``seal`` and ``unseal`` (stored key material
        sealed under the KEK; the engine then keeps no decoded records, so the ``UnsealCache`` is the one place
        plaintext is kept), ``hsm`` (the source of ``hsm::`` keys) and ``forget`` (the engine drops an object's
        unsealed blob whenever it forgets the object: Revoke, Destroy, Archive, Re-key)."""
        return {"seal": self.seal, "unseal": self.unseal, "hsm": self.resident, "forget": self.sealer.invalidate}

    def describe(self) -> str:
        return (
            f"token {self.settings.token_label!r} (slot {self.sessions.slot_id}), key-encryption key "
            f"{self.settings.kek_label!r} (AES-256-GCM in the HSM)"
        )

    def close(self) -> None:
        self.sealer.cache.clear()
        self.sessions.close()


def open_sessions(settings: HsmSettings) -> HsmSessions:
    """A connected session pool (KmipError naming the library, token or PIN problem)."""
    sessions = HsmSessions(settings.module, settings.token_label, settings.pin, max_sessions=settings.max_sessions)
    sessions.connect()
    return sessions


def open_hsm(settings: HsmSettings, *, admins: Iterable[str] | None = None) -> HsmRuntime:
    """Log in, find (or, with ``create_kek``, create) the KEK and check it is protected; KmipError otherwise."""
    sessions = open_sessions(settings)
    try:
        sealer = KekSealer(sessions, settings.kek_label, cache=UnsealCache(settings.cache_size, settings.cache_seconds))
        kek = sealer.open(create=settings.create_kek)
        resident = ResidentKeys(sessions, admins if admins is not None else settings.admins)
    except BaseException:
        sessions.close()
        raise
    return HsmRuntime(settings, sessions, sealer, kek, resident)


def startup_error(exc: KmipError) -> str:
    """The one-line reason ``keystead serve`` prints when the HSM is not usable."""
    if exc.reason == ResultReason.PROTECTION_STORAGE_UNAVAILABLE:
        return f"HSM not usable: {exc.message}"
    return f"HSM check failed: {exc.message}"


__all__ = ["ENVIRONMENT", "HsmRuntime", "HsmSettings", "open_hsm", "open_sessions", "startup_error"]
