"""The README's quick start, run verbatim: the commands are read from the README's fenced block under "Quick start"
and run through the installed ``keystead`` console script against a ``make run``-style server (plain HTTP, default
user), with only ``KEYSTEAD_CLI_URL`` pointing at the test server's port (STYLE rule 15)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from ._keystead_server import REPO, KeysteadProcess  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # collected as a rootless module (no __init__.py in integration_tests)
    from _keystead_server import REPO, KeysteadProcess

pytestmark = pytest.mark.integration

KEYSTEAD = Path(sys.executable).parent / "keystead"


def quick_start_commands() -> list[str]:
    """The shell lines of the README's first fenced block after the "Quick start" heading."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the README's quick start has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeysteadProcess]:
    process = KeysteadProcess.start(tmp_path_factory.mktemp("quickstart"), tls=False)
    yield process
    assert process.stop() == 0


def test_readme_quick_start_runs_verbatim(server: KeysteadProcess, tmp_path: Path) -> None:
    commands = quick_start_commands()
    assert commands == [
        "keystead sym keys create --number-of-bits 256 --algorithm aes --tag my-key-file",
        "keystead sym encrypt --tag my-key-file --output-file image.enc image.png",
        "keystead sym decrypt --tag my-key-file --output-file image2.png image.enc",
    ]
    assert KEYSTEAD.is_file(), f"{KEYSTEAD} is missing: run `make setup`"
    image = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk
    (tmp_path / "image.png").write_bytes(image)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    env.update(
        HOME=str(tmp_path),  # no ~/.config/keystead/client.yaml of the machine's user
        PATH=f"{KEYSTEAD.parent}{os.pathsep}{env.get('PATH', '')}",
        KEYSTEAD_CLI_URL=server.http_url,
    )
    outputs = []
    for line in commands:
        result = subprocess.run(
            shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"{line}\n{result.stderr}"
        outputs.append(result.stdout.strip())
    assert re.fullmatch(r"[0-9a-f-]{36}", outputs[0]), outputs[0]
    encrypted = (tmp_path / "image.enc").read_bytes()
    assert encrypted[:4] == b"KSE1" and image not in encrypted
    assert (tmp_path / "image2.png").read_bytes() == image
