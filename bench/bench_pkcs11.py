"""PKCS#11 benchmark, run by hand: ``python -m bench.bench_pkcs11 [--seconds 2] [--find 1000,10000,100000]``.

python-pkcs11 is the caller for every library, each library in its own worker process and logged-in R/W session;
SoftHSM2 runs beside Keystead's embedded backend in the same run (and, with ``--remote``, Keystead's remote backend:
a ``keystead serve`` subprocess over mutual TLS, JSON TTLV over HTTPS and binary TTLV on the KMIP port). Every row
is the loop an application runs, the C_*Init call included:

- ``encrypt``: C_EncryptInit + C_Encrypt, AES-256-CBC-PAD, 64 bytes, on a session key; ``(token key)``: the same
  on a token key (Keystead: a KMS object, whose use the KMS decides; SoftHSM2: an object of its token store)
- ``sign``: C_SignInit + C_Sign, CKM_ECDSA P-256 on a 32-byte digest, on a session key; ``(token key)`` likewise
- ``generate session key``: C_GenerateKey AES-256 with CKA_TOKEN=FALSE (in a session of its own, closed after)
- ``find ... among N``: C_FindObjectsInit + C_FindObjects + C_FindObjectsFinal among N token objects (nine data
  objects to one AES key), each find a different label (or id) drawn at random; ``miss`` finds labels no object has.
  Reported in milliseconds per find.

Each row has a CPU twin: the worker process's CPU time per call (user and system; the library runs inside the
worker), which a machine shared with other work disturbs far less than the wall-clock figure.

The find tokens are kept between runs under ``--tokens`` (default ``bench/.pkcs11-tokens``), since making 100,000
objects takes SoftHSM2 over an hour through C_CreateObject (about 40 ms each here). SoftHSM2's token is made by
C_CreateObject of one data object and one key, whose object files are then copied under new names with their label
and id rewritten in place (SoftHSM2's file store keeps them in clear for public objects); the worker checks that
SoftHSM2 finds the copies. Keystead's token is made through the provider's own C_CreateObject code in-process,
committing a thousand objects per store transaction instead of one. The crypto rows use a throw-away token each run.

The crypto rows are measured again in ``--rounds`` alternating SoftHSM2 / embedded pairs of fresh workers (the load
of a shared machine changes between two measurements), each pair's ratios printed and their median.

Goals (issue 23): encrypt, sign and session C_GenerateKey at least 1.0x SoftHSM2; find at most 1 ms from 1,000 to
100,000 objects.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "1234"
SO_PIN = "5678"
KEYSTEAD = [sys.executable, "-m", "kms_backend.cli"]
TOKENS = Path(__file__).resolve().parent / ".pkcs11-tokens"
#: One object in ten is an AES key (label ``key-NNNNNNN``, id ``id-NNNNNNN``), the rest data objects.
KEY_EVERY = 10
DIGITS = 7


def data_label(n: int) -> str:
    return f"data-{n:0{DIGITS}d}"


def key_label(n: int) -> str:
    return f"key-{n:0{DIGITS}d}"


def key_id(n: int) -> bytes:
    return f"id-{n:0{DIGITS}d}".encode()


def templates(n: int) -> dict[Any, Any]:
    """The template of object ``n`` of a find token (python-pkcs11 attribute names)."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    if n % KEY_EVERY == 0:
        return {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.AES,
            Attribute.VALUE: bytes(32),
            Attribute.LABEL: key_label(n),
            Attribute.ID: key_id(n),
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.SENSITIVE: False,
            Attribute.EXTRACTABLE: True,
        }
    return {
        Attribute.CLASS: ObjectClass.DATA,
        Attribute.LABEL: data_label(n),
        Attribute.VALUE: b"x",
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
    }


# --- measuring ----------------------------------------------------------------------------------------------------


def _rate(call: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per second of ``call`` over about ``seconds`` (after a short warm-up), and this process's CPU µs per
    call (the library's work included: every library runs inside the worker), which the load of a shared machine
    disturbs less than the rate."""
    for _ in range(20):
        call()
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        for _ in range(50):
            call()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), (time.process_time() - cpu) / count * 1e6


def _ms_per_call(calls: list[Callable[[], object]], seconds: float) -> tuple[float, float]:
    """Milliseconds per call, going through ``calls`` in order for about ``seconds`` (at least 3 calls), and CPU
    milliseconds per call."""
    calls[0]()
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    for call in calls[1:]:
        call()
        count += 1
        if count >= 3 and time.perf_counter() - start >= seconds:
            break
    return (time.perf_counter() - start) / count * 1e3, (time.process_time() - cpu) / count * 1e3


def _row(results: dict[str, float], name: str, unit: str, figures: tuple[float, float]) -> None:
    results[f"{name} {unit}"] = figures[0]
    results[f"{name} CPU {'µs/op' if unit == '/s' else 'ms'}"] = figures[1]


def measure_crypto(library: str, seconds: float) -> dict[str, float]:
    """Worker: the encrypt, sign and session-key rows against ``library``'s token ``bench``."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism
    from pkcs11.util.ec import encode_named_curve_parameters

    token = pkcs11.lib(library).get_token(token_label="bench")
    results: dict[str, float] = {}
    with token.open(user_pin=PIN, rw=True) as session:
        iv, data, digest = os.urandom(16), os.urandom(64), os.urandom(32)
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        for store, suffix in ((False, ""), (True, " (token key)")):
            key = session.generate_key(KeyType.AES, 256, store=store, label="bench-aes")
            # python-pkcs11's encrypt is C_EncryptInit + C_Encrypt; sign is C_SignInit + C_Sign.
            encrypt = _rate(lambda k=key: k.encrypt(data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv), seconds)
            _row(results, f"encrypt AES-CBC-PAD 64 B{suffix}", "/s", encrypt)
            _public, private = params.generate_keypair(store=store, label="bench-ec")
            sign = _rate(lambda k=private: k.sign(digest, mechanism=Mechanism.ECDSA), seconds)
            _row(results, f"sign ECDSA P-256{suffix}", "/s", sign)
    with token.open(user_pin=PIN, rw=True) as session:
        generate = _rate(lambda: session.generate_key(KeyType.AES, 256, store=False), seconds)
        _row(results, "generate session AES key", "/s", generate)
    return results


def measure_find(library: str, size: int, seconds: float) -> dict[str, float]:
    """Worker: the find rows against ``library``'s token ``find-<size>`` (made by ``populate_*``)."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    token = pkcs11.lib(library).get_token(token_label=f"find-{size}")
    rng = random.Random(size)
    count = 2_000
    results: dict[str, float] = {}
    with token.open(user_pin=PIN, rw=True) as session:

        def find(template: dict[Any, Any], expected: int) -> Callable[[], None]:
            def call() -> None:
                found = list(session.get_objects(template))
                if len(found) != expected:
                    raise SystemExit(f"find {template} gave {len(found)} objects, not {expected}")

            return call

        data = [n for n in (rng.randrange(size) for _ in range(count * 2)) if n % KEY_EVERY][:count]
        keys = [rng.randrange(size // KEY_EVERY) * KEY_EVERY for _ in range(count)]
        _row(
            results,
            f"find label among {size:,}",
            "ms",
            _ms_per_call([find({Attribute.LABEL: data_label(n)}, 1) for n in data], seconds),
        )
        _row(
            results,
            f"find label (miss) among {size:,}",
            "ms",
            _ms_per_call([find({Attribute.LABEL: f"absent-{n}"}, 0) for n in data], seconds),
        )
        results_id = _ms_per_call(
            [
                find(
                    {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES, Attribute.ID: key_id(n)},
                    1,
                )
                for n in keys
            ],
            seconds,
        )
        _row(results, f"find class+key type+id among {size:,}", "ms", results_id)
        results_label = _ms_per_call(
            [find({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: key_label(n)}, 1) for n in keys],
            seconds,
        )
        _row(results, f"find class+label among {size:,}", "ms", results_label)
    return results


# --- tokens -------------------------------------------------------------------------------------------------------


def _softhsm_env(directory: Path) -> dict[str, str]:
    conf = directory / "softhsm2.conf"
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    if not conf.exists():
        (directory / "tokens").mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
    return env


def _softhsm_token(directory: Path, label: str) -> dict[str, str]:
    env = _softhsm_env(directory)
    command = ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return env


def populate_softhsm(size: int, directory: Path) -> None:
    """Worker (run with SOFTHSM2_CONF set): make object 0 and key object 0 by C_CreateObject, then copy their files
    as objects 1..size-1 with label and id rewritten in place (same length)."""
    import pkcs11

    token = pkcs11.lib(str(SOFTHSM)).get_token(token_label=f"find-{size}")
    with token.open(user_pin=PIN, rw=True) as session:
        session.create_object(templates(0))
        session.create_object(templates(1))
    (token_dir,) = [d for d in (directory / "tokens").iterdir() if d.is_dir()]
    files = {p.read_bytes(): p for p in token_dir.glob("*.object") if p.stat().st_size > 0}
    key_file = next(blob for blob in files if key_label(0).encode() in blob)
    data_file = next(blob for blob in files if data_label(1).encode() in blob)
    for n in range(2, size):
        if n % KEY_EVERY == 0:
            blob = key_file.replace(key_label(0).encode(), key_label(n).encode()).replace(key_id(0), key_id(n))
        else:
            blob = data_file.replace(data_label(1).encode(), data_label(n).encode())
        name = token_dir / str(uuid.uuid4())
        name.with_suffix(".object").write_bytes(blob)
        name.with_suffix(".lock").touch()


def populate_keystead(size: int) -> None:
    """Worker (run with KEYSTEAD_PKCS11_CONFIG set): C_CreateObject of every object through the provider's code
    in-process, a thousand objects per store transaction."""
    from pkcs11 import Attribute as PyAttribute

    from provider import general, objects, sessions
    from provider.attributes import ATTRIBUTES, pack
    from provider.backends.base import Identity
    from provider.backends.embedded import EmbeddedBackend
    from provider.config import ProviderConfig
    from provider.constants import Attribute, SessionFlag, UserType
    from provider.library import SLOT_ID, Library

    class Batched(EmbeddedBackend):
        tx: Any = None

        def run(self, operation: Any, payload: Any, identity: Identity) -> Any:
            return self.engine.run_operation(operation, payload, identity.user, tx=self.tx)

    backend: list[Batched] = []

    def factory(config: ProviderConfig) -> Batched:
        from kms_backend.store import open_store

        backend.append(Batched(open_store(config.backend.database or "")))
        return backend[0]

    lib = Library(backend_factory=factory)
    general.initialize(lib, None)
    handle = sessions.open_session(lib, SLOT_ID, SessionFlag.SERIAL_SESSION | SessionFlag.RW_SESSION)
    sessions.login(lib, handle, UserType.USER, PIN.encode())
    store = backend[0].store
    for start in range(0, size, 1000):
        with store.transaction() as tx:
            backend[0].tx = tx
            for n in range(start, min(size, start + 1000)):
                raw = []
                for name, value in templates(n).items():
                    attribute = Attribute(int(PyAttribute(name)))
                    raw.append((int(attribute), pack(ATTRIBUTES[attribute].kind, value)))
                objects.create_object(lib, handle, raw)
        backend[0].tx = None
    general.finalize(lib, False)


def _keystead_env(
    directory: Path, label: str, remote_url: str | None = None, certs: Path | None = None
) -> dict[str, str]:
    import yaml

    config = directory / "pkcs11.yaml"
    if not config.exists():
        command = [*KEYSTEAD, "pkcs11", "init", "--dir", str(directory), "--pin", PIN, "--so-pin", SO_PIN]
        subprocess.run([*command, "--label", label], cwd=ROOT, check=True, capture_output=True, text=True)
    if remote_url is not None and certs is not None:
        raw = yaml.safe_load(config.read_text())
        raw["backend"] = {
            "type": "remote",
            "url": remote_url,
            "tls_cert": str(certs / "client.pem"),
            "tls_key": str(certs / "client.key"),
            "tls_ca": str(certs / "ca.pem"),
        }
        config.write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    return env | {"KEYSTEAD_PKCS11_CONFIG": str(config)}


def _worker(env: dict[str, str], *args: str) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.bench_pkcs11", "--worker", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def find_tokens(tokens: Path, size: int, library: str) -> tuple[dict[str, str] | None, dict[str, str]]:
    """The environments of the SoftHSM2 and Keystead find tokens of ``size`` objects, made if missing."""
    softhsm_env = None
    if SOFTHSM.exists():
        directory = tokens / f"softhsm-{size}"
        if not (directory / "complete").exists():
            shutil.rmtree(directory, ignore_errors=True)
            env = _softhsm_token(directory, f"find-{size}")
            print(f"making SoftHSM2's token of {size:,} objects...", file=sys.stderr, flush=True)
            _worker(env, "populate-softhsm", str(size), str(directory))
            (directory / "complete").touch()
        softhsm_env = _softhsm_env(directory)
    directory = tokens / f"keystead-{size}"
    if not (directory / "complete").exists():
        shutil.rmtree(directory, ignore_errors=True)
        env = _keystead_env(directory, f"find-{size}")
        print(f"making Keystead's token of {size:,} objects...", file=sys.stderr, flush=True)
        _worker(env, "populate-keystead", str(size))
        (directory / "complete").touch()
    return softhsm_env, _keystead_env(directory, f"find-{size}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    parser.add_argument("--find", default="1000,10000,100000", help="object counts for the find rows")
    parser.add_argument("--tokens", type=Path, default=TOKENS, help="where the find tokens are kept between runs")
    parser.add_argument("--remote", action="store_true", help="also Keystead's remote backend (crypto rows)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating SoftHSM2/embedded crypto rounds")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, *rest = args.worker
        if kind == "crypto":
            print(json.dumps(measure_crypto(rest[0], args.seconds)))
        elif kind == "find":
            print(json.dumps(measure_find(rest[0], int(rest[1]), args.seconds)))
        elif kind == "populate-softhsm":
            populate_softhsm(int(rest[0]), Path(rest[1]))
            print("{}")
        elif kind == "populate-keystead":
            populate_keystead(int(rest[0]))
            print("{}")
        return 0
    from c_shim import build

    sys.path.insert(0, str(ROOT / "integration_tests"))
    from _keystead_server import KeysteadProcess

    from bench import UNLIMITED

    library = str(build.build())
    find_sizes = [int(n) for n in args.find.split(",") if n]
    rows: dict[str, dict[str, float]] = {"SoftHSM2": {}, "Keystead embedded": {}}
    with tempfile.TemporaryDirectory(prefix="keystead-bench-") as tmp:
        work = Path(tmp)
        softhsm_env = _softhsm_token(work / "softhsm", "bench") if SOFTHSM.exists() else None
        embedded_env = _keystead_env(work / "embedded", "bench")
        if softhsm_env is not None:
            rows["SoftHSM2"] |= _worker(softhsm_env, "crypto", str(SOFTHSM))
        rows["Keystead embedded"] |= _worker(embedded_env, "crypto", library)
        # The load of a shared machine changes between two measurements: the crypto ratios again in alternating
        # SoftHSM2 / embedded pairs of fresh workers.
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds if softhsm_env is not None else 0):
            assert softhsm_env is not None
            theirs = _worker(softhsm_env, "crypto", str(SOFTHSM))
            ours = _worker(embedded_env, "crypto", library)
            rounds.append({name: _ratio(name, theirs[name], ours[name]) for name in ours if name in theirs})
        for size in find_sizes:
            softhsm_env, keystead_env = find_tokens(args.tokens, size, library)
            if softhsm_env is not None:
                rows["SoftHSM2"] |= _worker(softhsm_env, "find", str(SOFTHSM), str(size))
            rows["Keystead embedded"] |= _worker(keystead_env, "find", library, str(size))
        if args.remote:
            server = KeysteadProcess.start(work / "server", "--http-client-auth", "required", *UNLIMITED)
            try:
                env = _keystead_env(work / "remote", "bench", server.http_url, server.certs)
                rows["Keystead remote (mTLS)"] = _worker(env, "crypto", library)
                env = _keystead_env(work / "remote-5696", "bench", f"kmip://127.0.0.1:{server.kmip_port}", server.certs)
                rows["Keystead remote (5696)"] = _worker(env, "crypto", library)
            finally:
                server.stop()
    names = list(dict.fromkeys(name for row in rows.values() for name in row))
    print(f"{'':44}" + "".join(f"{target:>24}" for target in rows) + f"{'Keystead/SoftHSM2':>20}")
    for name in names:
        line = f"{name:44}" + "".join(f"{row.get(name, float('nan')):>24,.2f}" for row in rows.values())
        base, ours = rows["SoftHSM2"].get(name), rows["Keystead embedded"].get(name)
        if base and ours:
            line += f"{_ratio(name, base, ours):>19.2f}x"
        print(line)
    for name in rounds[0] if rounds else ():
        figures = [r[name] for r in rounds]
        listed = " ".join(f"{f:.2f}" for f in figures)
        print(f"Keystead/SoftHSM2 {name} in {len(figures)} alternating rounds: {listed}; median {median(figures):.2f}x")
    return 0


def _ratio(name: str, softhsm: float, keystead: float) -> float:
    """Keystead's figure against SoftHSM2's, above 1 when Keystead is ahead: rates divide ours by theirs, times
    (ms, CPU per call) theirs by ours."""
    return keystead / softhsm if name.endswith("/s") else softhsm / keystead


if __name__ == "__main__":
    sys.exit(main())
