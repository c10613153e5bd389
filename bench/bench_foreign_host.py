"""Foreign-Python hosts, run by hand: ``python -m bench.bench_foreign_host [--seconds 2] [--hosts 3.11,3.12,3.13]``.

The same python-pkcs11 calls from Python hosts of several versions against one embedded token: the project's own
3.11 shares the host's interpreter, any other version is served by the library's forwarding to a worker process
(issue 15). For each host:

- mechanisms: how many mechanisms C_GetMechanismList shows the host, and which of the module's are missing;
- encrypt_aes_cbc_pad_64: C_EncryptInit + C_Encrypt AES-CBC-PAD of 64 bytes per second (python-pkcs11's
  ``encrypt``), the figure ``bench.bench_pkcs11`` gives for the 3.11 host.

Each foreign interpreter gets python-pkcs11 (the locked release, checked by hash) in ``bench/.host-venvs/<version>``
on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(__file__).resolve().parent / ".host-venvs"
PYENV = Path("/root/.pyenv/versions")
PIN = "1234"
KEYSTEAD = [sys.executable, "-m", "kms_backend.cli"]


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


def measure(library: str, seconds: float) -> dict[str, object]:
    """Run in the host interpreter: the mechanisms it sees and the AES-CBC-PAD rate."""
    import pkcs11
    from pkcs11 import KeyType, Mechanism

    token = pkcs11.lib(library).get_token(token_label="bench")
    seen = sorted(int(m) for m in token.slot.get_mechanisms())
    rates: dict[str, float | str] = {}
    with token.open(user_pin=PIN, rw=True) as session:
        key = session.generate_key(KeyType.AES, 256, store=False)
        iv, data = os.urandom(16), os.urandom(64)
        for name, mechanism, parameter in (
            ("encrypt_aes_cbc_pad_64", Mechanism.AES_CBC_PAD, iv),
            # no parameter: what p11-kit's RPC could forward, the comparable figure for that route
            ("encrypt_aes_ecb_64", Mechanism.AES_ECB, None),
        ):

            def call(mechanism=mechanism, parameter=parameter) -> bytes:
                return key.encrypt(data, mechanism=mechanism, mechanism_param=parameter)

            try:
                rates[name] = _rate(call, seconds)
            except pkcs11.PKCS11Error as exc:
                rates[name] = type(exc).__name__
    return {"python": "{}.{}".format(*sys.version_info[:2]), "mechanisms": seen, **rates}


def host_python(version: str) -> str:
    """An interpreter of ``version`` with python-pkcs11: the project's own for its version, else a venv."""
    if version == "{}.{}".format(*sys.version_info[:2]):
        return sys.executable
    venv = VENVS / version
    python = venv / "bin" / "python"
    if python.exists():
        return str(python)
    base = next(iter(sorted(PYENV.glob(f"{version}.*"))), None)
    if base is None:
        raise SystemExit(f"no Python {version} under {PYENV}")
    sys.path.insert(0, str(ROOT / "integration_tests"))
    from conftest import locked_requirements

    subprocess.run([str(base / "bin" / "python"), "-m", "venv", str(venv)], check=True)
    requirements = venv / "requirements.txt"
    requirements.write_text(locked_requirements("python-pkcs11", "asn1crypto"))
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", str(requirements)],
        check=True,
    )
    return str(python)


def _token_env(directory: Path) -> dict[str, str]:
    result = subprocess.run(
        [*KEYSTEAD, "pkcs11", "init", "--dir", str(directory), "--pin", PIN, "--so-pin", "5678", "--label", "bench"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTEAD_", "PYTHON"))}
    return env | {"KEYSTEAD_PKCS11_CONFIG": result.stdout.strip().split("=", 1)[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per figure")
    parser.add_argument("--hosts", default="3.11,3.12,3.13", help="host Python versions")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.seconds)))
        return 0
    from c_shim import build
    from provider.constants import Mechanism
    from provider.mechanisms import MECHANISMS

    library = str(build.LIBRARY_PATH if build.LIBRARY_PATH.exists() else build.build())
    module = {int(m) for m in MECHANISMS}
    print(f"{'host':8}{'mechanisms':>12}{'AES-CBC-PAD 64 B/s':>22}{'AES-ECB 64 B/s':>22}  missing")
    with tempfile.TemporaryDirectory(prefix="keystead-bench-") as tmp:
        for version in [v for v in args.hosts.split(",") if v]:
            env = _token_env(Path(tmp) / version)
            command = [host_python(version), "-m", "bench.bench_foreign_host", "--worker", library]
            command += ["--seconds", str(args.seconds)]
            result = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600
            )
            if result.returncode != 0:
                print(f"{version:8} failed: {result.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(result.stdout.strip().splitlines()[-1])
            missing = sorted(Mechanism(m).name for m in module - set(row["mechanisms"]))
            rates = "".join(
                f"{r:>22,.0f}" if isinstance(r, float) else f"{r:>22}"
                for r in (row["encrypt_aes_cbc_pad_64"], row["encrypt_aes_ecb_64"])
            )
            print(f"{row['python']:8}{len(row['mechanisms']):>6}/{len(module):<5}{rates}  {', '.join(missing) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
