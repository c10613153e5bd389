"""The software key-encryption key: AES-256-GCM (``cryptography``) under a 32-byte key held by the server process,
read from a key file or given in the environment, sealing every stored object blob in the format of ``blob``.

Key sources (``Keyring``):

* a key file (``--kek-file``, default ``keystead.kek`` in the data directory): created mode 0600 on first start. It
  is a key ring: one key per line (base64 or hex; blank lines and ``# comments`` ignored), oldest first, so that a
  cluster rotates by adding the new key as the last line on every node, running ``keystead store rekey`` once, then
  removing the old line. ``<file>.next`` is the key a single-file rotation in progress seals under,
  ``<file>.retired.<id>`` keys that sealed earlier (kept so that a database backup taken before a rotation can
  still be read). The files are read again when a blob names a key this process does not hold, before a seal when
  the key file changed, every second by ``active.ActiveKeyWatch`` and on SIGHUP, so running servers follow a
  rotation without a restart;
* the environment (``KEYSTEAD_KEK``, with ``KEYSTEAD_KEK_PREVIOUS`` listing the keys it replaced).

Which key seals new writes is the store's to say (``active``): every server sharing a database seals under the key
its ``settings`` name, which ``store rekey`` moves; a key ring only supplies keys.

A key's id is the first 16 bytes of SHA-256 over a label and the key: it names the key in each blob without
revealing anything about it, and needs no state beside the key itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..kmip._registry_data import ResultReason
from ..kmip.errors import KmipError
from .blob import IV_BYTES, SealedHeader, associated_data, is_sealed

log = logging.getLogger("keystead.sealing")

KEY_BYTES = 32
NEXT_SUFFIX = ".next"
RETIRED_SUFFIX = ".retired."


def key_id(key: bytes) -> bytes:
    """The id a blob carries for ``key`` (16 bytes; the key cannot be recovered from it)."""
    return hashlib.sha256(b"keystead software KEK id\x00" + key).digest()[:16]


def parse_key(data: str | bytes, where: str) -> bytes:
    """A 32-byte key from raw bytes, hex or base64 (``where`` names the source in the error)."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip().decode("ascii", errors="replace")
    with contextlib.suppress(ValueError):
        key = bytes.fromhex(text)
        if len(key) == KEY_BYTES:
            return key
    with contextlib.suppress(ValueError, binascii.Error):
        key = base64.b64decode(text, validate=True)
        if len(key) == KEY_BYTES:
            return key
    raise ValueError(f"{where} must hold a 32-byte key (raw, hex or base64)")


def write_new_key(path: Path, random_bytes: Callable[[int], bytes] = os.urandom) -> bytes:
    """Create ``path`` (mode 0600) holding a new random key in base64, and return the key; FileExistsError if
    ``path`` exists. The file appears whole or not at all (written aside, then hard-linked into place), so a worker
    process racing this one reads either nothing or the complete key."""
    key = random_bytes(KEY_BYTES)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(aside, path)
    finally:
        aside.unlink()
    _fsync_dir(path.parent)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Keyring:
    """The keys a sealer may use: any number known (unsealing); ``active`` seals when the store names no key (a new
    store adopts it), ``newest`` is the key ``store rekey`` moves the store to. ``refresh`` reads the source again;
    ``changed`` says whether it should (cheap)."""

    def __init__(self, active: bytes, previous: Iterable[bytes] = ()) -> None:
        self.active = self.newest = active
        self.known = {key_id(k): k for k in (*previous, active)}

    @property
    def active_id(self) -> bytes:
        return key_id(self.active)

    @property
    def newest_id(self) -> bytes:
        return key_id(self.newest)

    def changed(self) -> bool:
        return False

    def refresh(self) -> None:
        """Read the keys again (a key file rotated meanwhile); nothing to do for keys given in the environment."""

    def describe(self) -> str:
        return "key-encryption key from the environment (KEYSTEAD_KEK)"


class KeyFileKeyring(Keyring):
    """Keys in ``path`` (a ring: the first line active on a new store, the last the newest), ``path.next`` (a
    single-file rotation's new key) and ``path.retired.*`` (earlier keys)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.created = False
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"the key file {path} does not exist")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another worker created it meanwhile: use theirs
                write_new_key(path)
                self.created = True
                log.warning(
                    "created the key-encryption key file %s (mode 0600): keep it apart from database backups", path
                )
        self._stamp: tuple[int, int] | None = None
        self.ring: list[bytes] = []
        super().__init__(b"")
        self.refresh()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def changed(self) -> bool:
        return self._file_stamp() != self._stamp

    def refresh(self) -> None:
        stamp = self._file_stamp()
        ring = self.read_ring(self.path)
        known = {key_id(key): key for key in ring}
        for other in sorted(self.path.parent.glob(self.path.name + ".*")):
            suffix = other.name[len(self.path.name) :]
            if suffix == NEXT_SUFFIX or suffix.startswith(RETIRED_SUFFIX):
                key = self.read(other)
                known[key_id(key)] = key
        if stamp != self._stamp and self._stamp is not None:
            log.warning("re-read the key ring %s: keys %s", self.path, ", ".join(key_id(k).hex() for k in ring))
        self.ring = ring
        self.active, self.newest, self.known, self._stamp = ring[0], ring[-1], known, stamp

    @staticmethod
    def read(path: Path) -> bytes:
        """The one key in ``path`` (a ``.next`` or ``.retired`` file)."""
        KeyFileKeyring._check_mode(path)
        return parse_key(path.read_bytes(), str(path))

    @staticmethod
    def read_ring(path: Path) -> list[bytes]:
        """The keys in ``path``, in file order: 32 raw bytes, or one base64 or hex key per line."""
        KeyFileKeyring._check_mode(path)
        data = path.read_bytes()
        if len(data) == KEY_BYTES:
            return [data]
        lines = [(n, line.strip()) for n, line in enumerate(data.split(b"\n"), 1)]
        ring = [parse_key(line, f"{path} line {n}") for n, line in lines if line and not line.startswith(b"#")]
        if not ring:
            raise ValueError(f"{path} holds no key")
        if len({key_id(k) for k in ring}) != len(ring):
            raise ValueError(f"{path} lists a key twice")
        return ring

    @staticmethod
    def _check_mode(path: Path) -> None:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("the key file %s is readable by other users (mode %o): chmod 600 it", path, mode)

    @property
    def next_path(self) -> Path:
        return self.path.with_name(self.path.name + NEXT_SUFFIX)

    def retired_path(self, kid: bytes) -> Path:
        return self.path.with_name(f"{self.path.name}{RETIRED_SUFFIX}{kid.hex()}")

    def describe(self) -> str:
        return f"key-encryption key file {self.path} (AES-256-GCM)"


class SoftwareSealer:
    """Seals and unseals object blobs under a ``Keyring`` (the ``RecordCodec`` seal/unseal pair).

    ``accept_plaintext``: unsealing a blob without a header returns it as is. Off for the server once its store is
    sealed (an object written into the database behind its back must not be trusted); on while migrating.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        accept_plaintext: bool = False,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.keyring = keyring
        self.accept_plaintext = accept_plaintext
        #: The key the store says seals new writes (``active.adopt_store_key``, kept current by ``ActiveKeyWatch``);
        #: None: the keyring's own active key (a store without settings).
        self.store_key_id: bytes | None = None
        self._random = random_bytes
        self._ciphers: dict[bytes, AESGCM] = {}
        self._lock = threading.Lock()

    def _cipher(self, kid: bytes) -> AESGCM:
        cipher = self._ciphers.get(kid)
        if cipher is None:
            key = self.keyring.known.get(kid)
            if key is None:
                self._try_reload()  # a rotation started or finished in another process
                key = self.keyring.known.get(kid)
            if key is None:
                if kid == self.store_key_id:
                    raise KmipError(
                        ResultReason.CRYPTOGRAPHIC_FAILURE,
                        f"the store seals under the key-encryption key {kid.hex()} (`keystead store rekey` moved it "
                        f"there), which this server's key ring lacks ({self.keyring.describe()}): add it to the ring",
                    )
                raise KmipError(
                    ResultReason.CRYPTOGRAPHIC_FAILURE,
                    f"no key-encryption key with id {kid.hex()} is available ({self.keyring.describe()}; a retired "
                    "key file removed, or a database sealed elsewhere)",
                )
            cipher = self._ciphers[kid] = AESGCM(key)
        return cipher

    @property
    def active_id(self) -> bytes:
        """The key new writes are sealed under: the store's, else the keyring's active key."""
        return self.store_key_id or self.keyring.active_id

    def reload(self) -> None:
        """Read the key ring again now (SIGHUP, or its file changed)."""
        with self._lock:
            self.keyring.refresh()

    def _try_reload(self) -> None:
        """``reload``, keeping the keys read before if the ring cannot be read now (a file being written)."""
        try:
            self.reload()
        except (OSError, ValueError) as exc:
            log.warning("cannot re-read the key ring (%s); keeping the keys read before", exc)

    def seal(self, uid: str, plain: bytes) -> bytes:
        """``plain`` (an object's TTLV) sealed under the active key, bound to ``uid``."""
        if self.keyring.changed():
            self._try_reload()
        return self.seal_with(self.active_id, uid, plain)

    def seal_with(self, kid: bytes, uid: str, plain: bytes) -> bytes:
        """``plain`` sealed under the key ``kid`` (rotation seals under the new key)."""
        header = SealedHeader(kek_id=kid, iv=self._random(IV_BYTES)).encode()
        return header + self._cipher(kid).encrypt(header[-IV_BYTES:], plain, associated_data(header, uid))

    def unseal(self, uid: str, blob: bytes) -> bytes:
        """The plaintext of ``blob``, the sealed object of ``uid``; KmipError if it was altered or moved."""
        if not is_sealed(blob):
            if self.accept_plaintext:
                return blob
            raise KmipError(
                ResultReason.GENERAL_FAILURE,
                f"object {uid} is stored unsealed although this store is sealed (written behind the server's back?); "
                "`keystead store rekey` seals it if it is genuine",
            )
        try:
            header, ciphertext = SealedHeader.parse(blob)
        except ValueError as exc:
            raise KmipError(ResultReason.GENERAL_FAILURE, f"object {uid} cannot be unsealed: {exc}") from None
        aad = associated_data(blob[: len(blob) - len(ciphertext)], uid)
        try:
            return self._cipher(header.kek_id).decrypt(header.iv, ciphertext, aad)
        except InvalidTag:
            raise KmipError(
                ResultReason.CRYPTOGRAPHIC_FAILURE,
                f"the sealed blob of object {uid} failed authentication (altered in the database, or copied from "
                "another object)",
            ) from None


__all__ = [
    "KEY_BYTES",
    "NEXT_SUFFIX",
    "RETIRED_SUFFIX",
    "KeyFileKeyring",
    "Keyring",
    "SoftwareSealer",
    "key_id",
    "parse_key",
    "write_new_key",
]
