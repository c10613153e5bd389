"""``make fuzz``: run every target (or ``--targets a,b``) under atheris for ``--seconds`` each, starting from a corpus
seeded with the OASIS test-case messages in every encoding; print the inputs executed per target; copy any input
that made a target fail to ``fuzz/regressions/<target>/`` and exit 1.

    python -m fuzz [--seconds 60] [--runs N] [--targets binary,json,xml,mapper,http,pkcs11] [--workdir .fuzz]

``--runs N`` ends a target's run after N inputs, or after ``--seconds`` if that comes first (a long pass:
``python -m fuzz --targets http --runs 1000000 --seconds 86400``).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fuzz.targets import TARGETS

REPO = Path(__file__).resolve().parent.parent
REGRESSIONS = REPO / "fuzz" / "regressions"


def seed_corpus(directory: Path, target: str) -> None:
    """The OASIS mandatory test-case messages, in the encoding the target reads (once per work directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        return
    sys.path.insert(0, str(REPO))
    from kms_backend.kmip import binary_codec, json_codec, xml_codec
    from tests.vectors import iter_testcases, resolve_placeholders

    for case in iter_testcases():
        for index, (request, response) in enumerate(case.messages):
            for kind, item in (("rq", resolve_placeholders(request)), ("rs", resolve_placeholders(response))):
                if target in ("binary", "mapper"):
                    data = binary_codec.encode(item)
                elif target == "json":
                    data = json_codec.encode(item).encode()
                elif target == "xml":
                    data = xml_codec.encode(item).encode()
                elif target == "http" and kind == "rq":
                    data = bytes((1, 1)) + binary_codec.encode(item)  # POST /kmip, binary
                else:
                    continue
                (directory / f"{case.name}-{index}-{kind}").write_bytes(data)
    if not any(directory.iterdir()):
        (directory / "empty").write_bytes(b"\x00" * 8)


def run(target: str, seconds: float, workdir: Path, runs: int | None = None) -> tuple[int, list[Path]]:
    """Fuzz one target for ``seconds`` or ``runs`` inputs, whichever ends first; (inputs executed, failing inputs
    found)."""
    corpus = workdir / "corpus" / target
    found = workdir / "found" / target
    seed_corpus(corpus, target)
    found.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "fuzz.run_atheris", target,
        f"-max_total_time={int(seconds)}", "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
        f"-artifact_prefix={found}/", "-max_len=65536", *([f"-runs={runs}"] if runs else []), str(corpus),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    log = result.stdout + result.stderr
    (workdir / f"{target}.log").write_text(log)
    executed = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    runs = int(executed[-1]) if executed else sum(int(n) for n in re.findall(r"Done (\d+) runs", log))
    return runs, sorted(p for p in found.iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time per target")
    parser.add_argument("--runs", type=int, default=None, help="inputs per target (stops before --seconds)")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated target names")
    parser.add_argument("--workdir", type=Path, default=REPO / ".fuzz", help="corpus and logs (kept between runs)")
    args = parser.parse_args(argv)
    failed = False
    for target in args.targets.split(","):
        if target not in TARGETS:
            parser.error(f"unknown target {target!r}: choose from {', '.join(TARGETS)}")
        start = time.monotonic()
        runs, findings = run(target, args.seconds, args.workdir, args.runs)
        elapsed = time.monotonic() - start
        print(f"{target:<8} {runs:>10,} inputs in {elapsed:6.0f} s ({runs / elapsed:,.0f}/s), {len(findings)} found")
        for finding in findings:
            destination = REGRESSIONS / target / hashlib.sha256(finding.read_bytes()).hexdigest()[:16]
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(finding, destination)
            print(f"  {finding.name} -> {destination.relative_to(REPO)} (see {args.workdir / (target + '.log')})")
            finding.unlink()
            failed = True
        if runs == 0:
            print(f"  {target}: no input ran (see {args.workdir / (target + '.log')})")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
