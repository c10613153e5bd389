"""The web UI end to end: a real ``keystead serve`` (HTTPS, client certificates, API tokens and OpenID Connect
through a test identity provider) driven in Debian's Chromium by Playwright. Each flow clicks through the pages,
fails on any browser console error, and saves screenshots in a directory it prints (kept in the pytest temporary
directory, or in ``$KEYSTEAD_UI_SCREENSHOTS``: ``pytest -s`` shows where).

Files encrypted in the browser are decrypted by ``keystead sym decrypt`` and the other way round: the page writes
the command line's KSE1 format.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from ._keystead_server import REPO, KeysteadProcess, request_message  # type: ignore[import-not-found,unused-ignore]
    from ._oidc_provider import OidcProvider  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import REPO, KeysteadProcess, request_message
    from _oidc_provider import OidcProvider

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_TOKEN = "ui-test-admin-token"
BOB_TOKEN = "ui-test-bob-token"
CLIENT_ID = "keystead-ui"
CLIENT_SECRET = "ui-test-client-secret"
DIST = REPO / "kms_backend" / "ui" / "web" / "dist"
TIMEOUT_MS = 15_000
#: The object browser writes ranges with an en dash ("1-25 of 130", typographically).
DASH = "\N{EN DASH}"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _unavailable(reason: str) -> None:
    # CI (KEYSTEAD_REQUIRE_SERVICES=1) installs Chromium: there its absence is a failure, not a skip.
    if os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (KEYSTEAD_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@dataclass
class Stack:
    server: KeysteadProcess
    idp: OidcProvider
    browser: Any
    shots: Path
    workdir: Path
    count: list[int] = field(default_factory=lambda: [0])

    @property
    def url(self) -> str:
        return self.server.http_url

    def api(self, token: str = ADMIN_TOKEN) -> httpx.Client:
        assert self.server.certs is not None
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.server.certs / "ca.pem")),
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.server.certs is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
        env |= {
            "KEYSTEAD_CLI_URL": self.url,
            "KEYSTEAD_CLI_TLS_CA": str(self.server.certs / "ca.pem"),
            "KEYSTEAD_CLI_TOKEN": ADMIN_TOKEN,
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
            "PYTHONPATH": str(REPO),
        }
        return subprocess.run(
            [sys.executable, "-m", "kms_backend.cli", *args],
            check=False,
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


class Page:
    """A browser tab that records console errors and takes numbered screenshots."""

    def __init__(self, stack: Stack, context: Any) -> None:
        self.stack = stack
        self.context = context
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def shot(self, name: str) -> None:
        self.stack.count[0] += 1
        path = self.stack.shots / f"{self.stack.count[0]:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert not self.errors, "browser console errors:\n" + "\n".join(self.errors)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not CHROMIUM.exists():
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (make setup installs the dev extra)")
    assert (DIST / "index.html").is_file(), "the web UI is not built: `make setup` builds it"
    workdir = tmp_path_factory.mktemp("web-ui")
    # Screenshots go to $KEYSTEAD_UI_SCREENSHOTS when set (CI keeps them there), else beside the server's files.
    shots = Path(os.environ.get("KEYSTEAD_UI_SCREENSHOTS") or workdir / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nweb UI screenshots: {shots}")
    with OidcProvider(CLIENT_ID, CLIENT_SECRET) as idp:
        issuers = [{"issuer": idp.issuer, "jwks_uri": f"{idp.issuer}/jwks", "audience": [CLIENT_ID]}]
        server = KeysteadProcess.start(
            workdir,
            "--http-client-auth", "optional",
            "--api-tokens", f"{ADMIN_TOKEN}:admin,{BOB_TOKEN}:bob",
            "--jwt-issuers", json.dumps(issuers),
            "--ui-oidc-issuer", idp.issuer,
            "--ui-oidc-client-id", CLIENT_ID,
            "--ui-oidc-client-secret", CLIENT_SECRET,
        )  # fmt: skip
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    yield Stack(server, idp, browser, shots, workdir)
                finally:
                    browser.close()
        finally:
            server.stop()
            print(f"web UI screenshots: {shots} ({len(list(shots.iterdir()))} files)")


def open_page(stack: Stack, *, certificate: str | None = None) -> Page:
    options: dict[str, Any] = {
        "ignore_https_errors": True,
        "accept_downloads": True,
        "viewport": {"width": 1280, "height": 800},
    }
    if certificate is not None:
        assert stack.server.certs is not None
        options["client_certificates"] = [
            {
                "origin": stack.url,
                "certPath": str(stack.server.certs / f"{certificate}.pem"),
                "keyPath": str(stack.server.certs / f"{certificate}.key"),
            }
        ]
    return Page(stack, stack.browser.new_context(**options))


def sign_in_with_token(tab: Page, token: str, user: str) -> None:
    page = tab.page
    page.goto(f"{tab.stack.url}/ui/")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in with the token").click()
    page.get_by_test_id("signed-in-user").filter(has_text=user).wait_for()


def download(tab: Page, click: Any, target: Path) -> Path:
    """Click, then save the download; if none comes, fail with what the page says (its alerts) and a screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        with tab.page.expect_download(timeout=2 * TIMEOUT_MS) as info:
            click()
    except PlaywrightTimeout:
        tab.shot(f"no-download-{target.name}")
        alerts = tab.page.get_by_role("alert").all_inner_texts()
        pytest.fail(f"no download of {target.name}; the page shows: {alerts}; console: {tab.errors}")
    info.value.save_as(str(target))
    return target


def self_signed_pem(common_name: str) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_sign_in_methods_and_oidc(stack: Stack) -> None:
    """The sign-in page offers the three configured methods; a wrong token is refused; OIDC signs in and out."""
    tab = open_page(stack)
    page = tab.page
    page.goto(f"{stack.url}/ui/")
    page.get_by_role("heading", name="OpenID Connect").wait_for()
    page.get_by_role("heading", name="API token").wait_for()
    page.get_by_role("heading", name="Client certificate").wait_for()
    tab.shot("sign-in")

    page.get_by_label("Token").fill("not-a-token")
    page.get_by_role("button", name="Sign in with the token").click()
    page.get_by_role("alert").filter(has_text="invalid bearer token").wait_for()

    page.get_by_test_id("oidc-sign-in").click()
    page.get_by_role("heading", name="Test identity provider").wait_for()
    page.get_by_label("User").fill("carol@example.com")
    tab.shot("oidc-provider-login")
    page.get_by_role("button", name="Log in").click()
    page.get_by_test_id("signed-in-user").filter(has_text="carol@example.com").wait_for()
    assert "(OpenID Connect)" in page.get_by_test_id("signed-in-user").inner_text()
    assert "oidc_token" not in page.url  # the token left the address bar at once
    # The ID token works for the API: carol creates a key and sees it.
    page.get_by_role("link", name="Create").click()
    page.get_by_label("Name").fill("carol-key")
    page.get_by_role("button", name="Create").click()
    page.get_by_test_id("object-state").filter(has_text="Active").wait_for()
    tab.shot("oidc-signed-in-key")
    assert stack.idp.token_requests and stack.idp.token_requests[-1]["client_secret"] == CLIENT_SECRET

    page.get_by_role("button", name="Sign out").click()
    page.get_by_test_id("signin-notice").filter(has_text="Signed out").wait_for()
    tab.close()


def test_client_certificate_sign_in(stack: Stack) -> None:
    """A browser presenting a certificate signed by the server's CA is its subject CN, with no sign-in page."""
    tab = open_page(stack, certificate="user")
    page = tab.page
    page.goto(f"{stack.url}/ui/")
    page.get_by_test_id("signed-in-user").filter(has_text="user").wait_for()
    assert "(client certificate)" in page.get_by_test_id("signed-in-user").inner_text()
    page.get_by_role("heading", name="Objects").wait_for()
    page.get_by_test_id("result-range").filter(has_text=" of ").wait_for()
    tab.shot("certificate-signed-in")
    tab.close()


def test_key_lifecycle(stack: Stack, tmp_path: Path) -> None:
    """Create, search, details and links, encrypt/decrypt with the CLI on the other side, export and import, grant
    and revoke access, re-key, revoke and destroy; then the server page."""
    tab = open_page(stack)
    page = tab.page
    sign_in_with_token(tab, ADMIN_TOKEN, "admin")

    # Create an AES key with a name and tags.
    page.get_by_role("link", name="Create").click()
    page.get_by_label("Name").fill("payments-key")
    page.get_by_label("Tags").fill("payments, ui-test")
    tab.shot("create")
    page.get_by_role("button", name="Create").click()
    page.get_by_test_id("object-state").filter(has_text="Active").wait_for()
    uid = page.url.rsplit("/", 1)[1]
    attributes = page.get_by_test_id("attributes-table")
    assert "AES" in attributes.inner_text() and "256" in attributes.inner_text()
    tab.shot("details")

    # Search by tag, type, state and algorithm: it is there; with another state it is not.
    page.get_by_role("link", name="Objects").click()
    form = page.get_by_role("form", name="Search objects")
    form.get_by_label("Tags").fill("ui-test")
    form.get_by_label("Type").select_option("SymmetricKey")
    form.get_by_label("State").select_option("Active")
    form.get_by_label("Algorithm").select_option("AES")
    form.get_by_role("button", name="Search").click()
    page.get_by_test_id("result-range").filter(has_text=f"1{DASH}1 of 1").wait_for()
    page.get_by_role("link", name=uid).wait_for()
    tab.shot("search")
    form.get_by_label("State").select_option("PreActive")
    form.get_by_role("button", name="Search").click()
    page.get_by_test_id("result-range").filter(has_text=f"0{DASH}0 of 0").wait_for()
    form.get_by_label("State").select_option("Active")
    form.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=uid).click()
    page.get_by_test_id("object-state").wait_for()

    # Encrypt a file in the browser; the CLI decrypts it. The CLI encrypts one; the browser decrypts it.
    plain = tmp_path / "report.txt"
    plain.write_bytes(os.urandom(3000) + b"the end\n")
    page.get_by_role("link", name="Encrypt / decrypt a file").click()
    assert page.get_by_label("Key identifier").input_value() == uid
    page.get_by_label("File", exact=True).set_input_files(str(plain))
    sealed = download(tab, lambda: page.get_by_role("button", name="Encrypt").click(), tmp_path / "report.txt.enc")
    page.get_by_test_id("crypto-message").filter(has_text="Encrypted report.txt").wait_for()
    tab.shot("encrypted")
    opened = tmp_path / "opened-by-cli.txt"
    result = stack.cli("sym", "decrypt", "--key-id", uid, "--output-file", str(opened), str(sealed))
    assert result.returncode == 0, result.stderr
    assert opened.read_bytes() == plain.read_bytes()

    by_cli = tmp_path / "from-cli.bin.enc"
    source = tmp_path / "from-cli.bin"
    source.write_bytes(os.urandom(5000))
    result = stack.cli("sym", "encrypt", "--key-id", uid, "--output-file", str(by_cli), str(source))
    assert result.returncode == 0, result.stderr
    page.get_by_label("File", exact=True).set_input_files(str(by_cli))
    decrypted = download(tab, lambda: page.get_by_role("button", name="Decrypt").click(), tmp_path / "from-ui.bin")
    assert decrypted.read_bytes() == source.read_bytes()
    page.get_by_test_id("crypto-message").filter(has_text="Decrypted").wait_for()
    tab.shot("decrypted")

    # A tampered file is refused with a message, nothing downloaded.
    tampered = tmp_path / "tampered.enc"
    data = bytearray(sealed.read_bytes())
    data[40] ^= 1
    tampered.write_bytes(bytes(data))
    page.get_by_label("File", exact=True).set_input_files(str(tampered))
    page.get_by_role("button", name="Decrypt").click()
    page.get_by_test_id("crypto-error").wait_for()
    tab.errors = [e for e in tab.errors if "422" not in e]  # the refused Decrypt is the expected 422 here
    tab.shot("tampered-refused")

    # Export the raw key, import it back as a new key: same material, new object.
    page.goto(f"{stack.url}/ui/#/objects/{uid}")
    raw = download(tab, lambda: page.get_by_role("button", name="Export (raw)").click(), tmp_path / "key.bin")
    assert len(raw.read_bytes()) == 32
    page.get_by_role("link", name="Import").click()
    page.get_by_label("File (raw key bytes", exact=False).set_input_files(str(raw))
    page.get_by_label("Name").fill("imported-copy")
    page.get_by_role("button", name="Import").click()
    page.get_by_test_id("object-state").filter(has_text="Active").wait_for()
    imported = page.url.rsplit("/", 1)[1]
    assert imported != uid
    assert "imported-copy" in page.get_by_role("heading", level=1).inner_text()
    tab.shot("imported")

    # Access rights: grant bob get+encrypt, bob can Get; revoke encrypt, then everything.
    page.goto(f"{stack.url}/ui/#/objects/{uid}")
    rights = page.get_by_role("region", name="Access rights")
    rights.get_by_label("User (or * for everyone)").fill("bob")
    rights.get_by_label("decrypt", exact=True).uncheck()
    rights.get_by_role("button", name="Grant").click()
    rights.get_by_test_id("access-table").filter(has_text="bob").wait_for()
    assert "encrypt" in rights.get_by_test_id("access-table").inner_text()
    tab.shot("granted")
    with stack.api(BOB_TOKEN) as bob:
        got = bob.post(
            "/kmip/2_1", json={"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]}
        )
        assert got.status_code == 200, got.text
    rights.get_by_role("button", name="revoke encrypt from bob").click()
    rights.get_by_text("Revoked encrypt from bob.").wait_for()
    # The message shows as the access list starts reloading: wait for the list without bob's encrypt.
    rights.get_by_role("button", name="revoke encrypt from bob").wait_for(state="detached")
    rights.get_by_role("button", name="Revoke all").click()
    rights.get_by_text("Only the owner has access.").wait_for()
    with stack.api(BOB_TOKEN) as bob:
        got = bob.post(
            "/kmip/2_1", json={"tag": "Get", "value": [{"tag": "UniqueIdentifier", "type": "TextString", "value": uid}]}
        )
        assert got.status_code != 200
    tab.shot("revoked-access")

    # Re-key: the new key is shown, linked to the old one; follow the link back.
    page.get_by_role("button", name="Re-key").click()
    page.wait_for_url(re.compile(r"#/objects/(?!" + re.escape(uid) + r"$)"))
    replacement = page.url.rsplit("/", 1)[1]
    page.get_by_test_id("attributes-table").filter(has_text="ReplacedObjectLink").wait_for()
    page.get_by_test_id("action-message").filter(has_text="this is its replacement").wait_for()
    assert page.get_by_role("region", name="Access rights").get_by_role("status").count() == 0  # nothing carried over
    tab.shot("re-keyed")
    page.get_by_test_id("attributes-table").get_by_role("link", name=uid).click()
    page.get_by_test_id("attributes-table").get_by_role("link", name=replacement).wait_for()

    # Revoke then destroy the old key.
    page.get_by_label("Revocation reason").select_option("Superseded")
    page.get_by_label("Message").fill("rotated by the UI test")
    page.get_by_role("button", name="Revoke", exact=True).click()
    page.get_by_test_id("object-state").filter(has_text="Deactivated").wait_for()
    page.get_by_role("button", name="Destroy…").click()
    page.get_by_role("button", name="Yes, destroy").click()
    page.get_by_test_id("object-state").filter(has_text="Destroyed").wait_for()
    tab.shot("destroyed")

    # A key pair: the private key links to its public key, whose PEM export is a valid public key.
    page.get_by_role("link", name="Create").click()
    page.get_by_label("Key pair", exact=True).check()
    page.get_by_label("Algorithm and size").select_option("EC-P256")
    page.get_by_role("button", name="Create").click()
    page.get_by_test_id("attributes-table").filter(has_text="PublicKeyLink").wait_for()
    page.get_by_test_id("attributes-table").get_by_role("link").first.click()
    page.get_by_test_id("attributes-table").filter(has_text="PrivateKeyLink").wait_for()
    pem = download(tab, lambda: page.get_by_role("button", name="Export (PEM)").click(), tmp_path / "public.pem")
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    assert load_pem_public_key(pem.read_bytes()).key_size == 256  # type: ignore[union-attr]
    tab.shot("key-pair")
    # The PEM imports back: the page recognizes it as a public key.
    page.get_by_role("link", name="Import").click()
    page.get_by_label("File (raw key bytes", exact=False).set_input_files(str(pem))
    page.get_by_text("Detected: PEM public key").wait_for()
    assert page.get_by_label("Object type").input_value() == "PublicKey"
    page.get_by_role("button", name="Import").click()
    page.get_by_test_id("attributes-table").filter(has_text="PublicKey").wait_for()
    assert "EC" in page.get_by_test_id("attributes-table").inner_text()

    # An X.509 certificate imports from PEM and exports the same DER.
    certificate = tmp_path / "web.pem"
    certificate.write_bytes(self_signed_pem("web.example"))
    page.get_by_role("link", name="Import").click()
    page.get_by_label("File (raw key bytes", exact=False).set_input_files(str(certificate))
    page.get_by_text("Detected: PEM certificate").wait_for()
    page.get_by_role("button", name="Import").click()
    page.get_by_test_id("attributes-table").filter(has_text="Certificate").wait_for()
    exported = download(tab, lambda: page.get_by_role("button", name="Export (PEM)").click(), tmp_path / "out.pem")
    from cryptography import x509

    assert x509.load_pem_x509_certificate(exported.read_bytes()) == x509.load_pem_x509_certificate(
        certificate.read_bytes()
    )
    tab.shot("certificate")

    # Server information and metrics.
    page.get_by_role("link", name="Server").click()
    page.get_by_test_id("server-health").filter(has_text="UP").wait_for()
    assert page.get_by_test_id("server-version").inner_text()
    assert int(page.get_by_test_id("metric-requests").inner_text().replace(",", "")) > 10
    assert "SymmetricKey" in page.get_by_test_id("object-counts").inner_text()
    assert "create" in page.get_by_test_id("operations-table").inner_text()
    tab.shot("server")
    tab.close()


def test_paging(stack: Stack) -> None:
    """Server-side paging: 130 tagged keys, 25 a page; Next, Last and the page size change the window."""
    with stack.api() as api:
        create = {
            "tag": "Attributes",
            "value": [
                {"tag": "CryptographicAlgorithm", "type": "Enumeration", "value": "AES"},
                {"tag": "CryptographicLength", "type": "Integer", "value": 128},
                {
                    "tag": "Attribute",
                    "value": [
                        {"tag": "VendorIdentification", "type": "TextString", "value": "cosmian"},
                        {"tag": "AttributeName", "type": "TextString", "value": "tag"},
                        {"tag": "AttributeValue", "type": "TextString", "value": '["bulk-page"]'},
                    ],
                },
            ],
        }
        items = [("Create", [{"tag": "ObjectType", "type": "Enumeration", "value": "SymmetricKey"}, create])] * 130
        response = api.post("/kmip/2_1", json=request_message(*items))
        assert response.status_code == 200 and response.text.count('"Success"') == 130, response.text[:500]

    tab = open_page(stack)
    page = tab.page
    sign_in_with_token(tab, ADMIN_TOKEN, "admin")
    page.goto(f"{stack.url}/ui/#/objects?tags=bulk-page")
    page.get_by_test_id("result-range").filter(has_text=f"1{DASH}25 of 130").wait_for()
    table = page.get_by_test_id("objects-table")
    assert table.locator("tbody tr").count() == 25
    page.get_by_role("button", name="Next").click()
    page.get_by_test_id("result-range").filter(has_text=f"26{DASH}50 of 130").wait_for()
    page.get_by_role("button", name="Last").click()
    page.get_by_test_id("result-range").filter(has_text=f"126{DASH}130 of 130").wait_for()
    assert table.locator("tbody tr").count() == 5
    page.get_by_text("Page 6 of 6").wait_for()
    tab.shot("paging-last")
    page.get_by_label("Per page").select_option("100")
    page.get_by_test_id("result-range").filter(has_text=f"1{DASH}100 of 130").wait_for()
    assert table.locator("tbody tr").count() == 100
    page.go_back()
    page.get_by_test_id("result-range").filter(has_text=f"126{DASH}130 of 130").wait_for()
    tab.close()
