"""X.509 for the KMIP PKI operations (Certify §6.1.6, Re-certify §6.1.45, Validate §6.1.57) and the certificate
container formats (PKCS#7 certificate bundles, PKCS#12 key + certificate + chain).

Everything crosses this module's boundary as bytes: certificates and CSRs as DER (PEM accepted on input), names
as DER-encoded X.501 Names, keys as PKCS#8 / SubjectPublicKeyInfo DER, dates as POSIX seconds.

X.509 extensions are requested as text, in either of two forms (documented for clients in ``handlers/_pki``):

- OpenSSL configuration lines, ``name = value`` (``basicConstraints = critical,CA:TRUE,pathlen:0``); when the text
  has ``[section]`` headers, the ``[v3_ca]`` section is used if present, else the first section (Cosmian KMS sends
  a whole extension file with a ``v3_ca`` paragraph);
- a JSON object of the same names, each value an OpenSSL value string or a list of its comma-separated items
  (``{"keyUsage": ["critical", "keyCertSign"], "subjectAltName": ["DNS:a.example", "IP:127.0.0.1"]}``).

Supported: basicConstraints, keyUsage, extendedKeyUsage, subjectAltName, crlDistributionPoints (URIs), and
subjectKeyIdentifier / authorityKeyIdentifier (accepted, always computed). Subject and Authority Key Identifiers
are added to every certificate issued.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, SignatureAlgorithmOID

from kms_backend.kmip._registry_data import DigitalSignatureAlgorithm, ResultReason, ValidityIndicator

from ._common import fail
from ._keys import load_private, load_public, pqc_algorithm, private_to_der, public_to_der

# ----------------------------------------------------------------------------------------------------------------
# parsing and describing certificates


@dataclass(frozen=True)
class CertificateInfo:
    """What the KMIP certificate attributes (§4.6 Certificate Type/Length, §4.61-63 X.509 Certificate Identifier,
    Issuer, Subject, §4.22 Digital Signature Algorithm) and validation need to know about one certificate."""

    der: bytes
    subject: bytes
    issuer: bytes
    serial_number: bytes
    not_before: int
    not_after: int
    public_key: bytes
    signature_algorithm: DigitalSignatureAlgorithm | None
    is_ca: bool
    subject_alternative_names: tuple[bytes, ...]
    issuer_alternative_names: tuple[bytes, ...]
    subject_text: str
    issuer_text: str
    #: ``(short name, value)`` of every attribute of the subject / issuer name whose type ``NAME_ATTRIBUTES``
    #: knows (``("CN", "x")``), in the name's order; for the KMIP Certificate Attributes (§4.6).
    subject_parts: tuple[tuple[str, str], ...] = ()
    issuer_parts: tuple[tuple[str, str], ...] = ()

    @property
    def self_issued(self) -> bool:
        return self.subject == self.issuer


_SIGNATURE_ALGORITHMS: dict[x509.ObjectIdentifier, DigitalSignatureAlgorithm] = {
    SignatureAlgorithmOID.RSA_WITH_MD5: DigitalSignatureAlgorithm.MD5_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA1: DigitalSignatureAlgorithm.SHA_1_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA224: DigitalSignatureAlgorithm.SHA_224_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA256: DigitalSignatureAlgorithm.SHA_256_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA384: DigitalSignatureAlgorithm.SHA_384_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA512: DigitalSignatureAlgorithm.SHA_512_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA3_256: DigitalSignatureAlgorithm.SHA3_256_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA3_384: DigitalSignatureAlgorithm.SHA3_384_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSA_WITH_SHA3_512: DigitalSignatureAlgorithm.SHA3_512_WITH_RSA_ENCRYPTION,
    SignatureAlgorithmOID.RSASSA_PSS: DigitalSignatureAlgorithm.RSASSA_PSS,
    SignatureAlgorithmOID.DSA_WITH_SHA1: DigitalSignatureAlgorithm.DSA_WITH_SHA_1,
    SignatureAlgorithmOID.DSA_WITH_SHA224: DigitalSignatureAlgorithm.DSA_WITH_SHA224,
    SignatureAlgorithmOID.DSA_WITH_SHA256: DigitalSignatureAlgorithm.DSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: DigitalSignatureAlgorithm.ECDSA_WITH_SHA_1,
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: DigitalSignatureAlgorithm.ECDSA_WITH_SHA224,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: DigitalSignatureAlgorithm.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: DigitalSignatureAlgorithm.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: DigitalSignatureAlgorithm.ECDSA_WITH_SHA512,
}


def _load_certificate(data: bytes) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        fail(ResultReason.INVALID_FIELD, "the certificate value is not an X.509 certificate (DER or PEM)")


def load_certificate(data: bytes) -> bytes:
    """The DER form of an X.509 certificate given as DER or PEM (Invalid Field if it is neither)."""
    return _load_certificate(data).public_bytes(serialization.Encoding.DER)


def certificate_to_pem(der: bytes) -> bytes:
    """PEM (``-----BEGIN CERTIFICATE-----``) of a DER certificate."""
    return _load_certificate(der).public_bytes(serialization.Encoding.PEM)


def _alternative_names(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> tuple[bytes, ...]:
    try:
        extension = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return ()
    names: Any = extension.value
    return tuple(str(_general_name_text(n)).encode() for n in names)


def _general_name_text(name: x509.GeneralName) -> str:
    prefixes: dict[type, str] = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.RFC822Name: "email",
        x509.UniformResourceIdentifier: "URI",
        x509.DirectoryName: "dirName",
        x509.RegisteredID: "RID",
    }
    value = name.value
    text = value.rfc4514_string() if isinstance(value, x509.Name) else getattr(value, "dotted_string", value)
    return f"{prefixes.get(type(name), 'otherName')}:{text}"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.ca)


def _timestamp(moment: datetime.datetime) -> int:
    return int(moment.timestamp())


def certificate_info(data: bytes) -> CertificateInfo:
    """Describe an X.509 certificate (DER or PEM)."""
    cert = _load_certificate(data)
    try:
        serial = cert.serial_number
        public_key = public_to_der(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, "the certificate's public key or serial number cannot be read")
    try:
        return CertificateInfo(
            der=cert.public_bytes(serialization.Encoding.DER),
            subject=cert.subject.public_bytes(),
            issuer=cert.issuer.public_bytes(),
            serial_number=serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True),
            not_before=_timestamp(cert.not_valid_before_utc),
            not_after=_timestamp(cert.not_valid_after_utc),
            public_key=public_key,
            signature_algorithm=_SIGNATURE_ALGORITHMS.get(cert.signature_algorithm_oid),
            is_ca=_is_ca(cert),
            subject_alternative_names=_alternative_names(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME),
            issuer_alternative_names=_alternative_names(cert, ExtensionOID.ISSUER_ALTERNATIVE_NAME),
            subject_text=cert.subject.rfc4514_string(),
            issuer_text=cert.issuer.rfc4514_string(),
            subject_parts=name_parts(cert.subject),
            issuer_parts=name_parts(cert.issuer),
        )
    except (ValueError, TypeError):
        # cryptography parses names and extensions when first read: a malformed one fails here (a name attribute
        # of BIT STRING type under another OID than x500UniqueIdentifier is a TypeError)
        fail(ResultReason.INVALID_FIELD, "the certificate's names or extensions cannot be read")


def name_parts(name: x509.Name) -> tuple[tuple[str, str], ...]:
    """``(short name, value)`` of the attributes of ``name`` whose type has a short name here (first spelling of
    ``NAME_ATTRIBUTES``: ``CN``, ``EMAIL``, ``SERIALNUMBER``...), others left out."""
    parts = []
    for attribute in name:
        short = _SHORT_NAMES.get(attribute.oid)
        if short is not None:
            value = attribute.value
            parts.append((short, value if isinstance(value, str) else value.hex()))
    return tuple(parts)


# ----------------------------------------------------------------------------------------------------------------
# names

#: Attribute short names accepted in subject names (RFC 4514 keys plus the OpenSSL spellings).
NAME_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "E": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "TITLE": NameOID.TITLE,
    "DNQUALIFIER": NameOID.DN_QUALIFIER,
    "GN": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME,
}
#: The first short name of each attribute type (``CN``, ``EMAIL``: ``E`` and ``EMAILADDRESS`` are spellings).
_SHORT_NAMES: dict[x509.ObjectIdentifier, str] = {oid: short for short, oid in reversed(NAME_ATTRIBUTES.items())}
_RFC4514_OVERRIDES = dict(NAME_ATTRIBUTES)
_RFC4514_OVERRIDES.update({"emailAddress": NameOID.EMAIL_ADDRESS, "serialNumber": NameOID.SERIAL_NUMBER})


def build_name(parts: Sequence[tuple[str, str]]) -> bytes:
    """DER of the Name made of ``(short name, value)`` pairs, most significant first (``[("C", "FR"), ("CN",
    "x")]``). Invalid Attribute Value for an unknown attribute name or an empty name."""
    attributes = []
    for key, value in parts:
        oid = NAME_ATTRIBUTES.get(key.upper())
        if oid is None:
            fail(ResultReason.INVALID_ATTRIBUTE_VALUE, f"unknown name attribute {key!r}")
        try:
            attributes.append(x509.NameAttribute(oid, value))
        except ValueError as exc:
            fail(ResultReason.INVALID_ATTRIBUTE_VALUE, f"invalid {key} value: {exc}")
    if not attributes:
        fail(ResultReason.INVALID_ATTRIBUTE_VALUE, "the subject name is empty")
    return x509.Name([x509.RelativeDistinguishedName([a]) for a in attributes]).public_bytes()


def parse_name(text: str) -> bytes:
    """DER of a distinguished name written as RFC 4514 (``CN=x,O=y,C=FR``) or OpenSSL (``/C=FR/O=y/CN=x``) text."""
    text = text.strip()
    if text.startswith("/"):
        parts = []
        for component in text[1:].split("/"):
            key, sep, value = component.partition("=")
            if not sep:
                fail(ResultReason.INVALID_ATTRIBUTE_VALUE, f"invalid name component {component!r}")
            parts.append((key.strip(), value.strip()))
        return build_name(parts)
    try:
        name = x509.Name.from_rfc4514_string(text, _RFC4514_OVERRIDES)
    except ValueError as exc:
        fail(ResultReason.INVALID_ATTRIBUTE_VALUE, f"invalid distinguished name {text!r}: {exc}")
    if not len(name):
        fail(ResultReason.INVALID_ATTRIBUTE_VALUE, "the subject name is empty")
    return name.public_bytes()


#: A placeholder key and signature for :func:`_name`'s wrapper request (never verified, never used).
_PLACEHOLDER_KEY = asn1_keys.PublicKeyInfo({"algorithm": {"algorithm": "ed25519"}, "public_key": bytes(32)})


def _name(der: bytes) -> x509.Name:
    """Parse a DER X.501 Name, its attribute string types kept (UTF8String, PrintableString...), so that it encodes
    back to the same bytes. `cryptography` reads Names only inside certificates and requests, so asn1crypto checks
    the Name and wraps it in an unsigned PKCS#10 request that `cryptography` then reads (loading a request does not
    check its signature)."""
    try:
        name = asn1_x509.Name.load(der, strict=True)
        _ = name.native  # parses every attribute: malformed DER raises here
        request = asn1_csr.CertificationRequest(
            {
                "certification_request_info": {
                    "version": "v1",
                    "subject": name,
                    "subject_pk_info": _PLACEHOLDER_KEY,
                    "attributes": [],
                },
                "signature_algorithm": {"algorithm": "ed25519"},
                "signature": bytes(64),
            }
        )
        return x509.load_der_x509_csr(request.dump()).subject
    except (ValueError, TypeError, UnicodeDecodeError):
        fail(ResultReason.INVALID_ATTRIBUTE_VALUE, "the distinguished name is not a DER X.501 Name")


def name_text(der: bytes) -> str:
    """The RFC 4514 text of a DER Name (for messages and attributes)."""
    return _name(der).rfc4514_string()


# ----------------------------------------------------------------------------------------------------------------
# certificate signing requests


@dataclass(frozen=True)
class CsrInfo:
    """A verified PKCS#10 request: its DER, subject Name DER and SubjectPublicKeyInfo DER."""

    der: bytes
    subject: bytes
    public_key: bytes


def _load_csr(data: bytes) -> x509.CertificateSigningRequest:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_CSR, "the certificate request is not a PKCS#10 request (DER or PEM)")
    if not valid:
        fail(ResultReason.INVALID_CSR, "the certificate request's signature does not verify")
    return csr


def parse_csr(data: bytes) -> CsrInfo:
    """Parse a PKCS#10 request (DER or PEM) and verify its self-signature; Invalid CSR if either fails."""
    csr = _load_csr(data)
    try:
        public_key = public_to_der(csr.public_key())
    except (ValueError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_CSR, "the certificate request's public key is not supported")
    return CsrInfo(
        der=csr.public_bytes(serialization.Encoding.DER), subject=csr.subject.public_bytes(), public_key=public_key
    )


def create_csr(private_key_der: bytes, subject: bytes, extensions: str | None = None) -> bytes:
    """A PKCS#10 request (DER) for ``subject`` signed by ``private_key_der`` (tests and tooling)."""
    key = load_private(private_key_der)
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(subject))
    for extension, critical in parse_extensions(extensions):
        builder = builder.add_extension(extension, critical)
    csr = builder.sign(key, _signature_hash(key))  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.DER)


# ----------------------------------------------------------------------------------------------------------------
# extensions

_KEY_USAGES = (
    ("digitalSignature", "digital_signature"),
    ("nonRepudiation", "content_commitment"),
    ("contentCommitment", "content_commitment"),
    ("keyEncipherment", "key_encipherment"),
    ("dataEncipherment", "data_encipherment"),
    ("keyAgreement", "key_agreement"),
    ("keyCertSign", "key_cert_sign"),
    ("cRLSign", "crl_sign"),
    ("encipherOnly", "encipher_only"),
    ("decipherOnly", "decipher_only"),
)
_KEY_USAGE_NAMES = {name.lower(): field for name, field in _KEY_USAGES}
_EXTENDED_KEY_USAGES: dict[str, x509.ObjectIdentifier] = {
    "serverauth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientauth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codesigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailprotection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocspsigning": ExtendedKeyUsageOID.OCSP_SIGNING,
    "anyextendedkeyusage": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}
#: Extensions the issuer computes itself: a request may name them, their value is ignored.
_COMPUTED = frozenset({"subjectkeyidentifier", "authoritykeyidentifier"})

Extension = tuple[x509.ExtensionType, bool]


def _bad_extension(message: str) -> NoReturn:
    fail(ResultReason.INVALID_ATTRIBUTE_VALUE, f"X.509 extensions: {message}")


def _extension_lines(text: str) -> list[tuple[str, str]]:
    stripped = text.strip()
    # JSON: an object, or (an error) any other JSON value; "[section]" lines are OpenSSL's
    if stripped.startswith(("{", '["', "[{", "[]")):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            _bad_extension("invalid JSON")
        if not isinstance(parsed, dict):
            _bad_extension("the JSON form must be an object")
        lines = []
        for key, value in parsed.items():
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ",".join(value)
            if not isinstance(value, str):
                _bad_extension(f"the value of {key} must be a string or a list of strings")
            lines.append((str(key), value))
        return lines
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in stripped.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            sections.setdefault(current, [])
            continue
        key, sep, value = line.partition("=")
        if not sep:
            _bad_extension(f"expected 'name = value', got {line!r}")
        sections.setdefault(current, []).append((key.strip(), value.strip()))
    named = [name for name in sections if name]
    if not named:
        return sections.get("", [])
    return sections["v3_ca"] if "v3_ca" in sections else sections[named[0]]


def _items(value: str) -> tuple[bool, list[str]]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    critical = any(i.lower() == "critical" for i in items)
    return critical, [i for i in items if i.lower() != "critical"]


def _general_name(item: str) -> x509.GeneralName:
    kind, sep, value = item.partition(":")
    if not sep or not value:
        _bad_extension(f"invalid name {item!r} (expected DNS:, IP:, email:, URI: or RID:)")
    kind = kind.strip().lower()
    value = value.strip()
    try:
        if kind == "dns":
            return x509.DNSName(value)
        if kind == "ip":
            return x509.IPAddress(ipaddress.ip_address(value))
        if kind == "email":
            return x509.RFC822Name(value)
        if kind == "uri":
            return x509.UniformResourceIdentifier(value)
        if kind == "rid":
            return x509.RegisteredID(x509.ObjectIdentifier(value))
    except ValueError as exc:
        _bad_extension(f"invalid name {item!r}: {exc}")
    _bad_extension(f"unsupported name type {kind!r}")


def _basic_constraints(items: list[str]) -> x509.BasicConstraints:
    ca = False
    path_length = None
    for item in items:
        key, _, value = item.partition(":")
        key = key.strip().lower()
        if key == "ca":
            if value.strip().upper() not in ("TRUE", "FALSE"):
                _bad_extension(f"invalid basicConstraints item {item!r}")
            ca = value.strip().upper() == "TRUE"
        elif key == "pathlen" and value.strip().isdigit():
            path_length = int(value.strip())
        else:
            _bad_extension(f"invalid basicConstraints item {item!r}")
    try:
        return x509.BasicConstraints(ca=ca, path_length=path_length if ca else None)
    except ValueError as exc:
        _bad_extension(str(exc))


def _key_usage(items: list[str]) -> x509.KeyUsage:
    flags = dict.fromkeys(_KEY_USAGE_NAMES.values(), False)
    for item in items:
        field = _KEY_USAGE_NAMES.get(item.lower())
        if field is None:
            _bad_extension(f"unknown keyUsage {item!r}")
        flags[field] = True
    try:
        return x509.KeyUsage(**flags)
    except ValueError as exc:
        _bad_extension(str(exc))


def _extended_key_usage(items: list[str]) -> x509.ExtendedKeyUsage:
    oids = []
    for item in items:
        oid = _EXTENDED_KEY_USAGES.get(item.lower())
        if oid is None:
            try:
                oid = x509.ObjectIdentifier(item)
            except ValueError:
                _bad_extension(f"unknown extendedKeyUsage {item!r}")
        oids.append(oid)
    return x509.ExtendedKeyUsage(oids)


def parse_extensions(text: str | None) -> list[Extension]:
    """The X.509 extensions an OpenSSL-style or JSON text asks for (see the module docstring); Invalid Attribute
    Value if the text cannot be read."""
    if not text or not text.strip():
        return []
    extensions: list[Extension] = []
    for key, value in _extension_lines(text):
        name = key.strip().lower()
        critical, items = _items(value)
        if name in _COMPUTED:
            continue
        if not items:
            _bad_extension(f"{key} has no value")
        extension: x509.ExtensionType
        if name == "basicconstraints":
            extension = _basic_constraints(items)
        elif name == "keyusage":
            extension = _key_usage(items)
        elif name == "extendedkeyusage":
            extension = _extended_key_usage(items)
        elif name == "subjectaltname":
            extension = x509.SubjectAlternativeName([_general_name(i) for i in items])
        elif name == "crldistributionpoints":
            points = [x509.DistributionPoint([_general_name(i)], None, None, None) for i in items]
            extension = x509.CRLDistributionPoints(points)
        else:
            _bad_extension(f"unsupported extension {key!r}")
        extensions.append((extension, critical))
    return extensions


# ----------------------------------------------------------------------------------------------------------------
# issuing


def _signature_hash(key: Any) -> hashes.HashAlgorithm | None:
    """The digest to sign certificates with: SHA-256 for RSA/DSA and P-256, the curve's size above it, none for
    EdDSA (and the post-quantum schemes, which hash internally)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) or pqc_algorithm(key) is not None:
        return None
    # cryptography 51 deprecates DSA and warns whenever its classes are touched: look at them only for a key that
    # belongs to no other family, which is when a DSA key really is in play.
    from cryptography.hazmat.primitives.asymmetric import dsa

    return hashes.SHA256() if isinstance(key, dsa.DSAPrivateKey) else None


def _datetime(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def _copied_extensions(source: bytes | None) -> list[x509.Extension[x509.ExtensionType]]:
    """Extensions of a CSR (its extensionRequest) or of a certificate being renewed, without the key identifiers.
    A CSR's basicConstraints is dropped: only the issuer decides whether a subject is a CA."""
    if source is None:
        return []
    if source.lstrip().startswith(b"-----BEGIN CERTIFICATE REQUEST") or _is_csr(source):
        found = list(_load_csr(source).extensions)
        dropped = {ExtensionOID.BASIC_CONSTRAINTS}
    else:
        found = list(_load_certificate(source).extensions)
        dropped = set()
    dropped |= {ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER}
    return [e for e in found if e.oid not in dropped]


def _is_csr(data: bytes) -> bool:
    try:
        x509.load_der_x509_csr(data)
    except ValueError:
        return False
    return True


def issue_certificate(
    *,
    subject: bytes,
    public_key: bytes,
    signer_private_key: bytes,
    issuer_certificate: bytes | None,
    not_before: int,
    not_after: int,
    extensions: str | None = None,
    copy_extensions_from: bytes | None = None,
    serial_number: int | None = None,
) -> bytes:
    """Build and sign an X.509 v3 certificate; returns its DER.

    ``issuer_certificate`` None makes it self-signed (``signer_private_key`` must then be the subject's key). The
    extensions are those of ``copy_extensions_from`` (a CSR or the certificate being renewed), replaced one by one
    by those ``extensions`` names, plus Subject and Authority Key Identifiers. Invalid Field if the signer does not
    match the issuer, the issuer is not a CA, or the dates are reversed.
    """
    signer = load_private(signer_private_key)
    subject_key = load_public(public_key)
    if not_after <= not_before:
        fail(ResultReason.INVALID_FIELD, "the certificate's validity ends before it starts")
    signer_public = public_to_der(signer.public_key())
    if issuer_certificate is None:
        if signer_public != public_to_der(subject_key):
            fail(ResultReason.INVALID_FIELD, "a self-signed certificate must be signed by the subject's private key")
        issuer_name = _name(subject)
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(subject_key)  # type: ignore[arg-type]
    else:
        issuer = _load_certificate(issuer_certificate)
        if public_to_der(issuer.public_key()) != signer_public:
            fail(ResultReason.INVALID_FIELD, "the issuer private key does not match the issuer certificate")
        if not _is_ca(issuer):
            fail(ResultReason.INVALID_FIELD, "the issuer certificate is not a CA (basicConstraints CA:TRUE)")
        issuer_name = issuer.subject
        authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    requested = {ext.oid: (ext, critical) for ext, critical in parse_extensions(extensions)}
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(subject_key)  # type: ignore[arg-type]
        .serial_number(serial_number or x509.random_serial_number())
        .not_valid_before(_datetime(not_before))
        .not_valid_after(_datetime(not_after))
    )
    for copied in _copied_extensions(copy_extensions_from):
        if copied.oid not in requested:
            builder = builder.add_extension(copied.value, copied.critical)
    for extension, critical in requested.values():
        builder = builder.add_extension(extension, critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), False)  # type: ignore[arg-type]
    builder = builder.add_extension(authority, False)
    try:
        cert = builder.sign(signer, _signature_hash(signer))  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        fail(ResultReason.FEATURE_NOT_SUPPORTED, f"cannot sign a certificate with this key: {exc}")
    return cert.public_bytes(serialization.Encoding.DER)


# ----------------------------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True)
class ChainValidation:
    """The outcome of :func:`validate_chain`: the KMIP Validity Indicator and why."""

    indicator: ValidityIndicator
    reason: str
    #: The chain in order, leaf first (as far as it could be built).
    chain: tuple[bytes, ...] = ()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def order_chain(certificates: Iterable[bytes]) -> list[bytes]:
    """The certificates ordered leaf first, each followed by its issuer when it is among them (names only)."""
    certs = [_load_certificate(c) for c in certificates]
    subjects = {c.subject.public_bytes() for c in certs}
    issuers = {c.issuer.public_bytes() for c in certs if c.issuer != c.subject}
    # the leaf: a certificate that issued none of the others (the first such one if several)
    leaves = [c for c in certs if c.subject.public_bytes() not in issuers] or certs[:1]
    ordered: list[x509.Certificate] = []
    current: x509.Certificate | None = leaves[0] if leaves else None
    while current is not None and current not in ordered:
        ordered.append(current)
        if current.issuer == current.subject or current.issuer.public_bytes() not in subjects:
            break
        current = next((c for c in certs if c.subject == current.issuer and c not in ordered), None)
    ordered.extend(c for c in certs if c not in ordered)
    return [c.public_bytes(serialization.Encoding.DER) for c in ordered]


def validate_chain(certificates: Sequence[bytes], at: int) -> ChainValidation:
    """Validate a certificate chain (any order) at the time ``at``: every certificate within its validity, each
    one signed by the next, every issuer a CA, ending at a self-signed root whose signature verifies.

    Invalid: a date, signature or CA constraint fails, or certificates are left over that belong to no chain.
    Unknown: the chain stops before a self-signed root (its issuer is not among the certificates).
    """
    if not certificates:
        fail(ResultReason.INVALID_FIELD, "Validate needs at least one certificate")
    ordered_der = order_chain(certificates)
    certs = [_load_certificate(c) for c in ordered_der]
    moment = _datetime(at)
    for cert in certs:
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            return ChainValidation(
                ValidityIndicator.INVALID,
                f"{cert.subject.rfc4514_string()} is not valid at that date",
                tuple(ordered_der),
            )
    chain = tuple(ordered_der)
    for index, cert in enumerate(certs):
        if cert.issuer == cert.subject:
            if not _issued_by(cert, cert):
                return ChainValidation(
                    ValidityIndicator.INVALID, f"{cert.subject.rfc4514_string()}: bad self-signature", chain
                )
            if index != len(certs) - 1:
                return ChainValidation(
                    ValidityIndicator.INVALID, "certificates follow the root that belong to no chain", chain
                )
            return ChainValidation(ValidityIndicator.VALID, "the chain ends at a trusted self-signed root", chain)
        if index + 1 == len(certs):
            return ChainValidation(
                ValidityIndicator.UNKNOWN, f"the issuer of {cert.subject.rfc4514_string()} is not known", chain
            )
        issuer = certs[index + 1]
        if issuer.subject != cert.issuer:
            return ChainValidation(
                ValidityIndicator.INVALID, f"{issuer.subject.rfc4514_string()} did not issue the previous one", chain
            )
        if not _is_ca(issuer):
            return ChainValidation(
                ValidityIndicator.INVALID, f"{issuer.subject.rfc4514_string()} is not a CA certificate", chain
            )
        if not _issued_by(cert, issuer):
            return ChainValidation(
                ValidityIndicator.INVALID, f"the signature of {cert.subject.rfc4514_string()} does not verify", chain
            )
    return ChainValidation(ValidityIndicator.UNKNOWN, "empty chain", chain)  # pragma: no cover - loop returns


# ----------------------------------------------------------------------------------------------------------------
# PKCS#7 and PKCS#12 containers


def build_pkcs7(certificates: Sequence[bytes]) -> bytes:
    """A degenerate PKCS#7 SignedData (DER) carrying ``certificates`` (RFC 2315 §9.1, ``openssl crl2pkcs7``)."""
    certs = [_load_certificate(c) for c in certificates]
    return pkcs7.serialize_certificates(certs, serialization.Encoding.DER)


def parse_pkcs7(data: bytes) -> list[bytes]:
    """The certificates of a PKCS#7 bundle (DER or PEM), in the order stored; Invalid Field if it is not one."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            certs = pkcs7.load_pem_pkcs7_certificates(data)
        else:
            certs = pkcs7.load_der_pkcs7_certificates(data)
    except (ValueError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, "the value is not a PKCS#7 certificate bundle")
    if not certs:
        fail(ResultReason.INVALID_FIELD, "the PKCS#7 bundle holds no certificate")
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


@dataclass(frozen=True)
class Pkcs12Content:
    """What a PKCS#12 file holds: a PKCS#8 private key, its certificate, the other certificates, a friendly name."""

    private_key: bytes
    certificate: bytes | None
    chain: tuple[bytes, ...]
    friendly_name: str | None


def build_pkcs12(
    private_key: bytes,
    certificate: bytes | None,
    chain: Sequence[bytes] = (),
    *,
    password: bytes | None,
    friendly_name: str | None = None,
) -> bytes:
    """A PKCS#12 file (DER) of a private key, its certificate and chain, encrypted under ``password`` (AES-256
    and PBKDF2, as OpenSSL 3 writes them; no encryption when the password is None or empty)."""
    key = load_private(private_key)
    cert = _load_certificate(certificate) if certificate is not None else None
    if cert is not None and public_to_der(cert.public_key()) != public_to_der(key.public_key()):
        fail(ResultReason.INVALID_FIELD, "the certificate does not belong to the private key")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    try:
        return pkcs12.serialize_key_and_certificates(
            friendly_name.encode() if friendly_name else None,
            key,  # type: ignore[arg-type]
            cert,
            [_load_certificate(c) for c in chain] or None,
            encryption,
        )
    except (TypeError, ValueError) as exc:
        fail(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, f"this key cannot be stored in PKCS#12: {exc}")


def parse_pkcs12(data: bytes, password: bytes | None) -> Pkcs12Content:
    """Open a PKCS#12 file; Bad Password if the password does not decrypt it, Invalid Field if it is not PKCS#12
    or holds no private key."""
    try:
        loaded = pkcs12.load_pkcs12(data, password or None)
    except ValueError as exc:
        text = str(exc).lower()
        if "password" in text or "mac" in text or "decrypt" in text:
            fail(ResultReason.BAD_PASSWORD, "the PKCS#12 password is wrong")
        fail(ResultReason.INVALID_FIELD, "the value is not a PKCS#12 file")
    except (TypeError, UnsupportedAlgorithm):
        fail(ResultReason.INVALID_FIELD, "the PKCS#12 file cannot be read")
    if loaded.key is None:
        fail(ResultReason.INVALID_FIELD, "the PKCS#12 file holds no private key")
    name = None
    certificate = None
    if loaded.cert is not None:
        certificate = loaded.cert.certificate.public_bytes(serialization.Encoding.DER)
        name = loaded.cert.friendly_name.decode("utf-8", "replace") if loaded.cert.friendly_name else None
    return Pkcs12Content(
        private_key=private_to_der(loaded.key),
        certificate=certificate,
        chain=tuple(c.certificate.public_bytes(serialization.Encoding.DER) for c in loaded.additional_certs),
        friendly_name=name,
    )


__all__ = [
    "NAME_ATTRIBUTES",
    "CertificateInfo",
    "ChainValidation",
    "CsrInfo",
    "Pkcs12Content",
    "build_name",
    "build_pkcs7",
    "build_pkcs12",
    "certificate_info",
    "certificate_to_pem",
    "create_csr",
    "issue_certificate",
    "load_certificate",
    "name_text",
    "order_chain",
    "parse_csr",
    "parse_extensions",
    "parse_name",
    "parse_pkcs7",
    "parse_pkcs12",
    "validate_chain",
]
