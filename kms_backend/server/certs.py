"""``keystead certs init DIR``: a throw-away PKI for development and tests (a CA, a server and two clients).

Keys are EC P-256 (fast handshakes; accepted by PyKMIP, OpenSSL and Cosmian's client). The server certificate
names 127.0.0.1 and localhost so clients that verify host names accept it; client certificates carry the user
name as their subject Common Name, which is how the KMIP socket and HTTPS identify users.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Every file ``init`` writes, in the order it writes them.
FILES = ("ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key", "user.pem", "user.key")
VALIDITY_DAYS = 825  # the longest validity Apple/Chrome accept for server certificates


class CertsExistError(FileExistsError):
    """``init`` would overwrite files (pass ``force=True``)."""


@dataclass(frozen=True, slots=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Keystead"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    common_name: str,
    issuer: _Issued | None,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    sans: list[x509.GeneralName] | None = None,
    now: datetime.datetime,
) -> _Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little slack for clients whose clocks run behind.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS if not ca else 3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return _Issued(builder.sign(signer_key, hashes.SHA256()), key)


def _write(path: Path, data: bytes, mode: int) -> None:
    # Created with its final mode so a private key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # O_CREAT's mode is filtered by the umask and ignored for existing files


def _cert_pem(issued: _Issued) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(issued: _Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def init(directory: str | Path, *, force: bool = False, now: datetime.datetime | None = None) -> list[Path]:
    """Write ``ca.pem``/``ca.key``, ``server.pem``/``server.key`` (SAN 127.0.0.1 and localhost, serverAuth),
    ``client.pem``/``client.key`` (CN ``admin``) and ``user.pem``/``user.key`` (CN ``user``) into ``directory``.

    Keys get mode 0600. Raises ``CertsExistError`` if any of the files exists, unless ``force``.
    """
    target = Path(directory)
    paths = [target / name for name in FILES]
    existing = [p for p in paths if p.exists()]
    if existing and not force:
        raise CertsExistError(
            f"{', '.join(str(p) for p in existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "use --force to overwrite"
        )
    target.mkdir(parents=True, exist_ok=True)
    now = now or datetime.datetime.now(datetime.UTC)
    ca = _issue("Keystead development CA", None, ca=True, now=now)
    server = _issue(
        "localhost",
        ca,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        now=now,
    )
    client = _issue("admin", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH, now=now)
    user = _issue("user", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH, now=now)
    for stem, issued in (("ca", ca), ("server", server), ("client", client), ("user", user)):
        _write(target / f"{stem}.pem", _cert_pem(issued), 0o644)
        _write(target / f"{stem}.key", _key_pem(issued), 0o600)
    return paths


__all__ = ["FILES", "CertsExistError", "init"]
