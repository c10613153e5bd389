"""Oracle Database TDE with an HSM keystore, replayed against our PKCS#11 library (integrations/oracle-tde).

Oracle cannot be installed here, so the test follows the recipe: it runs the README's shell steps verbatim, then
replays every SQL statement of the README, in order, as the PKCS#11 calls Oracle makes for it. The calls are made by
``replay/oracle_tde.c``, compiled here. Each statement runs in a new process, the way Oracle server processes each
load the library. A statement the replay does not know fails the test, so the recipe cannot drift from what is
replayed."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _recipe import INTEGRATIONS, fenced_blocks, run_steps

pytestmark = [pytest.mark.integration, pytest.mark.shim, pytest.mark.slow]

RECIPE = INTEGRATIONS / "oracle-tde" / "README.md"
HARNESS = Path(__file__).resolve().parent / "replay" / "oracle_tde.c"
PIN = "change-this-pin"  # the README's default: its SQL statements carry it literally
CKR_PIN_INCORRECT = "0xa0"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler for the Oracle replay harness")
    binary = tmp_path_factory.mktemp("oracle") / "oracle_tde"
    subprocess.run(
        [
            compiler,
            "-O1",
            "-Wall",
            "-Werror",
            "-Wno-address-of-packed-member",
            "-o",
            str(binary),
            str(HARNESS),
            "-ldl",
            "-lpthread",
        ],
        check=True,
        timeout=120,
    )
    return binary


@dataclass
class Recipe:
    """The recipe's settings for one test, and a way to run its steps and the harness with them."""

    root: Path
    harness: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {
            "KEYSTEAD_TOKEN_DIR": str(self.root / "token"),
            "ORACLE_HSM_DIR": str(self.root / "opt/oracle/extapi/64/hsm/keystead/0.1.0"),
            "BACKUP_DIR": str(self.root / "backup"),
            "KEK_BACKUP_DIR": str(self.root / "kek-backup"),
            "TDE_HSM_SO_PIN": "so-" + secrets.token_hex(4),
        }

    @property
    def library(self) -> Path:
        return Path(self.env["ORACLE_HSM_DIR"]) / "libkeystead_pkcs11.so"

    def steps(self, *names: str) -> str:
        return run_steps(RECIPE, names, self.env, self.root).stdout

    def oracle(self, secret: str, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess[str]:
        """One Oracle process: load the library from the Oracle directory, log in with ``secret``, run a command."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTEAD_", "PYTHON"))}
        env["KEYSTEAD_PKCS11_CONFIG"] = str(Path(self.env["KEYSTEAD_TOKEN_DIR"]) / "pkcs11.yaml")
        result = subprocess.run(
            [str(self.harness), str(self.library), secret, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if expect_ok:
            assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result


@pytest.fixture
def recipe(tmp_path: Path, harness: Path) -> Recipe:
    recipe = Recipe(tmp_path, harness)
    out = recipe.steps("token", "check")
    assert "Keystead" in out and "oracle-tde" in out
    assert recipe.library.resolve().is_file()
    return recipe


# -- the SQL statements of the README, and what Oracle asks the HSM for each ---------------------------------------
@dataclass
class TableKey:
    plain: bytes
    iv: bytes
    mechanism: str
    wrapped: bytes | None = None  # None: held by the file wallet, not by the HSM
    master: str | None = None


@dataclass
class Database:
    """What a TDE database keeps: its current master key id and its table keys, wrapped on the HSM or not."""

    recipe: Recipe
    secret: str | None = None
    master: str | None = None
    masters: list[str] = field(default_factory=list)
    table_keys: list[TableKey] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)

    def new_master_key(self, secret: str) -> None:
        mkid = "06" + secrets.token_hex(16).upper()  # Oracle's MKID: "06" and a 16-byte key id
        out = self.recipe.oracle(secret, "set-key", mkid).stdout
        assert f"ORACLE.TDE.HSM.MK.{mkid}" in out
        self.master = mkid
        self.masters.append(mkid)

    def wrap(self, secret: str, key: TableKey) -> None:
        assert self.master is not None
        out = self.recipe.oracle(secret, "encrypt", self.master, key.mechanism, key.iv.hex(), key.plain.hex())
        key.wrapped, key.master = bytes.fromhex(out.stdout.strip()), self.master
        assert key.wrapped != key.plain and len(key.wrapped) % 16 == 0

    def unwrap(self, secret: str, key: TableKey) -> bytes:
        assert key.wrapped is not None and key.master is not None
        out = self.recipe.oracle(secret, "decrypt", key.master, key.mechanism, key.iv.hex(), key.wrapped.hex())
        return bytes.fromhex(out.stdout.strip())

    def statement(self, sql: str) -> None:
        """Replay one statement; an unknown one fails the test."""
        text = " ".join(sql.split())
        upper = text.upper()
        secret = _identified_by(text)
        if upper.startswith(("ALTER SYSTEM SET WALLET_ROOT", "ALTER SYSTEM SET TDE_CONFIGURATION")):
            kind = "configuration"  # read when the keystore opens; no PKCS#11 call of its own
        elif upper.startswith("SELECT "):
            kind = "query"  # V$ views are answered from the SGA
        elif "SET KEYSTORE OPEN" in upper:
            assert secret is not None
            self.recipe.oracle(secret, "open")
            self.secret = secret
            kind = "open"
        elif "REVERSE MIGRATE USING" in upper:
            hsm_secret = _quoted_after(text, "REVERSE MIGRATE USING")
            for key in self.table_keys:
                if key.wrapped is not None:
                    assert self.unwrap(hsm_secret, key) == key.plain
                    key.wrapped = key.master = None  # back in the file wallet
            kind = "reverse-migrate"
        elif "MIGRATE USING" in upper:
            assert secret is not None
            # The file wallet's table keys, unwrapped by Oracle with the wallet's master key, then wrapped on the HSM.
            self.table_keys += [TableKey(secrets.token_bytes(32), secrets.token_bytes(16), "cbc-pad")]
            self.new_master_key(secret)
            for key in self.table_keys:
                self.wrap(secret, key)
            kind = "migrate"
        elif re.search(r"SET (ENCRYPTION )?KEY\b", upper):
            assert secret is not None
            previous = [(key, self.unwrap(secret, key)) for key in self.table_keys if key.wrapped is not None]
            self.new_master_key(secret)
            for key, plain in previous:  # rotation re-wraps every table key under the new master key
                assert plain == key.plain
                self.wrap(secret, key)
            kind = "set-key"
        elif "ADD SECRET" in upper and "FOR CLIENT 'HSM_PASSWORD'" in upper:
            stored = _quoted_after(text, "ADD SECRET", quote="'")
            self.recipe.oracle(stored, "open")  # at the next startup, Oracle logs in with the stored secret
            kind = "auto-login"
        elif upper.startswith("CREATE TABLESPACE") and "ENCRYPT" in upper:
            assert self.secret is not None, "the keystore must be open first"
            for mechanism, size in (("cbc-pad", 32), ("cbc", 48)):
                key = TableKey(secrets.token_bytes(size), secrets.token_bytes(16), mechanism)
                self.wrap(self.secret, key)
                self.table_keys.append(key)
            kind = "tablespace"
        else:
            pytest.fail(f"the replay does not know what Oracle asks the HSM for: {text}")
        self.replayed.append(kind)


def _identified_by(text: str) -> str | None:
    match = re.search(r'IDENTIFIED BY "([^"]*)"', text, re.IGNORECASE)
    return match.group(1) if match else None


def _quoted_after(text: str, keyword: str, quote: str = '"') -> str:
    match = re.search(re.escape(keyword) + rf"\s+{quote}([^{quote}]*){quote}", text, re.IGNORECASE)
    assert match, f"no quoted secret after {keyword} in {text}"
    return match.group(1)


def sql_statements() -> list[str]:
    statements = []
    for block in fenced_blocks(RECIPE, "sql"):
        lines = [line.split("--", 1)[0] for line in block.splitlines()]
        statements += [s.strip() for s in " ".join(lines).split(";") if s.strip()]
    return statements


# -- tests --------------------------------------------------------------------------------------------------------
def test_every_sql_statement_of_the_recipe_is_replayed(recipe: Recipe):
    database = Database(recipe)
    for sql in sql_statements():
        database.statement(sql)
    expected = ["open", "set-key", "tablespace", "set-key", "auto-login", "migrate", "reverse-migrate"]
    assert [k for k in database.replayed if k not in ("configuration", "query")] == expected
    # Every master key ever made is still on the token, found by Oracle's label-only search from a new process;
    # the verify step lists them under their Oracle labels.
    listing = recipe.steps("verify")
    for mkid in database.masters:
        assert f"ORACLE.TDE.HSM.MK.{mkid}" in listing
    assert len(set(database.masters)) == 3


def test_table_keys_survive_processes_rotation_and_restore(recipe: Recipe):
    """Wrapped in one process, unwrapped in others; still there after the token is wiped and restored from the
    recipe's backup."""
    database = Database(recipe)
    secret = f"oracle:{PIN}"
    database.new_master_key(secret)
    keys = [TableKey(secrets.token_bytes(n), secrets.token_bytes(16), m) for n, m in ((32, "cbc-pad"), (48, "cbc"))]
    for key in keys:
        database.wrap(secret, key)
    assert [database.unwrap(PIN, key) for key in keys] == [k.plain for k in keys]  # the bare PIN works too
    recipe.steps("backup")
    shutil.rmtree(recipe.env["KEYSTEAD_TOKEN_DIR"])
    assert recipe.oracle(secret, "open", expect_ok=False).returncode != 0
    recipe.steps("restore")
    assert [database.unwrap(secret, key) for key in keys] == [k.plain for k in keys]


def test_many_sessions_in_several_processes(recipe: Recipe):
    """Oracle's server processes each open sessions on one shared token, concurrently (misaligned outputs)."""
    database = Database(recipe)
    secret = f"oracle:{PIN}"
    database.new_master_key(secret)
    assert database.master is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTEAD_", "PYTHON"))}
    env["KEYSTEAD_PKCS11_CONFIG"] = str(Path(recipe.env["KEYSTEAD_TOKEN_DIR"]) / "pkcs11.yaml")
    command = [str(recipe.harness), str(recipe.library), secret, "stress", database.master, "8", "6"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, out + err
        assert "8 sessions x 6 rounds: every table key came back" in out


def test_wrong_or_empty_secret_is_refused(recipe: Recipe):
    for secret in ("oracle:wrong-pin", "wrong-pin", "someone:" + PIN, ""):
        result = recipe.oracle(secret, "open", expect_ok=False)
        assert result.returncode == 3
        assert f"CK_RV {CKR_PIN_INCORRECT}" in result.stderr, (secret, result.stderr)
