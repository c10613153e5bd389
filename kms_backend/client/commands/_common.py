"""What every client verb shares: the connection options, the ``--json``/``--print-kmip`` switches, object naming
by id or tags, output, and the exit codes (one table, ``exit_code``)."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from pathlib import Path
from typing import Any, NoReturn

from ...kmip import json_codec
from ...kmip._registry_data import ResultReason
from ...kmip.errors import KmipError
from ...kmip.schema import Attributes, Struct
from ...kmip.ttlv import Item
from ..client import KmsClient, object_reference
from ..config import OPTIONS, ClientConfig, ConfigError, default_config_path, load_config
from ..errors import KmsConnectionError, KmsHttpError, KmsOperationError, KmsProtocolError


class Exit(IntEnum):
    """The ``keystead`` client verbs' exit codes: each says what failed."""

    OK = 0
    #: The KMS refused the operation (any Result Reason not listed below).
    OPERATION_FAILED = 1
    #: Bad command line or configuration (argparse uses 2 as well).
    USAGE = 2
    #: No KMS could be reached, or the connection broke off.
    UNREACHABLE = 3
    #: Authentication failed or permission denied.
    DENIED = 4
    #: The object named does not exist (or is not visible to the caller).
    NOT_FOUND = 5
    #: Decryption or verification failed: altered data, wrong key, invalid signature or MAC.
    CRYPTO_FAILED = 6
    #: A local file could not be read or written.
    LOCAL_IO = 7
    #: The server's answer could not be understood.
    PROTOCOL = 8


EXIT_CODES_HELP = "exit codes: " + ", ".join(f"{code.value} {code.name.lower().replace('_', ' ')}" for code in Exit)

_REASON_EXITS: dict[ResultReason, Exit] = {
    ResultReason.ITEM_NOT_FOUND: Exit.NOT_FOUND,
    ResultReason.OBJECT_NOT_FOUND: Exit.NOT_FOUND,
    ResultReason.PERMISSION_DENIED: Exit.DENIED,
    ResultReason.AUTHENTICATION_NOT_SUCCESSFUL: Exit.DENIED,
    ResultReason.CRYPTOGRAPHIC_FAILURE: Exit.CRYPTO_FAILED,
}


class CommandError(Exception):
    """A failure the command itself detects, with the exit code to use."""

    def __init__(self, message: str, code: Exit = Exit.USAGE) -> None:
        super().__init__(message)
        self.code = code


def exit_code(exc: BaseException) -> Exit:
    """The exit code for an exception a verb raised."""
    if isinstance(exc, CommandError):
        return exc.code
    if isinstance(exc, KmsConnectionError):
        return Exit.UNREACHABLE
    if isinstance(exc, KmsProtocolError):
        return Exit.PROTOCOL
    if isinstance(exc, KmsHttpError | KmsOperationError | KmipError):
        return _REASON_EXITS.get(exc.reason, Exit.OPERATION_FAILED)
    if isinstance(exc, ConfigError | ValueError):
        return Exit.USAGE
    if isinstance(exc, OSError):
        return Exit.LOCAL_IO
    raise exc


# -- the shared options ---------------------------------------------------------------------------------------------
def common_parser() -> argparse.ArgumentParser:
    """The options every client verb takes (a parent parser): connection, output and debugging."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection (also KEYSTEAD_CLI_* variables and ~/.config/keystead/client.yaml)")
    group.add_argument(
        "--config", metavar="FILE", help="client configuration file (default ~/.config/keystead/client.yaml)"
    )
    for option in OPTIONS:
        if option.switch:
            group.add_argument(option.flag, dest=option.name, action="store_const", const=True, help=option.help)
        else:
            group.add_argument(option.flag, dest=option.name, metavar=option.yaml_key.upper(), help=option.help)
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print machine-readable JSON on standard output")
    output.add_argument(
        "--print-kmip", action="store_true", help="print the JSON TTLV request and response of each KMIP exchange"
    )
    output.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


@dataclass
class Session:
    """One verb's run: its arguments, configuration, client and output."""

    args: argparse.Namespace
    env: Mapping[str, str]
    _client: KmsClient | None = None
    results: list[Any] = field(default_factory=list)

    @property
    def config(self) -> ClientConfig:
        path = Path(self.args.config).expanduser() if getattr(self.args, "config", None) else None
        flags = {option.name: getattr(self.args, option.name, None) for option in OPTIONS}
        return load_config(self.env, flags, path=path)

    @property
    def config_path(self) -> Path:
        explicit = getattr(self.args, "config", None)
        return Path(explicit).expanduser() if explicit else default_config_path(self.env)

    @property
    def client(self) -> KmsClient:
        if self._client is None:
            hook = _print_exchange if getattr(self.args, "print_kmip", False) else None
            self._client = KmsClient(self.config, on_exchange=hook)
        return self._client

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def emit(self, text: str | None, data: Any) -> None:
        """Print ``text`` (human output) or ``data`` as JSON with ``--json``."""
        if self.json:
            print(json.dumps(data, indent=2, sort_keys=True, default=_json_default))
        elif text is not None:
            print(text)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, IntEnum):
        return value.name
    return str(value)


def _print_exchange(request: Item, response: Item) -> None:
    print(">>> KMIP request\n" + json_codec.encode(request), file=sys.stderr)
    print("<<< KMIP response\n" + json_codec.encode(response), file=sys.stderr)


Handler = Callable[[Session], None]


def runner(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """Wrap a verb: build its session, run it, turn failures into a message on stderr and an exit code."""

    def run(args: argparse.Namespace) -> int:
        session = Session(args, os.environ)
        try:
            handler(session)
        except Exception as exc:
            code = exit_code(exc)
            message = str(exc) if not isinstance(exc, KmipError) or isinstance(exc, KmsOperationError) else exc.message
            if session.json:
                print(json.dumps({"error": message, "exit_code": int(code)}), file=sys.stderr)
            else:
                print(f"keystead: {message}", file=sys.stderr)
            return int(code)
        finally:
            session.close()
        return 0

    return run


SubParsers = argparse._SubParsersAction  # the type argparse returns from add_subparsers


def add_verb(
    sub: SubParsers[argparse.ArgumentParser], name: str, handler: Handler, help_text: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """A leaf verb with the common options."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=kwargs.pop("description", help_text), parents=[COMMON], epilog=EXIT_CODES_HELP
    )
    parser.set_defaults(func=runner(handler))
    return parser


def add_group(
    sub: SubParsers[argparse.ArgumentParser], name: str, help_text: str
) -> SubParsers[argparse.ArgumentParser]:
    """A command group (``sym``, ``sym keys``...)."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name.replace('-', '_')}_command", required=True, metavar="COMMAND")


# -- naming objects -------------------------------------------------------------------------------------------------
def add_object_options(parser: argparse.ArgumentParser, what: str = "key", *, required: bool = True) -> None:
    """``-k/--key-id ID`` or ``-t/--tag TAG`` (repeatable)."""
    parser.add_argument("-k", "--key-id", dest="key_id", help=f"the {what}'s unique identifier")
    parser.add_argument(
        "-t", "--tag", dest="tag", action="append", default=[], help=f"a tag of the {what} (repeatable: all must match)"
    )
    parser.set_defaults(object_required=required)


def object_id(args: argparse.Namespace, what: str = "key") -> str:
    """The object named by ``--key-id`` or ``--tag`` (a JSON tag list the server resolves)."""
    key_id, tags = getattr(args, "key_id", None), list(getattr(args, "tag", []) or [])
    if key_id and tags:
        raise CommandError(f"name the {what} by --key-id or by --tag, not both")
    if not key_id and not tags:
        raise CommandError(f"name the {what} with --key-id ID or --tag TAG")
    return object_reference(key_id, tags)


# -- files and bytes ------------------------------------------------------------------------------------------------
def read_bytes(path: str) -> bytes:
    """A file's bytes (``-``: standard input)."""
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def write_bytes(path: str, data: bytes) -> None:
    """Write a file (``-``: standard output)."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    Path(path).write_bytes(data)


def hex_or_base64(text: str) -> bytes:
    """Bytes given on the command line: hexadecimal, or base64 with a ``b64:`` prefix."""
    try:
        if text.startswith("b64:"):
            return base64.b64decode(text[4:], validate=True)
        return bytes.fromhex(text)
    except ValueError:
        raise CommandError(f"{text[:20]!r} is neither hexadecimal nor b64:<base64>") from None


def enum_choice(enum: type[IntEnum] | type[IntFlag], text: str, aliases: Mapping[str, str] | None = None) -> Any:
    """An enumeration member from a command-line spelling (``nist-p256``, ``SHA256``, ``sha-256``...)."""
    wanted = (aliases or {}).get(text.lower(), text)
    squashed = "".join(ch for ch in wanted.upper() if ch.isalnum())
    for member in enum:
        if "".join(ch for ch in (member.name or "") if ch.isalnum()) == squashed:
            return member
    raise CommandError(f"unknown {enum.__name__} {text!r}")


@contextmanager
def progress_bar(session: Session, total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error (rich) while a file streams; nothing when quiet, in JSON mode or when
    standard error is not a terminal."""
    if session.json or getattr(session.args, "quiet", False) or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, advance=n)


def fail(message: str, code: Exit = Exit.USAGE) -> NoReturn:
    """Stop the verb with ``message`` and ``code``."""
    raise CommandError(message, code)


def names(values: Sequence[IntEnum]) -> list[str]:
    """Enumeration members as their names (for output)."""
    return [v.name for v in values]


def plain(value: Any) -> Any:
    """A KMIP value as JSON-friendly data: structures as dicts of their set fields, enumerations by name, bytes in
    hexadecimal, Attributes as a name -> value mapping."""
    if isinstance(value, Struct):
        return struct_to_dict(value)
    if isinstance(value, Attributes):
        from ._keys import describe_attributes

        return describe_attributes(value)
    if isinstance(value, IntEnum | IntFlag):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Item):
        return json_codec.encode_obj(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def struct_to_dict(obj: Struct) -> dict[str, Any]:
    """A KMIP structure's set fields (None and empty lists left out)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if value is None or value == []:
            continue
        out[f.name] = plain(value)
    return out


COMMON = common_parser()

__all__ = [
    "COMMON",
    "EXIT_CODES_HELP",
    "CommandError",
    "Exit",
    "Session",
    "add_group",
    "add_object_options",
    "add_verb",
    "enum_choice",
    "exit_code",
    "fail",
    "hex_or_base64",
    "object_id",
    "progress_bar",
    "read_bytes",
    "plain",
    "runner",
    "struct_to_dict",
    "write_bytes",
]
