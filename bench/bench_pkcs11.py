"""PKCS#11 benchmark, run by hand: ``python -m bench.bench_pkcs11 [--seconds 2] [--find 1000,10000]``.

python-pkcs11 is the caller for every library; SoftHSM2 runs on a throw-away token beside Keystead's embedded
backend and Keystead's remote backend (a ``keystead serve`` subprocess over mutual TLS: JSON TTLV over HTTPS, and
binary TTLV on the KMIP port with a ``kmip://`` URL), each in its own process:

- C_Encrypt AES-CBC-PAD of 64 bytes (python-pkcs11's ``encrypt``: C_EncryptInit + C_Encrypt)
- C_Sign ECDSA P-256 of a 32-byte digest (C_SignInit + C_Sign)
- C_FindObjects by label among N data objects (C_FindObjectsInit + C_FindObjects + C_FindObjectsFinal)

Goals (issue 4): embedded C_Encrypt ≥ 50 % of SoftHSM2's rate; find >= 10x faster than SoftHSM2.

On a shared machine the load changes between two measurements taken one after the other, so the C_Encrypt ratio is
also measured in ``--rounds`` alternating SoftHSM2 / embedded pairs (same tokens, a fresh process each) and reported
per round and as their median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "1234"
KEYSTEAD = [sys.executable, "-m", "kms_backend.cli"]
ENCRYPT = "encrypt_aes_cbc_pad_64"


def _rate(call, seconds: float) -> float:
    """Calls per second of ``call`` over about ``seconds`` (after a short warm-up)."""
    for _ in range(20):
        call()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            call()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def measure(library: str, label: str, seconds: float, find_sizes: list[int]) -> dict[str, float]:
    """Run in a worker process: every measurement against one library and token."""
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    token = pkcs11.lib(library).get_token(token_label=label)
    results: dict[str, float] = {}
    with token.open(user_pin=PIN, rw=True) as session:
        key = session.generate_key(KeyType.AES, 256, store=False)
        iv, data = os.urandom(16), os.urandom(64)
        results[ENCRYPT] = _rate(
            lambda: key.encrypt(data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv), seconds
        )
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        _public, private = params.generate_keypair(store=False)
        digest = os.urandom(32)
        results["sign_ecdsa_p256"] = _rate(lambda: private.sign(digest, mechanism=Mechanism.ECDSA), seconds)
        made = 0
        for size in find_sizes:
            prefix = f"bench-{size}-{os.getpid()}-"
            while made < size:
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.DATA,
                        Attribute.LABEL: f"{prefix}{made}",
                        Attribute.VALUE: b"x",
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: False,
                    }
                )
                made += 1
            wanted = f"{prefix}{size // 2}"

            def find(wanted: str = wanted) -> None:
                found = list(session.get_objects({Attribute.LABEL: wanted}))
                assert len(found) == 1, len(found)

            results[f"find_label_among_{size}"] = _rate(find, seconds)
    return results


def _softhsm_env(directory: Path) -> dict[str, str]:
    (directory / "tokens").mkdir(parents=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", "5678"],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def _keystead_env(directory: Path, remote_url: str | None, certs: Path | None) -> dict[str, str]:
    import yaml

    result = subprocess.run(
        [*KEYSTEAD, "pkcs11", "init", "--dir", str(directory), "--pin", PIN, "--so-pin", "5678", "--label", "bench"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    config = Path(result.stdout.strip().split("=", 1)[1])
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


def _run_worker(library: str, env: dict[str, str], seconds: float, find_sizes: list[int]) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.bench_pkcs11", "--worker", library, "--seconds", str(seconds)]
    command += ["--find", ",".join(map(str, find_sizes))]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"worker for {library} failed:\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    parser.add_argument("--find", default="1000,10000", help="object counts for the label search")
    parser.add_argument("--remote-find", default="1000", help="object counts for the remote label search")
    parser.add_argument("--rounds", type=int, default=5, help="alternating SoftHSM2/embedded C_Encrypt rounds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    find_sizes = [int(n) for n in args.find.split(",") if n]
    if args.worker:
        print(json.dumps(measure(args.worker, "bench", args.seconds, find_sizes)))
        return 0
    from c_shim import build

    sys.path.insert(0, str(ROOT / "integration_tests"))
    from _keystead_server import KeysteadProcess

    library = str(build.build())
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="keystead-bench-") as tmp:
        work = Path(tmp)
        softhsm_env = _softhsm_env(work / "softhsm") if SOFTHSM.exists() else None
        if softhsm_env is not None:
            rows["SoftHSM2"] = _run_worker(str(SOFTHSM), softhsm_env, args.seconds, find_sizes)
        embedded_env = _keystead_env(work / "embedded", None, None)
        rows["Keystead embedded"] = _run_worker(library, embedded_env, args.seconds, find_sizes)
        ratios: list[float] = []
        for _ in range(args.rounds if softhsm_env is not None else 0):
            assert softhsm_env is not None
            base_rate = _run_worker(str(SOFTHSM), softhsm_env, args.seconds, [])[ENCRYPT]
            ratios.append(_run_worker(library, embedded_env, args.seconds, [])[ENCRYPT] / base_rate)
        server = KeysteadProcess.start(work / "server", "--http-client-auth", "required")
        try:
            env = _keystead_env(work / "remote", server.http_url, server.certs)
            remote_sizes = [int(n) for n in args.remote_find.split(",") if n]
            rows["Keystead remote (mTLS)"] = _run_worker(library, env, args.seconds, remote_sizes)
            # The same backend through the client's KMIP-port transport (binary TTLV on 5696, mutual TLS).
            env = _keystead_env(work / "remote-5696", f"kmip://127.0.0.1:{server.kmip_port}", server.certs)
            rows["Keystead remote (5696)"] = _run_worker(library, env, args.seconds, remote_sizes)
        finally:
            server.stop()
    names = sorted({name for row in rows.values() for name in row}, key=lambda n: (not n.startswith("enc"), n))
    print(f"{'operations/s':34}" + "".join(f"{target:>24}" for target in rows))
    for name in names:
        print(f"{name:34}" + "".join(f"{row.get(name, float('nan')):>24,.0f}" for row in rows.values()))
    base = rows.get("SoftHSM2")
    if base:
        embedded = rows["Keystead embedded"]
        print()
        for name in names:
            if name in base and name in embedded:
                print(f"embedded / SoftHSM2  {name:34} {embedded[name] / base[name]:6.2f}x")
    if ratios:
        rounds = " ".join(f"{r:.2f}" for r in ratios)
        print(f"embedded / SoftHSM2  {ENCRYPT} in {len(ratios)} alternating rounds: {rounds}")
        print(f"embedded / SoftHSM2  {ENCRYPT} median {statistics.median(ratios):.2f}x (goal >= 0.50x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
