"""The embedded store of a PKCS#11 token is sealed at rest by default, as the server's is: a token made by
``keystead pkcs11 init`` keeps its key values out of the raw database (every byte of the SQLite files), under a key
file created mode 0600 beside it (or ``KEYSTEAD_KEK``); with ``seal_keys: false`` the same search finds them (the
search works); a store written before sealing is sealed on its next opening and still serves its keys."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from kms_backend.cli import main
from provider import general, keys, objects, sessions
from provider.config import ENV_CONFIG, ConfigError, from_mapping
from provider.constants import Attribute, KeyType, Mechanism, ObjectClass, ReturnValue, UserType
from provider.errors import CkError
from provider.library import SLOT_ID, Library

from .conftest import RW, USER_PIN
from .test_library import aes_template, attribute, boolean, ulong

A = Attribute


def init_token(directory: Path) -> Path:
    assert main(["pkcs11", "init", "--dir", str(directory), "--pin", USER_PIN.decode(), "--so-pin", "567890"]) == 0
    return directory / "pkcs11.yaml"


def open_token(config_file: Path, **environ: str) -> tuple[Library, int]:
    library = Library(environ={ENV_CONFIG: str(config_file), **environ})
    general.initialize(library, None)
    session = sessions.open_session(library, SLOT_ID, RW)
    sessions.login(library, session, UserType.USER, USER_PIN)
    return library, session


def store_keys(library: Library, session: int) -> dict[str, bytes]:
    """Two imported AES keys and a generated extractable one, by label, with their values."""
    values = {}
    for label in ("imported-1", "imported-2"):
        value = os.urandom(32)
        template = [
            (A.CLASS, ulong(ObjectClass.SECRET_KEY)),
            (A.KEY_TYPE, ulong(KeyType.AES)),
            (A.TOKEN, boolean(True)),
            (A.LABEL, label.encode()),
            (A.VALUE, value),
            (A.SENSITIVE, boolean(False)),
            (A.EXTRACTABLE, boolean(True)),
        ]
        objects.create_object(library, session, template)
        values[label] = value
    template = [*aes_template("generated"), (A.SENSITIVE, boolean(False)), (A.EXTRACTABLE, boolean(True))]
    handle = keys.generate_key(library, session, Mechanism.AES_KEY_GEN, template)
    generated = attribute(library, session, handle, A.VALUE)
    assert generated is not None and len(generated) == 32
    values["generated"] = generated
    return values


def read_keys(library: Library, session: int) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    objects.find_objects_init(library, session, [(A.CLASS, ulong(ObjectClass.SECRET_KEY))])
    handles = objects.find_objects(library, session, 100)
    objects.find_objects_final(library, session)
    for handle in handles:
        label, value = attribute(library, session, handle, A.LABEL), attribute(library, session, handle, A.VALUE)
        if label is not None and value is not None:
            found[label.decode()] = value
    return found


def raw_database(directory: Path) -> bytes:
    """Every byte of the token's SQLite files (the database, its write-ahead log and shared memory)."""
    return b"".join(path.read_bytes() for path in sorted(directory.glob("keystead.db*")))


def leaked(raw: bytes, values: dict[str, bytes]) -> list[str]:
    return [
        f"{label} ({form})"
        for label, value in values.items()
        for form, encoded in (
            ("raw", value),
            ("hex", value.hex().encode()),
            ("HEX", value.hex().upper().encode()),
            ("base64", base64.b64encode(value)),
        )
        if encoded in raw
    ]


def test_a_new_token_keeps_no_key_material_in_its_database(tmp_path: Path):
    config_file = init_token(tmp_path / "token")
    key_file = tmp_path / "token" / "keystead.kek"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert yaml.safe_load(config_file.read_text())["backend"]["kek_file"] == "keystead.kek"
    library, session = open_token(config_file)
    values = store_keys(library, session)
    general.finalize(library, False)
    raw = raw_database(tmp_path / "token")
    assert b"imported-1" in raw  # the search looks at the right bytes: labels are attributes, stored in clear
    assert leaked(raw, values) == []
    library, session = open_token(config_file)
    assert read_keys(library, session) == values
    general.finalize(library, False)
    # Under another key file the token does not open (the log says the store's key is not in the ring).
    key_file.rename(tmp_path / "elsewhere.kek")
    (tmp_path / "token" / "keystead.kek").write_text(base64.b64encode(os.urandom(32)).decode())
    os.chmod(tmp_path / "token" / "keystead.kek", 0o600)
    with pytest.raises(CkError) as failure:
        open_token(config_file)
    assert failure.value.rv == ReturnValue.DEVICE_ERROR


def test_unsealed_store_finds_the_values_and_is_sealed_on_its_next_opening(tmp_path: Path):
    config_file = init_token(tmp_path / "token")
    raw_config = yaml.safe_load(config_file.read_text())
    raw_config["backend"]["seal_keys"] = False
    config_file.write_text(yaml.safe_dump(raw_config))
    (tmp_path / "token" / "keystead.db").unlink()  # init sealed the empty store: start again unsealed
    (tmp_path / "token" / "sealed-stores").unlink()
    library, session = open_token(config_file)
    values = store_keys(library, session)
    general.finalize(library, False)
    assert leaked(raw_database(tmp_path / "token"), values)  # unsealed: the search finds them
    del raw_config["backend"]["seal_keys"]
    config_file.write_text(yaml.safe_dump(raw_config))
    library, session = open_token(config_file)
    assert read_keys(library, session) == values
    general.finalize(library, False)
    assert leaked(raw_database(tmp_path / "token"), values) == []


def test_a_key_from_the_environment_seals_without_a_key_file(tmp_path: Path):
    config_file = init_token(tmp_path / "token")
    (tmp_path / "token" / "keystead.db").unlink()
    (tmp_path / "token" / "sealed-stores").unlink()
    (tmp_path / "token" / "keystead.kek").unlink()
    kek = os.urandom(32).hex()
    library, session = open_token(config_file, KEYSTEAD_KEK=kek)
    values = store_keys(library, session)
    general.finalize(library, False)
    assert not (tmp_path / "token" / "keystead.kek").exists()
    assert leaked(raw_database(tmp_path / "token"), values) == []
    library, session = open_token(config_file, KEYSTEAD_KEK=kek)
    assert read_keys(library, session) == values
    general.finalize(library, False)


def test_an_unusable_key_fails_initialisation(tmp_path: Path):
    config_file = init_token(tmp_path / "token")
    library = Library(environ={ENV_CONFIG: str(config_file), "KEYSTEAD_KEK": "not a key"})
    with pytest.raises(CkError) as failure:
        general.initialize(library, None)
    assert failure.value.rv == ReturnValue.DEVICE_ERROR


def test_the_key_file_of_a_database_server_store_sits_beside_the_configuration(tmp_path: Path):
    path = tmp_path / "pkcs11.yaml"
    remote_db = from_mapping({"backend": {"database": "postgresql://kms@db/keystead"}}, path)
    assert remote_db.backend.kek_path == tmp_path / "keystead.kek"
    sqlite = from_mapping({"backend": {"database": f"sqlite:///{tmp_path / 'data' / 'k.db'}"}}, path)
    assert sqlite.backend.kek_path == tmp_path / "data" / "keystead.kek"
    explicit = from_mapping({"backend": {"kek_file": "keys/my.kek"}}, path)
    assert explicit.backend.kek_path == tmp_path / "keys" / "my.kek"
    with pytest.raises(ConfigError, match="seal_keys"):
        from_mapping({"backend": {"seal_keys": "no"}}, path)
