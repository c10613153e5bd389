"""``keystead serve`` with HSM settings as a subprocess: it starts only when the library, the token, the PIN and
the key-encryption key are all right, and otherwise says which one is wrong (exit status 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

try:
    from ._hsm import Token, softhsm_tokens  # type: ignore[import-not-found,unused-ignore]
    from ._keystead_server import KeysteadProcess, keystead  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _hsm import Token, softhsm_tokens
    from _keystead_server import KeysteadProcess, keystead

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    yield from (tokens[0] for tokens in softhsm_tokens(tmp_path_factory.mktemp("softhsm"), "kst-startup"))


def serve_fails(tmp_path: Path, *options: str) -> str:
    """Run ``keystead serve`` that must refuse to start; its error output."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    result = keystead("serve", "--data-dir", str(tmp_path / "data"), "--http-port", "0", *options, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert not (tmp_path / "data" / "keystead.sqlite").exists()  # refused before touching the database
    return result.stderr


def test_good_settings_start_and_create_the_kek_once(hsm: Token, tmp_path: Path) -> None:
    error = serve_fails(tmp_path / "no-kek", *hsm.options("kek-startup"))
    assert "no key-encryption key labelled 'kek-startup'" in error and "--hsm-create-kek" in error
    process = KeysteadProcess.start(tmp_path / "first", *hsm.options("kek-startup", create=True), tls=False)
    try:
        banner = process.stdout.read_text()
        assert "HSM   token 'kst-startup' (slot " in banner and "'kek-startup'" in banner
        with httpx.Client(base_url=process.http_url) as http:
            assert http.get("/health").status_code == 200
    finally:
        assert process.stop() == 0
    process = KeysteadProcess.start(tmp_path / "second", *hsm.options("kek-startup"), tls=False)  # found now
    assert process.stop() == 0


def test_wrong_pin(hsm: Token, tmp_path: Path) -> None:
    error = serve_fails(tmp_path, *hsm.options("kek", create=True, pin="not-the-pin"))
    assert "HSM login to token 'kst-startup' failed: the PIN is incorrect" in error


def test_missing_token(hsm: Token, tmp_path: Path) -> None:
    options = hsm.options("kek", create=True)
    options[options.index("kst-startup")] = "no-such-token"
    error = serve_fails(tmp_path, *options)
    assert "no HSM token labelled 'no-such-token'" in error and "'kst-startup'" in error


def test_missing_library(hsm: Token, tmp_path: Path) -> None:
    options = hsm.options("kek", create=True)
    options[options.index(hsm.softhsm.module)] = str(tmp_path / "libnothing.so")
    error = serve_fails(tmp_path, *options)
    assert "cannot load the PKCS#11 library" in error and "libnothing.so" in error


def test_incomplete_settings(hsm: Token, tmp_path: Path) -> None:
    error = serve_fails(tmp_path, "--hsm-module", hsm.softhsm.module, "--hsm-kek-label", "kek")
    assert "--hsm-token-label, --hsm-pin missing" in error
