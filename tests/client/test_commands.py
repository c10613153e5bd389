"""Client verbs that need no KMS: shell completion (run in bash), ``login`` against a fake OIDC provider (device
flow, RFC 8628), ``logout``, attribute parsing and the exit-code table."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import yaml

from kms_backend import cli
from kms_backend.client import KmsConnectionError, KmsHttpError, KmsOperationError
from kms_backend.client.commands._common import CommandError, Exit, exit_code
from kms_backend.client.commands.objects import parse_attribute, parse_date
from kms_backend.client.commands.session import DEVICE_GRANT, OidcError, completion_script, device_login
from kms_backend.kmip import _schema_data as S
from kms_backend.kmip._registry_data import LinkType, Operation, ResultReason, State, Tag


def test_exit_codes() -> None:
    assert exit_code(KmsConnectionError("x")) == Exit.UNREACHABLE == 3
    assert exit_code(KmsHttpError(401, "no")) == Exit.DENIED == 4
    assert exit_code(KmsOperationError(Operation.GET, ResultReason.OBJECT_NOT_FOUND, "x")) == Exit.NOT_FOUND == 5
    assert exit_code(KmsOperationError(Operation.DECRYPT, ResultReason.CRYPTOGRAPHIC_FAILURE, "x")) == 6
    assert exit_code(KmsOperationError(Operation.CREATE, ResultReason.INVALID_FIELD, "x")) == 1
    assert exit_code(FileNotFoundError("x")) == Exit.LOCAL_IO == 7
    assert exit_code(CommandError("x")) == Exit.USAGE == 2
    with pytest.raises(ZeroDivisionError):
        exit_code(ZeroDivisionError())


def test_parse_attribute_by_type() -> None:
    assert parse_attribute("ContactInformation=a@b") == (Tag.CONTACT_INFORMATION, "a@b")
    assert parse_attribute("activation-date=2030-01-02") == (Tag.ACTIVATION_DATE, parse_date("2030-01-02T00:00:00Z"))
    assert parse_attribute("State=active") == (Tag.STATE, State.ACTIVE)
    assert parse_attribute("Sensitive=true") == (Tag.SENSITIVE, True)
    assert parse_attribute("CryptographicUsageMask=encrypt|decrypt") == (Tag.CRYPTOGRAPHIC_USAGE_MASK, 12)
    link = parse_attribute("Link=public-key-link:abc")[1]
    assert link == S.Link(link_type=LinkType.PUBLIC_KEY_LINK, linked_object_identifier="abc")
    for bad in ("Sensitive=maybe", "ContactInformation", "Nope=1", "ActivationDate=soon"):
        with pytest.raises(CommandError):
            parse_attribute(bad)


# -- completion -----------------------------------------------------------------------------------------------------
def complete(script: str, words: list[str]) -> list[str]:
    """COMPREPLY of the generated function for ``keystead WORDS`` (the last word being completed)."""
    program = f"""{script}
COMP_WORDS=(keystead {" ".join(words)})
COMP_CWORD={len(words)}
_keystead
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True, timeout=30)
    return sorted(line for line in result.stdout.splitlines() if line)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "sym" in complete(script, ["s"]) and "serve" in complete(script, ["s"])
    assert complete(script, ["sym", "keys", "cr"]) == ["create"]
    assert complete(script, ["sym", "encrypt", "--tag", "x", "--output-"]) == ["--output-file"]
    assert "--number-of-bits" in complete(script, ["sym", "keys", "create", "--"])
    assert complete(script, ["server", "query", "serv"]) == ["server-information"]
    zsh = completion_script(cli.build_parser(), "zsh")
    assert zsh.startswith("autoload -U +X bashcompinit")


# -- login ----------------------------------------------------------------------------------------------------------
def mock_idp(answers: list[dict[str, Any]], seen: list[dict[str, list[str]]]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200, json={"device_authorization_endpoint": "https://idp/device", "token_endpoint": "https://idp/token"}
            )
        form = parse_qs(request.content.decode())
        seen.append(form)
        if request.url.path == "/device":
            return httpx.Response(
                200, json={"device_code": "dc", "user_code": "ABCD", "verification_uri": "https://idp/d", "interval": 2}
            )
        answer = answers.pop(0)
        return httpx.Response(200 if "id_token" in answer else 400, json=answer)

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_device_flow_polls_until_approved() -> None:
    seen: list[dict[str, list[str]]] = []
    pauses: list[float] = []
    shown: list[str] = []
    answers = [
        {"error": "authorization_pending"},
        {"error": "slow_down"},
        {"id_token": "jwt", "access_token": "opaque"},
    ]
    token = device_login(
        "https://idp", "cli", "openid email", client=mock_idp(answers, seen), show=shown.append, sleep=pauses.append
    )
    assert token == "jwt"
    assert pauses == [2, 2, 7] and "ABCD" in shown[0]
    assert seen[0] == {"client_id": ["cli"], "scope": ["openid email"]}
    assert seen[1]["grant_type"] == [DEVICE_GRANT] and seen[1]["device_code"] == ["dc"]


def test_device_flow_denied() -> None:
    client = mock_idp([{"error": "access_denied", "error_description": "user said no"}], [])
    with pytest.raises(OidcError, match="user said no") as failure:
        device_login("https://idp", "cli", "openid", client=client, show=lambda _t: None, sleep=lambda _s: None)
    assert failure.value.code == Exit.DENIED


@pytest.fixture
def idp() -> Iterator[str]:
    """A local OpenID provider that approves the first poll."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            self._send({"device_authorization_endpoint": f"{base}/device", "token_endpoint": f"{base}/token"})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            if self.path == "/device":
                self._send({"device_code": "d", "user_code": "U", "verification_uri": "http://x", "interval": 0})
            else:
                self._send({"access_token": "issued-token"})

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_login_saves_the_token_and_logout_removes_it(
    idp: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / ".config" / "keystead" / "client.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"url: http://127.0.0.1:1\noidc_issuer: {idp}\noidc_client_id: keystead-cli\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.main(["login"]) == 0
    assert "enter the code U" in capsys.readouterr().err
    saved = yaml.safe_load(config.read_text())
    assert saved["token"] == "issued-token" and saved["url"] == "http://127.0.0.1:1"
    assert config.stat().st_mode & 0o777 == 0o600
    assert cli.main(["logout"]) == 0
    assert "token" not in yaml.safe_load(config.read_text())


def test_login_without_issuer_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.main(["login"]) == 2
