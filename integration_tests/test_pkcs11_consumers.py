"""The PKCS#11 library's cryptographic functions driven by real consumers — pkcs11-tool, p11tool (GnuTLS), OpenSSL
with the pkcs11 engine (libp11), python-pkcs11 on 3.11 and on 3.12 (served by the library's worker process),
p11-kit's module registry —
each against the embedded backend and against a remote ``keystead serve`` over mutual TLS.

The remote server is shared by the session, so every test names its objects with a fresh suffix and CKA_ID."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from _keystead_server import KeysteadProcess

from kms_backend.hsm.softhsm import SoftHsm, missing_reason

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
USER_PIN, SO_PIN = "1234", "5678"
TIMEOUT = 120
#: embedded-kek: the embedded store sealed under a SoftHSM2 key-encryption key (issue 6: the provider's suite
#: passes with a KEK-protected store).
BACKENDS = ["embedded", "embedded-kek", "remote"]
KEYSTEAD = [sys.executable, "-m", "kms_backend.cli"]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One ``keystead serve`` with mutual TLS on HTTPS, for every remote-backend test."""
    process = KeysteadProcess.start(tmp_path_factory.mktemp("kms"), "--http-client-auth", "required")
    try:
        yield process
    finally:
        process.stop()


@dataclass
class Token:
    env: dict[str, str]
    backend: str
    #: A fresh suffix for labels and the hex CKA_ID base, unique on a shared remote KMS.
    tag: str

    def id(self, n: int) -> str:
        return f"{self.tag}{n:02x}"


def _init_token(directory: Path) -> Path:
    result = subprocess.run(
        [
            *KEYSTEAD,
            "pkcs11",
            "init",
            "--dir",
            str(directory),
            "--pin",
            USER_PIN,
            "--so-pin",
            SO_PIN,
            "--label",
            "itest",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    return Path(result.stdout.strip().split("=", 1)[1])


@pytest.fixture(params=BACKENDS)
def token(request: pytest.FixtureRequest, tmp_path: Path) -> Token:
    """A token on the embedded backend, or on the shared remote KMS (client certificate CN ``admin``)."""
    config = _init_token(tmp_path / "token")
    if request.param == "remote":
        server = request.getfixturevalue("server")
        certs = server.certs
        raw = yaml.safe_load(config.read_text())
        raw["backend"] = {
            "type": "remote",
            "url": server.http_url,
            "tls_cert": str(certs / "client.pem"),
            "tls_key": str(certs / "client.key"),
            "tls_ca": str(certs / "ca.pem"),
        }
        config.write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_", "OPENSSL_"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = str(config)
    if request.param == "embedded-kek":
        env.update(_kek_environment(tmp_path / "softhsm"))
    return Token(env, request.param, secrets.token_hex(4))


def _kek_environment(directory: Path) -> dict[str, str]:
    """A throw-away SoftHSM2 token and the KEYSTEAD_HSM_* variables that make the provider seal its store."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("KEYSTEAD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"SoftHSM2 is required here: {reason}")
        pytest.skip(reason)
    softhsm = SoftHsm.create(directory)
    softhsm.init_token("kek", "kek-pin-1234", base=os.environ)
    return {
        "SOFTHSM2_CONF": str(softhsm.conf),
        "KEYSTEAD_HSM_MODULE": softhsm.module,
        "KEYSTEAD_HSM_TOKEN_LABEL": "kek",
        "KEYSTEAD_HSM_PIN": "kek-pin-1234",
        "KEYSTEAD_HSM_KEK_LABEL": "keystead-kek",
        "KEYSTEAD_HSM_CREATE_KEK": "1",
    }


def run(
    args: list[str], env: dict[str, str], *, text: bool = True, cwd: Path | str = "/"
) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, env=env, cwd=cwd, capture_output=True, text=text, timeout=TIMEOUT)


def need(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} not installed (Debian package {package})")
    return path


# -- pkcs11-tool (OpenSC) ----------------------------------------------------------------------------------------------
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def test_pkcs11_tool(library: Path, token: Token, tmp_path: Path):
    tool = need("pkcs11-tool", "opensc")
    base = [tool, "--module", str(library)]
    login = [*base, "--login", "--pin", USER_PIN]
    env = token.env
    slots = run([*base, "-L"], env)
    assert slots.returncode == 0 and "token label        : itest" in slots.stdout, slots.stderr
    mechanisms = run([*base, "-M"], env).stdout
    for name in ("AES-CBC-PAD", "AES-GCM", "RSA-PKCS-OAEP", "SHA256-RSA-PKCS-PSS", "ECDSA-SHA256", "ECDH1-DERIVE"):
        assert name in mechanisms, mechanisms
    rsa, ec, aes = token.id(1), token.id(2), token.id(3)
    for args in (
        ["--keypairgen", "--key-type", "rsa:2048", "--label", f"rsa-{token.tag}", "--id", rsa],
        ["--keypairgen", "--key-type", "EC:prime256v1", "--label", f"ec-{token.tag}", "--id", ec],
        ["--keygen", "--key-type", "AES:32", "--label", f"aes-{token.tag}", "--id", aes],
    ):
        made = run([*login, *args], env)
        assert made.returncode == 0, made.stderr
    listed = run([*login, "-O"], env).stdout
    for label in (f"rsa-{token.tag}", f"ec-{token.tag}", f"aes-{token.tag}"):
        assert f"label:      {label}" in listed, listed
    message = tmp_path / "message.txt"
    message.write_bytes(b"keystead pkcs11-tool round trip\n")
    iv = "000102030405060708090a0b0c0d0e0f"
    out, back = tmp_path / "enc.bin", tmp_path / "dec.bin"
    cipher = ["-m", "AES-CBC-PAD", "--iv", iv, "--id", aes]
    assert run([*login, "--encrypt", *cipher, "-i", str(message), "-o", str(out)], env).returncode == 0
    assert out.stat().st_size == 48
    assert run([*login, "--decrypt", *cipher, "-i", str(out), "-o", str(back)], env).returncode == 0
    assert back.read_bytes() == message.read_bytes()
    # CKM_RSA_PKCS signs what it is given: a DigestInfo, as every RSA signer built on it passes
    import hashlib

    digest_info = tmp_path / "digest-info.bin"
    digest_info.write_bytes(SHA256_DIGEST_INFO + hashlib.sha256(message.read_bytes()).digest())
    for mechanism, key, data in (
        ("RSA-PKCS", rsa, digest_info),
        ("SHA256-RSA-PKCS", rsa, message),
        ("SHA256-RSA-PKCS-PSS", rsa, message),
        ("ECDSA", ec, digest_info),
        ("ECDSA-SHA256", ec, message),
    ):
        signature = tmp_path / f"{mechanism}.sig"
        signed = run([*login, "--sign", "-m", mechanism, "--id", key, "-i", str(data), "-o", str(signature)], env)
        assert signed.returncode == 0, (mechanism, signed.stderr)
        verify = [*login, "--verify", "-m", mechanism, "--id", key, "-i", str(data), "--signature-file"]
        verified = run([*verify, str(signature)], env)
        assert "Signature is valid" in verified.stdout, (mechanism, verified.stdout, verified.stderr)
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(b"opaque data object")
    label = f"data-{token.tag}"
    assert run([*login, "--write-object", str(data_file), "--type", "data", "--label", label], env).returncode == 0
    read = run([*login, "--read-object", "--type", "data", "--label", label], env, text=False)
    assert read.returncode == 0 and read.stdout == b"opaque data object"
    if token.backend != "remote":  # the self-test uses every key on the token: run it where the token is ours
        test = run([*login, "--test"], env)
        assert test.returncode == 0 and "No errors" in test.stdout, test.stdout + test.stderr


# -- p11tool (GnuTLS) --------------------------------------------------------------------------------------------------
def test_p11tool(library: Path, token: Token):
    tool = need("p11tool", "gnutls-bin")
    env = token.env | {"GNUTLS_PIN": USER_PIN}
    base = [tool, "--provider", str(library), "--login"]
    label = f"gnutls-{token.tag}"
    made = run([*base, "--generate-privkey", "ecdsa", "--label", label, "pkcs11:token=itest"], env)
    assert made.returncode == 0 and "BEGIN PUBLIC KEY" in made.stdout, made.stderr
    listed = run([*base, "--list-all", "pkcs11:token=itest"], env)
    assert listed.returncode == 0 and f"object={label};type=private" in listed.stdout, listed.stderr
    tested = run([*base, "--test-sign", f"pkcs11:token=itest;object={label}"], env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Verifying against public key in the token... ok" in tested.stdout + tested.stderr


# -- OpenSSL with the pkcs11 engine (libp11) ---------------------------------------------------------------------------
ENGINE = Path("/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so")


def test_openssl_engine(library: Path, token: Token, tmp_path: Path):
    openssl = need("openssl", "openssl")
    tool = need("pkcs11-tool", "opensc")
    if not ENGINE.exists():
        pytest.skip(f"{ENGINE} missing (Debian package libengine-pkcs11-openssl)")
    conf = tmp_path / "openssl.cnf"
    conf.write_text(
        textwrap.dedent(
            f"""
            openssl_conf = openssl_init
            [openssl_init]
            engines = engine_section
            [engine_section]
            pkcs11 = pkcs11_section
            [pkcs11_section]
            engine_id = pkcs11
            dynamic_path = {ENGINE}
            MODULE_PATH = {library}
            init = 0
            """
        )
    )
    env = token.env | {"OPENSSL_CONF": str(conf)}
    login = [tool, "--module", str(library), "--login", "--pin", USER_PIN]
    message = tmp_path / "message.txt"
    message.write_bytes(b"signed through libp11\n")
    for key_type, name in (("rsa:2048", "rsa"), ("EC:prime256v1", "ec")):
        label = f"{name}-{token.tag}"
        made = run([*login, "--keypairgen", "--key-type", key_type, "--label", label, "--id", token.id(7)], env)
        assert made.returncode == 0, made.stderr
        pem = tmp_path / f"{name}.pem"
        if name == "rsa":
            der = tmp_path / f"{name}.der"
            exported = run([*login, "--read-object", "--type", "pubkey", "--label", label, "-o", str(der)], env)
            assert exported.returncode == 0, exported.stderr
            exported = run([openssl, "pkey", "-pubin", "-inform", "DER", "-in", str(der), "-out", str(pem)], env)
        else:
            # The EC public key is read through libp11 instead: pkcs11-tool 0.23.0 (Debian 12) frees the OSSL_PARAM
            # data of an EC key before EVP_PKEY_fromdata reads it (valgrind: "Invalid read ... inside a block of size
            # 256 free'd", SoftHSM2 included), so its --read-object fails now and then with "cannot create EVP_PKEY"
            # whatever the module answers. OpenSC fixed it in 0.24.0 (63d4bd3d3).
            public = f"pkcs11:token=itest;object={label};type=public"
            export = [openssl, "pkey", "-engine", "pkcs11", "-inform", "engine", "-pubin", "-in", public, "-pubout"]
            exported = run([*export, "-out", str(pem)], env)
        assert exported.returncode == 0, exported.stderr
        uri = f"pkcs11:token=itest;object={label};type=private;pin-value={USER_PIN}"
        signature = tmp_path / f"{name}.sig"
        sign = [openssl, "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", uri]
        signed = run([*sign, "-out", str(signature), str(message)], env)
        assert signed.returncode == 0, signed.stderr
        verify = [openssl, "dgst", "-sha256", "-verify", str(pem), "-signature", str(signature), str(message)]
        verified = run(verify, env)
        assert "Verified OK" in verified.stdout, verified.stdout + verified.stderr
        if name == "rsa":
            sealed = tmp_path / "oaep.bin"
            encrypt = [openssl, "pkeyutl", "-encrypt", "-pubin", "-inkey", str(pem), "-pkeyopt"]
            assert (
                run([*encrypt, "rsa_padding_mode:oaep", "-in", str(message), "-out", str(sealed)], env).returncode == 0
            )
            decrypt = [openssl, "pkeyutl", "-engine", "pkcs11", "-keyform", "engine", "-inkey", uri, "-decrypt"]
            opened = run([*decrypt, "-pkeyopt", "rsa_padding_mode:oaep", "-in", str(sealed)], env)
            assert opened.returncode == 0 and opened.stdout == message.read_text(), opened.stderr


# -- python-pkcs11 -----------------------------------------------------------------------------------------------------
PYTHON_PKCS11_CRYPTO = textwrap.dedent(
    """
    import os, sys, threading
    import pkcs11
    from pkcs11 import KDF, MGF, Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11.mechanisms import CTRParams, GCMParams
    from pkcs11.util.ec import encode_named_curve_parameters

    lib = pkcs11.lib(sys.argv[1])
    token = lib.get_token(token_label="itest")
    tag = sys.argv[3]
    plain = {Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True}
    with token.open(user_pin=sys.argv[2], rw=True) as s:
        key = s.generate_key(KeyType.AES, 256, label="gcm-" + tag, store=False, template=plain)
        nonce = os.urandom(12)
        sealed = key.encrypt(b"gcm plaintext", mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, b"aad"))
        assert len(sealed) == 13 + 16
        gcm = {"mechanism": Mechanism.AES_GCM, "mechanism_param": GCMParams(nonce, b"aad")}
        assert key.decrypt(sealed, **gcm) == b"gcm plaintext"
        try:
            key.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), **gcm)
            raise SystemExit("a forged tag decrypted")
        except pkcs11.exceptions.PKCS11Error:
            pass
        iv = os.urandom(16)
        chunks = [b"x" * 10, b"y" * 33, b"z" * 7]
        whole = key.encrypt(b"".join(chunks), mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
        assert b"".join(key.encrypt(chunks, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)) == whole
        cbc = {"mechanism": Mechanism.AES_CBC_PAD, "mechanism_param": iv}
        assert b"".join(key.decrypt([whole[:20], whole[20:]], **cbc)) == b"".join(chunks)
        counter = os.urandom(16)
        ctr = key.encrypt(b"counter mode", mechanism=Mechanism.AES_CTR, mechanism_param=CTRParams(counter[:12]))
        assert key.decrypt(ctr, mechanism=Mechanism.AES_CTR, mechanism_param=CTRParams(counter[:12])) == b"counter mode"
        ecb = key.encrypt(b"1" * 32, mechanism=Mechanism.AES_ECB)
        assert key.decrypt(ecb, mechanism=Mechanism.AES_ECB) == b"1" * 32

        pub, priv = s.generate_keypair(KeyType.RSA, 2048, store=False)
        for hash_, mgf in ((Mechanism.SHA_1, MGF.SHA1), (Mechanism.SHA256, MGF.SHA256), (Mechanism.SHA512, MGF.SHA512)):
            sealed = pub.encrypt(b"oaep", mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(hash_, mgf, None))
            opened = priv.decrypt(sealed, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(hash_, mgf, None))
            assert opened == b"oaep"
        assert len(pub[Attribute.MODULUS]) == 256 and pub[Attribute.PUBLIC_EXPONENT] == b"\\x01\\x00\\x01"
        pss = (Mechanism.SHA256, MGF.SHA256, 32)
        signature = priv.sign(b"pss", mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=pss)
        assert pub.verify(b"pss", signature, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=pss)
        assert not pub.verify(b"psz", signature, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=pss)

        params = s.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
        )
        epub, epriv = params.generate_keypair(store=False)
        signature = epriv.sign(b"ecdsa message", mechanism=Mechanism.ECDSA_SHA256)
        assert len(signature) == 64
        assert epub.verify(b"ecdsa message", signature, mechanism=Mechanism.ECDSA_SHA256)
        parts = epriv.sign([b"ecdsa ", b"message"], mechanism=Mechanism.ECDSA_SHA256)
        assert epub.verify(b"ecdsa message", parts, mechanism=Mechanism.ECDSA_SHA256)

        kek = s.generate_key(KeyType.AES, 256, store=False)
        for mechanism in (Mechanism.AES_KEY_WRAP, Mechanism.AES_KEY_WRAP_PAD):
            wrapped = kek.wrap_key(key, mechanism=mechanism)
            copy = kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, mechanism=mechanism, template=plain)
            assert copy[Attribute.VALUE] == key[Attribute.VALUE]
        oaep = (Mechanism.SHA256, MGF.SHA256, None)
        wrapped = pub.wrap_key(key, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=oaep)
        copy = priv.unwrap_key(
            ObjectClass.SECRET_KEY, KeyType.AES, wrapped, mechanism=Mechanism.RSA_PKCS_OAEP,
            mechanism_param=(Mechanism.SHA256, MGF.SHA256, None), template=plain,
        )
        assert copy[Attribute.VALUE] == key[Attribute.VALUE]

        other_pub, other_priv = params.generate_keypair(store=False)
        ours = epriv.derive_key(
            KeyType.AES, 256, mechanism_param=(KDF.NULL, None, other_pub[Attribute.EC_POINT]), template=plain
        )
        theirs = other_priv.derive_key(
            KeyType.AES, 256, mechanism_param=(KDF.NULL, None, epub[Attribute.EC_POINT]), template=plain
        )
        assert ours[Attribute.VALUE] == theirs[Attribute.VALUE]

        import hashlib
        assert s.digest(b"abc", mechanism=Mechanism.SHA256) == hashlib.sha256(b"abc").digest()
        assert s.digest([b"a", b"bc"], mechanism=Mechanism.SHA384) == hashlib.sha384(b"abc").digest()
        signing = MechanismFlag.SIGN | MechanismFlag.VERIFY
        hkey = s.generate_key(KeyType.GENERIC_SECRET, 256, store=False, capabilities=signing)
        mac = hkey.sign(b"hmac", mechanism=Mechanism.SHA256_HMAC)
        assert len(mac) == 32 and hkey.verify(b"hmac", mac, mechanism=Mechanism.SHA256_HMAC)

        extractable = {Attribute.EXTRACTABLE: True}
        stored = s.generate_key(KeyType.AES, 128, label="copy-me-" + tag, store=True, template=extractable)
        twin = stored.copy({Attribute.LABEL: "copied-" + tag})
        assert twin.label == "copied-" + tag and twin[Attribute.SENSITIVE]
        ct = stored.encrypt(b"same key", mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
        assert twin.decrypt(ct, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv) == b"same key"
        twin[Attribute.LABEL] = "renamed-" + tag
        twin[Attribute.ID] = b"\\x42" + tag.encode()
        again = s.get_key(label="renamed-" + tag)
        assert again[Attribute.ID] == b"\\x42" + tag.encode()
        twin.destroy()
        stored.destroy()
        assert len(s.generate_random(256)) == 32

    # 8 threads, each with its own session, encrypting and decrypting at once (the login, held by the first
    # session, is the application's: the threads' sessions see the private key)
    failures = []

    def worker(n):
        try:
            with token.open(rw=True) as session:
                key = session.get_key(label="threads-" + tag)
                for i in range(25):
                    iv = os.urandom(16)
                    data = os.urandom(n * 7 + i)
                    sealed = key.encrypt(data, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
                    assert key.decrypt(sealed, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv) == data
        except Exception as exc:
            failures.append(repr(exc))

    with token.open(user_pin=sys.argv[2], rw=True) as s:
        shared = s.generate_key(KeyType.AES, 256, label="threads-" + tag, store=True)
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shared.destroy()
    assert not failures, failures
    print("python-pkcs11 crypto ok", sys.version_info[:2])
    """
)


def _has_python_pkcs11(python: str) -> bool:
    return run([python, "-c", "import pkcs11"], dict(os.environ)).returncode == 0


def test_python_pkcs11(library: Path, token: Token, tmp_path: Path):
    if not _has_python_pkcs11(sys.executable):
        pytest.skip("python-pkcs11 is not installed (pip install python-pkcs11)")
    script = tmp_path / "crypto.py"
    script.write_text(PYTHON_PKCS11_CRYPTO)
    result = run([sys.executable, str(script), str(library), USER_PIN, token.tag], token.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "python-pkcs11 crypto ok (3, 11)" in result.stdout


#: Mechanisms with structured parameters (GCM, OAEP) reach a 3.12 host as they reach 3.11 (issue 15).
PY312_ROUND_TRIP = textwrap.dedent(
    """
    import sys
    import pkcs11
    from pkcs11 import MGF, KeyType, Mechanism
    from pkcs11.mechanisms import GCMParams
    token = pkcs11.lib(sys.argv[1]).get_token(token_label="itest")
    with token.open(user_pin=sys.argv[2], rw=True) as s:
        key = s.generate_key(KeyType.AES, 256, label="py312", store=False)
        gcm = GCMParams(bytes(12), b"aad")
        sealed = key.encrypt(b"from python 3.12", mechanism=Mechanism.AES_GCM, mechanism_param=gcm)
        assert key.decrypt(sealed, mechanism=Mechanism.AES_GCM, mechanism_param=gcm) == b"from python 3.12"
        pub, priv = s.generate_keypair(KeyType.RSA, 2048, store=False)
        oaep = (Mechanism.SHA_1, MGF.SHA1, None)
        sealed = pub.encrypt(b"oaep from 3.12", mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=oaep)
        assert priv.decrypt(sealed, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=oaep) == b"oaep from 3.12"
    print("python 3.12 round trip ok", sys.version_info[:2])
    """
)


def test_python_312_host_round_trip(library: Path, token: Token, python312: str, tmp_path: Path):
    """A Python 3.12 application (served by the library's worker process) encrypts and decrypts."""
    script = tmp_path / "py312.py"
    script.write_text(PY312_ROUND_TRIP)
    result = run([python312, str(script), str(library), USER_PIN], token.env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "python 3.12 round trip ok (3, 12)" in result.stdout


# -- p11-kit module registration ---------------------------------------------------------------------------------------
def test_p11kit_module_registration(library: Path, token: Token, tmp_path: Path):
    """A ``.module`` file in a private user configuration (HOME points at a temporary directory, so nothing
    global changes) makes the token appear in ``p11-kit list-modules``."""
    p11kit = need("p11-kit", "p11-kit")
    command = [p11kit, "list-modules"]
    if os.getuid() == 0:
        # p11-kit skips user configuration for root; a user namespace makes us uid 1000 to p11-kit while files
        # stay ours (the namespace maps 1000 to our real uid)
        command = ["unshare", "--user", "--map-user=1000", "--map-group=1000", *command]
        if run(["unshare", "--user", "--map-user=1000", "true"], dict(os.environ)).returncode != 0:
            pytest.skip("running as root and user namespaces are unavailable: p11-kit ignores user configuration")
    home = tmp_path / "home"
    modules = home / ".config/pkcs11/modules"
    modules.mkdir(parents=True)
    (modules / "keystead.module").write_text(f"module: {library}\ncritical: no\n")
    env = token.env | {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    listed = run(command, env)
    assert listed.returncode == 0, listed.stderr
    assert "keystead" in listed.stdout and "token: itest" in listed.stdout, listed.stdout
    assert "manufacturer: Keystead" in listed.stdout


# -- the provider's store under an HSM key-encryption key (issue 6) ---------------------------------------------------
def test_kek_seals_every_key_the_provider_stores(library: Path, tmp_path: Path):
    """Keys made through the library land in the database sealed by the HSM: no object blob is plain TTLV."""
    import sqlite3

    from kms_backend.hsm import is_sealed

    tool = need("pkcs11-tool", "opensc")
    config = _init_token(tmp_path / "token")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KEYSTEAD_", "OPENSSL_"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = str(config)
    env.update(_kek_environment(tmp_path / "softhsm"))
    base = [tool, "--module", str(library), "--login", "--pin", USER_PIN]
    for args in (
        ["--keygen", "--key-type", "AES:32", "--label", "sealed-aes"],
        ["--keypairgen", "--key-type", "EC:prime256v1", "--label", "sealed-ec"],
    ):
        result = run([*base, *args], env)
        assert result.returncode == 0, result.stderr
    database = yaml.safe_load(config.read_text())["backend"]["database"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        blobs = [bytes(row[0]) for row in db.execute("SELECT object_bytes FROM objects") if row[0]]
    assert len(blobs) >= 3  # the AES key, the EC private key and its public key
    assert all(is_sealed(blob) for blob in blobs)
