"""The ``keystead`` command line (command names are a contract: see ../shared/DESIGN.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from .client import commands as client_commands
from .kmip import binary_codec, json_codec, pretty, xml_codec
from .kmip.errors import KmipError
from .kmip.ttlv import Item
from .server import config as server_config

FORMATS_IN = ("binary", "hex", "json", "xml")
FORMATS_OUT = ("binary", "hex", "json", "xml", "text")


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _decode(fmt: str, data: bytes) -> Item:
    if fmt == "binary":
        return binary_codec.decode(data)
    if fmt == "hex":
        text = "".join(data.decode("ascii", errors="replace").split())
        try:
            raw = bytes.fromhex(text.removeprefix("0x"))
        except ValueError as exc:
            raise SystemExit(f"keystead ttlv: input is not hexadecimal: {exc}") from None
        return binary_codec.decode(raw)
    if fmt == "json":
        return json_codec.decode(data)
    return xml_codec.decode(data)


def _encode(fmt: str, item: Item) -> bytes:
    if fmt == "binary":
        return binary_codec.encode(item)
    if fmt == "hex":
        return binary_codec.encode(item).hex().upper().encode() + b"\n"
    if fmt == "json":
        return json_codec.encode(item).encode() + b"\n"
    if fmt == "xml":
        return xml_codec.encode(item).encode() + b"\n"
    return pretty.format_tree(item).encode() + b"\n"


def cmd_ttlv(args: argparse.Namespace) -> int:
    """Convert one KMIP message between encodings."""
    data = _read_input(args.file)
    try:
        item = _decode(args.from_format, data)
        out = _encode(args.to_format, item)
    except KmipError as exc:
        print(f"keystead ttlv: {exc.message}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the KMS until SIGINT/SIGTERM."""
    from .server import serve

    try:
        config = server_config.config_from_env(args)
    except server_config.ConfigError as exc:
        print(f"keystead serve: {exc}", file=sys.stderr)
        return 2
    return serve.run(config)


def cmd_certs_init(args: argparse.Namespace) -> int:
    """Write a development PKI."""
    from .server import certs

    try:
        paths = certs.init(args.dir, force=args.force)
    except (certs.CertsExistError, OSError) as exc:
        print(f"keystead certs init: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


def _not_yet(feature: str) -> Callable[[argparse.Namespace], int]:
    def run(_args: argparse.Namespace) -> int:
        print(f"keystead: {feature} is not available in this build yet.", file=sys.stderr)
        return 2

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keystead", description="Keystead key management: KMIP server and tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ttlv = sub.add_parser(
        "ttlv",
        help="convert a KMIP message between binary, hex, JSON, XML and readable text",
        description="Convert one KMIP message (binary TTLV, hex, Cosmian-style JSON TTLV or OASIS XML) "
        "to another encoding, or pretty-print it with --to text.",
    )
    ttlv.add_argument("--from", dest="from_format", choices=FORMATS_IN, required=True, help="input encoding")
    ttlv.add_argument("--to", dest="to_format", choices=FORMATS_OUT, required=True, help="output encoding")
    ttlv.add_argument("file", nargs="?", default="-", help="input file (default: standard input)")
    ttlv.set_defaults(func=cmd_ttlv)

    serve = sub.add_parser(
        "serve",
        help="run the KMS (HTTP on 9998, KMIP over TLS on 5696)",
        description="Run the KMS: the HTTP API (Cosmian KMS 5.x compatible) and, with the TLS files, KMIP over "
        "mutual TLS. Every option can also be set in a YAML file (--config) under its name and in a KEYSTEAD_* "
        "environment variable; flags win over the environment, which wins over the file.",
    )
    server_config.add_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    certs = sub.add_parser("certs", help="certificate helpers")
    certs_sub = certs.add_subparsers(dest="certs_command", required=True, metavar="COMMAND")
    init = certs_sub.add_parser(
        "init",
        help="write a CA, server and client certificate set into DIR",
        description="Write ca.pem/ca.key, server.pem/server.key (SAN 127.0.0.1 and localhost), client.pem/client.key "
        "(CN admin) and user.pem/user.key (CN user) into DIR: PEM, EC P-256 keys, keys mode 0600.",
    )
    init.add_argument("dir", help="directory to write into (created if needed)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=cmd_certs_init)

    _add_pkcs11_commands(sub)
    _add_hsm_commands(sub)
    _add_store_commands(sub)
    client_commands.register(parser, sub)
    return parser


# -- keystead pkcs11 ------------------------------------------------------------------------------------------------
def _add_pkcs11_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pkcs11 = sub.add_parser("pkcs11", help="the PKCS#11 provider")
    pkcs11_sub = pkcs11.add_subparsers(dest="pkcs11_command", required=True, metavar="COMMAND")
    pkcs11_sub.add_parser(
        "path",
        help="print the absolute path of the PKCS#11 library",
        description="Print the absolute path of libkeystead_pkcs11.so (built by `python -m c_shim.build`).",
    ).set_defaults(func=cmd_pkcs11_path)
    init = pkcs11_sub.add_parser(
        "init",
        help="create a token backed by an embedded store in DIR",
        description="Create a PKCS#11 token whose keys live in an embedded SQLite store in DIR, sealed at rest "
        "under the key file DIR/keystead.kek (mode 0600; keep it apart from backups of DIR/keystead.db), write "
        "DIR/pkcs11.yaml (PINs hashed) and print the export line that points the library at it.",
    )
    init.add_argument("--dir", required=True, help="directory for pkcs11.yaml and the database (created if needed)")
    init.add_argument("--pin", required=True, help="user PIN (4 to 255 bytes)")
    init.add_argument("--so-pin", required=True, help="security officer PIN (4 to 255 bytes)")
    init.add_argument("--label", default="Keystead", help="token label, at most 32 bytes (default: Keystead)")
    init.add_argument("--user", default="admin", help="the KMS user the token acts as (default: admin)")
    init.add_argument("--force", action="store_true", help="replace an existing DIR/pkcs11.yaml")
    init.add_argument(
        "--url", help="keep the keys on this remote Keystead or Cosmian KMS (https://host:9998) instead of DIR"
    )
    init.add_argument("--tls-cert", help="with --url: client certificate (PEM) for mutual TLS")
    init.add_argument("--tls-key", help="with --url: its private key (PEM)")
    init.add_argument("--tls-ca", help="with --url: CA certificate(s) that sign the KMS's server certificate")
    init.set_defaults(func=cmd_pkcs11_init)
    certify = pkcs11_sub.add_parser(
        "certify",
        help="make an RSA key pair and a self-signed X.509 certificate in the token's KMS; print its PKCS#11 URI",
        description="KMIP Certify in the KMS behind the token (KEYSTEAD_PKCS11_CONFIG or the usual search order): "
        "a new RSA key pair (sign, verify, encrypt, decrypt) and a self-signed certificate named LABEL. The token "
        "shows the certificate and its keys with one CKA_ID; the printed URI (pkcs11:token=...;id=...) selects them, "
        "e.g. for systemd-cryptenroll --pkcs11-token-uri.",
    )
    certify.add_argument("--label", required=True, help="the certificate's name (its CKA_LABEL)")
    certify.add_argument("--pin", required=True, help="the token's user PIN")
    certify.add_argument("--subject", help="subject DN (default: CN=LABEL)")
    certify.add_argument("--bits", type=int, choices=(2048, 3072, 4096), default=2048, help="RSA key size")
    certify.add_argument("--days", type=int, default=3650, help="validity in days (default: 3650)")
    certify.add_argument("--tag", action="append", default=[], help="a KMS tag for the three objects (repeatable)")
    certify.set_defaults(func=cmd_pkcs11_certify)


def cmd_pkcs11_path(_args: argparse.Namespace) -> int:
    """Print the library's absolute path; exit 1 if it has not been built."""
    from c_shim import LIBRARY_PATH

    if not LIBRARY_PATH.is_file():
        print(
            f"keystead pkcs11: the library is not built ({LIBRARY_PATH} is missing); run `python -m c_shim.build` "
            "or `make setup`",
            file=sys.stderr,
        )
        return 1
    print(LIBRARY_PATH)
    return 0


def cmd_pkcs11_init(args: argparse.Namespace) -> int:
    """Write DIR/pkcs11.yaml for a token over an embedded store in DIR, sealed under DIR/keystead.kek (the
    softhsm2-util --init-token analogue)."""
    from provider import config as pkcs11_config
    from provider.backends.embedded import EmbeddedBackend

    directory = Path(args.dir).resolve()
    path = directory / "pkcs11.yaml"
    problems = [
        f"{name} must be 4 to 255 bytes"
        for name, pin in (("--pin", args.pin), ("--so-pin", args.so_pin))
        if not 4 <= len(pin.encode()) <= 255
    ]
    if len(args.label.encode()) > 32:
        problems.append("--label must be at most 32 bytes")
    if path.exists() and not args.force:
        problems.append(f"{path} exists (use --force to replace it)")
    tls_files = {"--tls-cert": args.tls_cert, "--tls-key": args.tls_key, "--tls-ca": args.tls_ca}
    if args.url is None and any(tls_files.values()):
        problems.append("--tls-cert, --tls-key and --tls-ca go with --url")
    problems += [
        f"{flag} {name}: no such file" for flag, name in tls_files.items() if name and not Path(name).is_file()
    ]
    if problems:
        for problem in problems:
            print(f"keystead pkcs11 init: {problem}", file=sys.stderr)
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    if args.url is not None:
        absolute = {flag: str(Path(name).resolve()) if name else None for flag, name in tls_files.items()}
        backend = pkcs11_config.BackendConfig(
            type="remote",
            url=args.url,
            tls_cert=absolute["--tls-cert"],
            tls_key=absolute["--tls-key"],
            tls_ca=absolute["--tls-ca"],
        )
    else:
        backend = pkcs11_config.BackendConfig(
            type="embedded",
            database=f"sqlite:///{directory / 'keystead.db'}",
            kek_file=str(directory / "keystead.kek"),
        )
        # Create and migrate the store and its key file (mode 0600) now, so that a bad directory fails here, not in
        # an application.
        EmbeddedBackend.open(backend).close()
    config = pkcs11_config.ProviderConfig(
        path=path,
        label=args.label,
        user=args.user,
        user_pin_hash=pkcs11_config.hash_pin(args.pin.encode()),
        so_pin_hash=pkcs11_config.hash_pin(args.so_pin.encode()),
        backend=backend,
        log_file=str(directory / "pkcs11.log"),
    )
    pkcs11_config.save(config)
    print(f"export KEYSTEAD_PKCS11_CONFIG={path}")
    return 0


def cmd_pkcs11_certify(args: argparse.Namespace) -> int:
    """KMIP Certify with a generated RSA key pair, as the token's user; print the certificate's PKCS#11 URI."""
    import json
    import os
    from urllib.parse import quote

    from kms_backend.kmip import _schema_data as S
    from kms_backend.kmip._registry_data import (
        CryptographicAlgorithm,
        CryptographicUsageMask,
        ItemType,
        LinkType,
        NameType,
        Operation,
        Tag,
    )
    from kms_backend.kmip.schema import Attributes
    from provider import config as pkcs11_config
    from provider.backends import Identity, open_backend

    try:
        config = pkcs11_config.load_config(os.environ)
    except pkcs11_config.ConfigError as exc:
        print(f"keystead pkcs11 certify: {exc}", file=sys.stderr)
        return 1
    pin = args.pin.encode()
    if config.pin_is_token:
        identity = Identity(config.user, bearer_token=args.pin)
    elif pkcs11_config.verify_pin(pin, config.user_pin_hash):
        identity = Identity(config.user)
    else:
        print(f"keystead pkcs11 certify: wrong PIN for the token in {config.path}", file=sys.stderr)
        return 1

    def vendor(name: str, value: str | int) -> S.VendorAttribute:
        item_type = ItemType.INTEGER if isinstance(value, int) else ItemType.TEXT_STRING
        return S.VendorAttribute(
            vendor_identification="cosmian",
            attribute_name=name,
            attribute_value=Item(Tag.ATTRIBUTE_VALUE, item_type, value),
        )

    usage = CryptographicUsageMask
    attrs = Attributes()
    attrs.add(Tag.CRYPTOGRAPHIC_ALGORITHM, CryptographicAlgorithm.RSA)
    attrs.add(Tag.CRYPTOGRAPHIC_LENGTH, args.bits)
    # Sign: the new key signs its own certificate; Decrypt: what LUKS (systemd) and TLS clients ask of it.
    attrs.add(Tag.CRYPTOGRAPHIC_USAGE_MASK, int(usage.SIGN | usage.VERIFY | usage.ENCRYPT | usage.DECRYPT))
    attrs.add(Tag.ATTRIBUTE, vendor("subject_name", args.subject or f"CN={args.label}"))
    attrs.add(Tag.ATTRIBUTE, vendor("validity_days", args.days))
    attrs.add(Tag.NAME, S.Name(name_value=args.label, name_type=NameType.UNINTERPRETED_TEXT_STRING))
    if args.tag:
        attrs.add(Tag.ATTRIBUTE, vendor("tag", json.dumps(args.tag)))
    backend = open_backend(config)
    try:
        certified = backend.run(Operation.CERTIFY, S.CertifyRequest(attributes=attrs), identity)
        assert isinstance(certified, S.CertifyResponse)
        certificate = str(certified.unique_identifier)
        read = backend.run(Operation.GET_ATTRIBUTES, S.GetAttributesRequest(unique_identifier=certificate), identity)
        assert isinstance(read, S.GetAttributesResponse)
        found = read.attributes
    except KmipError as exc:
        print(f"keystead pkcs11 certify: {exc.reason.name}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        backend.close()
    private = next(
        (
            str(link.linked_object_identifier)
            for link in found.get_all(Tag.LINK)
            if isinstance(link, S.Link) and link.link_type == LinkType.PRIVATE_KEY_LINK
        ),
        certificate,
    )
    # The token shows the certificate and both keys with CKA_ID = the private key's uid (provider.attributes).
    pair_id = "".join(f"%{byte:02X}" for byte in private.encode())
    print(f"pkcs11:token={quote(config.label, safe='')};id={pair_id}")
    return 0


# -- keystead hsm ---------------------------------------------------------------------------------------------------
def _add_hsm_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hsm = sub.add_parser("hsm", help="the HSM that protects stored keys")
    hsm_sub = hsm.add_subparsers(dest="hsm_command", required=True, metavar="COMMAND")
    rotate = hsm_sub.add_parser(
        "rotate-kek",
        help="re-seal every stored object under a new key-encryption key, then retire the old one",
        description="Create a new key-encryption key on the HSM, re-seal every stored object under it and retire "
        "the old key. Safe to interrupt and to run again: it resumes where it stopped. Takes the same "
        "configuration as `keystead serve` (--config, KEYSTEAD_* variables, flags) for the database and the HSM. "
        "Servers that keep running switch to the new key on their next write; restart them afterwards.",
    )
    server_config.add_arguments(rotate)
    rotate.add_argument(
        "--retire",
        choices=("relabel", "destroy"),
        default="relabel",
        help="what happens to the old key: relabelled <label>.retired.<id> (default; it can still unseal old "
        "backups) or destroyed",
    )
    _add_rotation_arguments(rotate, "pause after each re-sealed object (limits the load on a shared HSM)")
    rotate.set_defaults(func=cmd_hsm_rotate_kek)


#: The options of `keystead hsm rotate-kek` and `keystead store rekey` that are not server configuration.
_ROTATION_OPTIONS = ("retire", "throttle", "progress_every")


def _add_rotation_arguments(parser: argparse.ArgumentParser, throttle_help: str) -> None:
    parser.add_argument("--throttle", type=float, default=0.0, metavar="SECONDS", help=throttle_help)
    parser.add_argument("--progress-every", type=int, default=1000, metavar="N", help="print progress every N objects")


def _rotation_config(args: argparse.Namespace, command: str) -> server_config.ServerConfig | None:
    """The `keystead serve` configuration a rotation command was given, or None after printing why it is wrong."""
    options = {k: v for k, v in vars(args).items() if k not in _ROTATION_OPTIONS}
    try:
        return server_config.config_from_env(argparse.Namespace(**options))
    except server_config.ConfigError as exc:
        print(f"keystead {command}: {exc}", file=sys.stderr)
        return None


def _progress_printer(every: int) -> Callable[[str, int], None]:
    """A rotation's ``progress`` callback: a line every ``every`` re-sealed objects."""
    every = max(1, every)

    def progress(uid: str, count: int) -> None:
        if count % every == 0:
            print(f"re-sealed {count} objects (last {uid})", flush=True)

    return progress


def cmd_hsm_rotate_kek(args: argparse.Namespace) -> int:
    """Rotate the KEK (kms_backend.hsm.rotation); exit 1 with the reason if it cannot."""
    config = _rotation_config(args, "hsm rotate-kek")
    if config is None:
        return 2
    if not config.hsm_requested:
        print("keystead hsm rotate-kek: configure the HSM (--hsm-module, --hsm-token-label, ...)", file=sys.stderr)
        return 2
    return _rotate_hsm_kek(args, config, "hsm rotate-kek")


def _rotate_hsm_kek(args: argparse.Namespace, config: server_config.ServerConfig, command: str) -> int:
    from .hsm import KekSealer, open_sessions, rotate_kek
    from .server import serve

    progress = _progress_printer(args.progress_every)
    try:
        sessions = open_sessions(serve.hsm_settings(config))
    except KmipError as exc:
        print(f"keystead {command}: {exc.message}", file=sys.stderr)
        return 1
    try:
        store = serve.open_configured_store(config)
        try:
            sealer = KekSealer(sessions, config.hsm_kek_label or "")
            report = rotate_kek(store, sealer, retire=args.retire, throttle=args.throttle, progress=progress)
        finally:
            store.close()
    except KmipError as exc:
        print(f"keystead {command}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        sessions.close()
    print(
        f"KEK rotated: {report.resealed} objects re-sealed, {report.already_done} already under the new key, "
        f"old key {report.retired} ({'; '.join(report.phases)})",
        flush=True,
    )
    return 0


# -- keystead store -------------------------------------------------------------------------------------------------
def _add_store_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = sub.add_parser("store", help="the database of `keystead serve`")
    store_sub = store.add_subparsers(dest="store_command", required=True, metavar="COMMAND")
    rekey = store_sub.add_parser(
        "rekey",
        help="rotate the key-encryption key that seals stored keys, re-sealing every object",
        description="Rotate the key-encryption key sealing the stored key material. Several servers on one "
        "database (a key ring): add the new key as the last line of every server's key file (or as KEYSTEAD_KEK, "
        "the old one in KEYSTEAD_KEK_PREVIOUS), run this once on any node (every server then seals under the new "
        "key, and every object is re-sealed under it), then remove the old key from the rings. A key file holding "
        "one key: create <file>.next, re-seal every object under it, switch it in (the old key is kept as "
        "<file>.retired.<id> for old backups, or deleted with --retire destroy). With an HSM: the same as "
        "`keystead hsm rotate-kek`. Safe to interrupt and to run again: it resumes where it stopped. Objects "
        "stored unsealed are sealed on the way. Takes the configuration of `keystead serve`.",
    )
    server_config.add_arguments(rekey)
    rekey.add_argument(
        "--retire",
        choices=("keep", "destroy"),
        default="keep",
        help="the old key file: kept as <file>.retired.<id> (default; it still reads backups taken before) or deleted",
    )
    rekey.add_argument(
        "--force",
        action="store_true",
        help="switch to the ring's new key even though a running server's ring lacks it (its writes then fail)",
    )
    _add_rotation_arguments(rekey, "pause after each re-sealed object")
    rekey.set_defaults(func=cmd_store_rekey)


def cmd_store_rekey(args: argparse.Namespace) -> int:
    """Rotate the software key-encryption key (kms_backend.sealing.rekey), or the HSM's; exit 1 with the reason."""
    from .sealing import rekey
    from .server import serve

    config = _rotation_config(args, "store rekey")
    if config is None:
        return 2
    if config.hsm_requested:
        args.retire = "relabel" if args.retire == "keep" else args.retire
        return _rotate_hsm_kek(args, config, "store rekey")
    if not config.software_sealing:
        print(
            f"keystead store rekey: nothing to rotate: the {config.store_name} store is not sealed by "
            "keystead's key-encryption key (--seal-keys off, or a store that seals itself)",
            file=sys.stderr,
        )
        return 2
    progress = _progress_printer(args.progress_every)
    try:
        keyring = serve.configured_keyring(config, create=False)
        store = serve.open_configured_store(config)
    except (OSError, ValueError) as exc:
        print(f"keystead store rekey: {exc}", file=sys.stderr)
        return 1
    try:
        report = rekey(store, keyring, retire=args.retire, throttle=args.throttle, progress=progress, force=args.force)
    except (KmipError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, KmipError) else str(exc)
        print(f"keystead store rekey: {message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    old = f", old key {report.retired}" if report.retired else ""
    print(
        f"key-encryption key rotated: {report.resealed} objects re-sealed, {report.already_done} already under the "
        f"new key{old} ({'; '.join(report.phases)})",
        flush=True,
    )
    if report.advice:
        print(report.advice, flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
