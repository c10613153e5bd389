"""``keystead serve``: open the store, build the engine, and run the HTTP API and the KMIP TLS socket until SIGINT or
SIGTERM, then close everything in order (listeners, in-flight work, store).

HTTP runs on uvicorn with httptools and uvloop in the main thread; the KMIP socket has its own threads (see
``kmip_socket``). Both share one ``Engine``, which is thread-safe. With ``--workers N`` several such processes
share the listening sockets (``workers``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import uvicorn

from .. import __version__
from ..engine.config import EngineConfig
from ..engine.engine import Engine
from ..engine.objects import RecordCodec
from ..kmip.errors import KmipError
from ..sealing.rekey import sqlite_path
from ..store.base import ObjectStore
from . import tls
from .audit import AuditError, AuditLog
from .auth import Authenticator
from .config import ServerConfig
from .guard import ConnectionGuard, RateLimiter
from .http_app import HttpApp
from .http_protocol import HttpLimits, ProxiedHttpServer, protocol_class
from .kmip_socket import KmipSocketServer
from .metrics import Metrics
from .proxies import TrustedProxies

if TYPE_CHECKING:  # python-pkcs11 is imported only when an HSM is configured
    from ..hsm.runtime import HsmRuntime, HsmSettings
    from ..sealing.active import ActiveKeyWatch
    from ..sealing.software import Keyring, SoftwareSealer

log = logging.getLogger("keystead.server")


class StartupError(Exception):
    """The server cannot start (port taken, unreadable certificate, unsupported option); the message says why."""


def engine_config(config: ServerConfig) -> EngineConfig:
    """The engine's part of the server configuration."""
    return EngineConfig(
        default_username=config.default_username,
        privileged_users=frozenset(config.privileged_users),
        admin_users=frozenset(config.admin_users),
        approved_only=config.approved_only,
    )


def prepare_directories(config: ServerConfig) -> None:
    """Create a missing data directory and, for an SQLite store, the database file's folder (both mode 0700: they
    hold keys). Folders that already exist keep their mode: the operator may have chosen it."""
    _make_private_dir(Path(config.data_dir))
    sqlite_file = sqlite_path(config.database_url)
    if sqlite_file is not None:
        _make_private_dir(sqlite_file.parent)


def _make_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def open_configured_store(config: ServerConfig) -> ObjectStore:
    """The store named by ``database`` (SQLite under ``data_dir`` by default)."""
    from ..store import open_store

    prepare_directories(config)
    redis_key = read_redis_key(config.redis_key_file) if config.redis_key_file else None
    store: ObjectStore = open_store(config.database_url, redis_key=redis_key, stamp_lag=config.change_stamp_lag)
    return store


def hsm_settings(config: ServerConfig) -> HsmSettings:
    """The HSM part of the server configuration (``validate`` made sure the four required options are set)."""
    from ..hsm.runtime import HsmSettings

    return HsmSettings(
        module=config.hsm_module or "",
        token_label=config.hsm_token_label or "",
        pin=config.hsm_pin or "",
        kek_label=config.hsm_kek_label or "",
        create_kek=config.hsm_create_kek,
        cache_size=config.hsm_cache_size,
        cache_seconds=config.hsm_cache_seconds,
        admins=config.hsm_admins,
        max_sessions=max(4, config.threads + 2),
    )


def open_configured_hsm(config: ServerConfig) -> HsmRuntime:
    """Log in to the HSM and find (or create) the KEK; StartupError saying what is missing otherwise."""
    from ..hsm import open_hsm, startup_error

    try:
        return open_hsm(hsm_settings(config))
    except KmipError as exc:
        raise StartupError(startup_error(exc)) from None


def read_redis_key(path: str) -> bytes:
    """The 32-byte key of a redis:// store from a file holding it raw, as hex or as base64."""
    raw = Path(path).read_bytes()
    if len(raw) == 32:
        return raw
    text = raw.strip().decode("ascii", errors="replace")
    with contextlib.suppress(ValueError):
        key = bytes.fromhex(text)
        if len(key) == 32:
            return key
    with contextlib.suppress(ValueError):
        key = base64.b64decode(text, validate=True)
        if len(key) == 32:
            return key
    raise ValueError(f"{path} must hold a 32-byte key (raw, hex or base64)")


def configured_keyring(config: ServerConfig, *, create: bool = True) -> Keyring:
    """The software key-encryption key: ``kek`` (with ``kek_previous``) when given, else the key file (created
    mode 0600 on first start when ``create``). ValueError or OSError says what is wrong with it."""
    from ..sealing.software import KeyFileKeyring, Keyring, parse_key

    if config.kek:
        previous = [parse_key(k, "--kek-previous") for k in config.kek_previous]
        return Keyring(parse_key(config.kek, "--kek (KEYSTEAD_KEK)"), previous)
    prepare_directories(config)
    return KeyFileKeyring(config.kek_path, create=create)


def open_software_sealer(config: ServerConfig) -> SoftwareSealer:
    """The sealer of stored key material under the software key-encryption key (StartupError if unusable)."""
    from ..sealing.software import SoftwareSealer

    try:
        return SoftwareSealer(configured_keyring(config))
    except (OSError, ValueError) as exc:
        raise StartupError(f"key-encryption key: {exc}") from None


SEALED_STORES_FILE = "sealed-stores"


def seal_existing_objects(config: ServerConfig, store: ObjectStore, sealer: SoftwareSealer) -> int:
    """Seal the objects of a database written before sealing (once per database: a line in the data directory's
    ``sealed-stores`` records it). Returns how many objects were sealed now."""
    from ..sealing.rekey import seal_once

    return seal_once(store, sealer, Path(config.data_dir) / SEALED_STORES_FILE, config.database_url).resealed


@dataclass(frozen=True, slots=True)
class Listeners:
    """Listening sockets opened before the worker processes start (``--workers``); each worker serves them."""

    http: socket.socket
    kmip: socket.socket | None


class KeysteadServer:
    """Everything ``serve`` runs, built from one ``ServerConfig``; usable in-process by tests."""

    def __init__(self, config: ServerConfig, store: ObjectStore | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        # The HSM comes first: a server that cannot protect keys must not touch the database.
        self.hsm: HsmRuntime | None = open_configured_hsm(config) if config.hsm_requested else None
        try:
            self.store = store if store is not None else open_configured_store(config)
        except Exception as exc:
            if self.hsm is not None:
                self.hsm.close()
            raise StartupError(f"cannot open the database {config.database_url}: {exc}") from exc
        self.sealer: SoftwareSealer | None = None
        self.kek_watch: ActiveKeyWatch | None = None
        engine_options = self.hsm.engine_options() if self.hsm is not None else {}
        if self.hsm is None and config.software_sealing and store is None:
            from ..sealing.active import ActiveKeyWatch, adopt_store_key

            try:
                self.sealer = open_software_sealer(config)
                try:
                    adopt_store_key(self.store, self.sealer)
                except ValueError as exc:
                    raise StartupError(f"key-encryption key: {exc}") from None
                seal_existing_objects(config, self.store, self.sealer)
            except BaseException:
                self.store.close()
                raise
            # Every server on the database follows the key the store names, and its own key ring's changes.
            self.kek_watch = ActiveKeyWatch(self.store, self.sealer).start()
            # Decoded records stay cached in memory as without sealing: the key that seals them is in this process
            # anyway, and the cache is what keeps the hot path (Get, Encrypt on a kept object) free of AES-GCM.
            engine_options = {"records": RecordCodec(self.sealer.seal, self.sealer.unseal)}
        self.engine = Engine(self.store, engine_config(config), **engine_options)
        # The KMIP PKCS#11 operation runs through our own provider, a client of this engine: wired here, at the
        # composition root, so that the engine never imports the provider (engine/pkcs11.py).
        from provider.kmip_pkcs11 import ProviderFunctions

        self.engine.pkcs11 = ProviderFunctions(self.engine)
        try:
            probe = Authenticator(config)
            other_auth = bool(probe.tokens or probe.issuers)
            self.client_auth = tls.http_client_auth(config, other_auth)
            self.authenticator = Authenticator(config, cert_auth=self.client_auth != "none")
        except (OSError, ValueError) as exc:
            raise StartupError(f"authentication settings: {exc}") from exc
        self.executor = (
            ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="keystead-http")
            if config.threads
            else None
        )
        try:
            self.audit = AuditLog(config.audit_log, fail_closed=config.audit_fail_closed)
        except AuditError as exc:
            self.store.close()
            raise StartupError(str(exc)) from None
        #: Shared by HTTP and KMIP: connections per client address, requests per second per client address, and
        #: the proxies allowed to say which address that is (PROXY protocol, X-Forwarded-For).
        self.guard = ConnectionGuard(config.max_connections_per_client)
        self.rate_limiter = RateLimiter(config.rate_limit, config.burst)
        self.trusted_proxies = TrustedProxies(config.trusted_proxies)
        self.app = HttpApp(
            config,
            self.engine,
            self.store,
            self.authenticator,
            metrics=self.metrics,
            executor=self.executor,
            rate_limiter=self.rate_limiter,
            audit=self.audit,
            trusted_proxies=self.trusted_proxies,
        )
        self.kmip: KmipSocketServer | None = None
        self.http: uvicorn.Server | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def _uvicorn_config(self) -> uvicorn.Config:
        config = self.config
        ssl_factory: Callable[[uvicorn.Config, Callable[[], Any]], Any] | None = None
        if config.tls_enabled:
            context = tls.server_context(config, self.client_auth)

            def ssl_factory(_config: uvicorn.Config, _default: Callable[[], Any]) -> Any:
                return context

        return uvicorn.Config(
            self.app,
            host=config.host,
            port=config.http_port,
            loop="uvloop",
            http=protocol_class(
                HttpLimits(
                    guard=self.guard,
                    header_timeout=config.http_header_timeout,
                    body_timeout=config.http_body_timeout,
                    idle_timeout=config.http_idle_timeout,
                    max_header_size=config.max_header_size,
                )
            ),
            ws="none",
            lifespan="off",
            # uvicorn would believe X-Forwarded-For from 127.0.0.1 and ::1 whatever the configuration says: the
            # client address is ours to decide (--trusted-proxies, HttpApp).
            proxy_headers=False,
            interface="asgi3",
            access_log=False,
            log_config=None,
            log_level=config.log_level,
            server_header=False,
            date_header=False,
            # GuardedHttpProtocol replaces uvicorn's keep-alive timer with its own (http_idle_timeout).
            timeout_keep_alive=max(1, round(config.http_idle_timeout)),
            ssl_context_factory=ssl_factory,
            # The body limit is enforced by the app (413); this only bounds header floods.
            h11_max_incomplete_event_size=64 * 1024,
        )

    def start_kmip(self, listener: socket.socket | None = None) -> None:
        """Open the KMIP TLS socket if configured (StartupError if it cannot bind); ``listener``: a socket already
        bound and listening (shared by the worker processes), instead of binding one here."""
        config = self.config
        if not config.kmip_enabled:
            return
        try:
            context = tls.server_context(config, "required")
            self.kmip = KmipSocketServer(
                self.engine,
                context,
                host=config.host,
                port=config.kmip_port,
                max_message_size=config.max_message_size,
                idle_timeout=config.kmip_idle_timeout,
                message_timeout=config.kmip_message_timeout,
                guard=self.guard,
                rate_limiter=self.rate_limiter,
                audit=self.audit,
                max_connections=config.kmip_max_connections,
                metrics=self.metrics,
                executor=self.executor,
                inline=config.answers_inline,
                reads_only=config.inline_reads_only,
                trusted_proxies=self.trusted_proxies,
            )
            self.kmip.start(listener)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"cannot open the KMIP port {config.host}:{config.kmip_port}: {exc}") from exc

    async def serve(
        self,
        out: TextIO | None = None,
        *,
        listeners: Listeners | None = None,
        on_ready: Callable[[str], None] | None = None,
    ) -> None:
        """Run until a signal. Once both listeners are up, writes the startup message to ``out`` or hands it to
        ``on_ready``. ``listeners``: sockets already bound and listening (``--workers``), instead of binding."""
        try:
            uv_config = self._uvicorn_config()
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"cannot load the TLS files: {exc}") from exc
        self.start_kmip(listeners.kmip if listeners is not None else None)
        if self.trusted_proxies:
            self.http = ProxiedHttpServer(
                uv_config, self.trusted_proxies, header_timeout=self.config.http_header_timeout
            )
        else:
            self.http = uvicorn.Server(uv_config)
        sockets = [listeners.http] if listeners is not None else None
        task = asyncio.create_task(self.http.serve(sockets))
        while not self.http.started:
            if task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            try:
                task.result()  # re-raises a startup exception
            except OSError as exc:
                raise StartupError(f"cannot listen on {self.config.host}:{self.config.http_port}: {exc}") from exc
            raise StartupError(f"cannot listen on {self.config.host}:{self.config.http_port} (see the log above)")
        if on_ready is not None:
            on_ready(self.banner())
        elif out is not None:
            out.write(self.banner())
            out.flush()
        await task

    def http_port(self) -> int:
        if self.http is not None and self.http.servers:
            for server in self.http.servers:
                for sock in server.sockets:
                    return int(sock.getsockname()[1])
        return self.config.http_port

    def reload_keys(self) -> None:
        """SIGHUP: read the key ring again (safe in a signal handler)."""
        if self.kek_watch is not None:
            self.kek_watch.request_reload()

    def banner(self) -> str:
        """The startup message: where it listens, and how to turn on what is off."""
        config = self.config
        scheme = "https" if config.tls_enabled else "http"
        host = f"[{config.host}]" if ":" in config.host else config.host
        lines = [
            f"Keystead {__version__} is ready.",
            f"  HTTP  {scheme}://{host}:{self.http_port()}  (POST /kmip/2_1 JSON TTLV, POST /kmip binary/JSON/XML, "
            "GET /health, /openapi.json, web UI /ui/)",
        ]
        if self.kmip is not None:
            lines.append(f"  KMIP  {host}:{self.kmip.port}  (binary TTLV over mutual TLS)")
        elif config.kmip_port == 0:
            lines.append("  KMIP  disabled (--kmip-port 0)")
        else:
            lines.append("  KMIP  disabled: port 5696 needs --tls-cert, --tls-key and --tls-ca")
        lines.append(f"  store {_redacted(config.database_url)}")
        if config.workers > 1:
            lines.append(f"  workers {config.workers} processes share these ports")
        if self.hsm is not None:
            lines.append(f"  HSM   {self.hsm.describe()}: objects are sealed at rest")
        elif self.sealer is not None:
            lines.append(f"  seal  objects sealed at rest with the {self.sealer.keyring.describe()}")
        if config.google_cse_kacls_url:
            lines.append(f"  Google Workspace CSE key service (KACLS) at /google_cse as {config.google_cse_kacls_url}")
        if config.ms_dke_service_url:
            lines.append(f"  Microsoft DKE key service at /ms_dke as {config.ms_dke_service_url}")
        if config.tls_enabled:
            lines.append(f"  HTTPS client certificates: {self.client_auth}")
        else:
            lines += [
                "TLS is off. To serve HTTPS and open the KMIP port 5696 with mutual TLS:",
                "  keystead certs init ./certs && keystead serve --tls-cert ./certs/server.pem "
                "--tls-key ./certs/server.key --tls-ca ./certs/ca.pem",
            ]
        if not self.authenticator.enabled:
            lines.append(f"  no authentication configured: every HTTP request acts as {config.default_username!r}")
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        """Stop the KMIP socket, wait for in-flight engine calls, close the store."""
        if self.kmip is not None:
            self.kmip.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self.kek_watch is not None:
            self.kek_watch.stop()
        self.store.close()
        self.audit.close()
        if self.hsm is not None:
            self.hsm.close()


def _redacted(url: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class _Terminated(Exception):
    """SIGTERM arrived: unwind to ``run`` so that the store is closed before the process exits."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    # uvicorn handles SIGTERM itself while serving (graceful shutdown), restores this handler afterwards and
    # re-raises the signal: without a handler of ours the default action would kill the process before close().
    raise _Terminated


def run(config: ServerConfig, out: TextIO = sys.stdout) -> int:
    """Run the server until SIGINT/SIGTERM. Returns the process exit status."""
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if config.workers > 1:
        from .workers import run_workers

        return run_workers(config, out)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        server = KeysteadServer(config)
    except _Terminated:
        return 0
    except StartupError as exc:
        print(f"keystead serve: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGHUP, lambda _signum, _frame: server.reload_keys())
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(server.serve(out))
    except StartupError as exc:
        print(f"keystead serve: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        server.close()
    print("Keystead stopped.", file=out, flush=True)
    return 0


__all__ = [
    "KeysteadServer",
    "Listeners",
    "StartupError",
    "engine_config",
    "hsm_settings",
    "open_configured_hsm",
    "configured_keyring",
    "open_configured_store",
    "open_software_sealer",
    "seal_existing_objects",
    "run",
]
