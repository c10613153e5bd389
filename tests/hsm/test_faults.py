"""HSM faults: wrong PIN, missing token or library, closed sessions, logout, library reset, token removal.

"Token removed" is simulated as SoftHSM sees it: the library is re-initialised while ``SOFTHSM2_CONF`` points at an
empty token directory (the token is gone), then re-initialised with the real one (the token is back).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pkcs11
import pytest

from kms_backend.hsm import HsmSessions, KekSealer, UnsealCache
from kms_backend.hsm.softhsm import SoftHsm
from kms_backend.kmip._registry_data import ResultReason
from kms_backend.kmip.errors import KmipError

from .conftest import token, unique

PLAIN = b"\x42\x00\x01" + b"key material" * 4


@pytest.fixture
def sealer(softhsm) -> Iterator[KekSealer]:
    tok = token(softhsm, "faults")
    pool = HsmSessions(tok.module, tok.label, tok.pin, retry_delay=0)
    pool.connect()
    kek = KekSealer(pool, unique("kek"), cache=UnsealCache(0))
    kek.open(create=True)
    yield kek
    pool.close()


def _unavailable(exc: pytest.ExceptionInfo[KmipError]) -> str:
    assert exc.value.reason == ResultReason.PROTECTION_STORAGE_UNAVAILABLE
    return exc.value.message


def test_wrong_pin_is_a_clear_kmip_error(softhsm) -> None:
    tok = token(softhsm, "faults")
    with pytest.raises(KmipError) as exc:
        HsmSessions(tok.module, tok.label, "wrong-pin").connect()
    assert "PIN is incorrect" in _unavailable(exc) and tok.label in exc.value.message


def test_missing_token_and_library_are_clear_kmip_errors(softhsm) -> None:
    with pytest.raises(KmipError) as exc:
        HsmSessions(softhsm.module, "no-such-token", "1234").connect()
    assert "no HSM token labelled 'no-such-token'" in _unavailable(exc)
    assert "kst-faults" in exc.value.message  # lists what is there
    with pytest.raises(KmipError) as exc:
        HsmSessions("/nonexistent/libpkcs11.so", "t", "1234").connect()
    assert "cannot load the PKCS#11 library /nonexistent/libpkcs11.so" in _unavailable(exc)


def test_a_closed_session_is_replaced_and_the_operation_retried(sealer: KekSealer) -> None:
    sealed = sealer.seal("u1", PLAIN)  # leaves one idle session in the pool
    idle = sealer.sessions._idle
    assert idle
    for pooled in idle:
        pooled.session.close()  # C_CloseSession behind the pool's back
    assert sealer.unseal("u1", sealed) == PLAIN


def test_a_logged_out_application_logs_in_again(sealer: KekSealer) -> None:
    sealed = sealer.seal("u1", PLAIN)
    sealer.sessions._anchor.close()  # C_Logout + C_CloseSession: every session is logged out
    sealer.sessions._anchor = None
    for pooled in sealer.sessions._idle:
        pooled.keys.clear()
    assert sealer.unseal("u1", sealed) == PLAIN


def test_a_reset_library_is_reinitialised(sealer: KekSealer) -> None:
    sealed = sealer.seal("u1", PLAIN)
    pkcs11.lib(sealer.sessions.module).finalize()  # every session and the login are gone
    assert sealer.unseal("u1", sealed) == PLAIN
    assert sealer.seal("u2", PLAIN)


def test_removed_token_gives_clear_errors_then_recovers(
    sealer: KekSealer, softhsm: SoftHsm, tmp_path, monkeypatch
) -> None:
    sealed = sealer.seal("u1", PLAIN)
    empty = SoftHsm.create(tmp_path / "empty", softhsm.module)
    lib = pkcs11.lib(softhsm.module)
    monkeypatch.setenv("SOFTHSM2_CONF", str(empty.conf))
    lib.reinitialize()  # the token is gone
    try:
        with pytest.raises(KmipError) as exc:
            sealer.unseal("u1", sealed)
        assert "kst-faults" in _unavailable(exc)
        with pytest.raises(KmipError) as exc:
            sealer.seal("u2", PLAIN)
        _unavailable(exc)
    finally:
        monkeypatch.setenv("SOFTHSM2_CONF", str(softhsm.conf))
        lib.reinitialize()  # the token is back
    assert sealer.unseal("u1", sealed) == PLAIN


def test_non_idempotent_operations_are_not_retried_after_an_ambiguous_fault(sealer: KekSealer) -> None:
    calls = []

    def generate(_pooled):
        calls.append(1)
        raise pkcs11.exceptions.DeviceRemoved()

    with pytest.raises(KmipError) as exc:
        sealer.sessions.run(generate, idempotent=False, what="key generation")
    assert "key generation failed" in _unavailable(exc)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(KmipError):
        sealer.sessions.run(generate, idempotent=True)
    assert len(calls) == 3  # 1 + 2 retries


def test_concurrent_sealing_shares_the_pool(sealer: KekSealer) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                uid = f"t{n}-{i}"
                assert sealer.unseal(uid, sealer.seal(uid, PLAIN + bytes([n, i]))) == PLAIN + bytes([n, i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sealer.sessions._open <= 8
