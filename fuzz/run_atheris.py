"""One coverage-guided run of one target under atheris (libFuzzer): ``python -m fuzz.run_atheris TARGET
[libFuzzer options] [CORPUS_DIR...]``. Keystead's own modules (``kms_backend``, ``provider``) are instrumented as
they are imported, so that coverage guides the mutations through the decoders, the mapper, the router and the
PKCS#11 marshalling; third-party libraries are not (instrumenting everything makes start-up take minutes)."""

from __future__ import annotations

import sys

import atheris


def main() -> None:
    name = sys.argv[1]
    with atheris.instrument_imports(include=["kms_backend", "provider", "fuzz"]):
        from fuzz.targets import TARGETS

        target = TARGETS[name]
        target(b"\x00\x00\x00\x00\x00")  # import everything the target reaches while instrumenting
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
