"""``keystead ttlv`` converts one message between encodings (the command-line contract of DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kms_backend.kmip import binary_codec, json_codec, xml_codec
from tests.vectors import iter_testcases, resolve_placeholders

REQUEST = resolve_placeholders(next(iter(iter_testcases())).messages[0][0])


def run(args: list[str], stdin: bytes = b"") -> tuple[int, bytes, str]:
    """Run the real command line in a subprocess, as an operator would."""
    done = subprocess.run(
        [sys.executable, "-m", "kms_backend.cli", *args], input=stdin, capture_output=True, timeout=60, check=False
    )
    return done.returncode, done.stdout, done.stderr.decode()


@pytest.mark.parametrize("target", ["binary", "hex", "json", "xml", "text"])
def test_hex_to_every_format(tmp_path: Path, target: str) -> None:
    source = tmp_path / "msg.hex"
    source.write_text(binary_codec.encode(REQUEST).hex())
    code, out, err = run(["ttlv", "--from", "hex", "--to", target, str(source)])
    assert code == 0, err
    if target == "binary":
        assert binary_codec.decode(out) == REQUEST
    elif target == "hex":
        assert binary_codec.decode(bytes.fromhex(out.decode())) == REQUEST
    elif target == "json":
        assert json_codec.decode(out) == REQUEST
    elif target == "xml":
        assert xml_codec.decode(out) == REQUEST
    else:
        assert b"RequestMessage (0x420078)" in out


def test_stdin_and_round_trip_through_json_and_xml() -> None:
    code, as_json, _ = run(["ttlv", "--from", "binary", "--to", "json", "-"], binary_codec.encode(REQUEST))
    assert code == 0
    code, as_xml, _ = run(["ttlv", "--from", "json", "--to", "xml"], as_json)
    assert code == 0
    assert xml_codec.decode(as_xml) == REQUEST


def test_malformed_input_is_a_clear_error() -> None:
    code, out, err = run(["ttlv", "--from", "binary", "--to", "json"], b"\x42\x00\x78\x01\x00\x00\x00\xff")
    assert code == 1
    assert out == b""
    assert err.startswith("keystead ttlv: ")
