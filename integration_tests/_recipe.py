"""Run an integration recipe's own commands (STYLE rule 15: recipes are executable).

A recipe marks each shell block a test runs with an HTML comment right above it, invisible when rendered::

    <!-- step: enrol -->
    ```sh
    PIN=... systemd-cryptenroll ...
    ```

The test runs the named steps verbatim with ``bash -euo pipefail``, in one script so that variables set by one step
are seen by the next. Recipes start with a ``settings`` step that sets their paths and secrets as
``export NAME="${NAME:-default}"``: a reader gets the defaults, a test points them at a temporary directory through
the environment. Blocks without a step comment (say, ``cryptsetup open`` of a real device) are shown, not run.

KMIP recipes also give the product's configuration files, each marked ``<!-- file: NAME -->`` (the test writes
them and the replay takes its settings from them: server name, port, certificate files), and one ``keystead serve``
block, which the test starts with the README's arguments on a free KMIP port instead of 5696.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTEGRATIONS = ROOT / "integrations"
_STEP = re.compile(r"<!-- step: ([\w-]+) -->\s*\n```(\w+)\n(.*?)\n```", re.DOTALL)
_FILE = re.compile(r"<!-- file: ([\w.-]+) -->\s*\n```\w*\n(.*?\n)```", re.DOTALL)
_SERVE = re.compile(r"```sh\n(keystead serve .*?)\n```", re.DOTALL)


def steps(recipe: Path) -> dict[str, str]:
    """The recipe's named shell blocks, in document order."""
    found: dict[str, str] = {}
    for match in _STEP.finditer(recipe.read_text()):
        name, language, body = match.groups()
        assert language == "sh", f"{recipe}: step {name} is a {language} block, not sh"
        assert name not in found, f"{recipe}: step {name} appears twice"
        found[name] = body
    return found


def fenced_blocks(recipe: Path, language: str) -> list[str]:
    """Every fenced block of ``language`` (e.g. the SQL a replay test must cover)."""
    return re.findall(rf"```{language}\n(.*?)\n```", recipe.read_text(), re.DOTALL)


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment for recipe commands: this venv's ``keystead`` first on PATH, no inherited KEYSTEAD_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSTEAD_", "PYTHON"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env


def run_steps(
    recipe: Path,
    names: Iterable[str],
    env: Mapping[str, str],
    cwd: Path,
    *,
    timeout: float = 300,
    wrapper: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the ``settings`` step and then ``names`` as one bash script; fail with the output if any command does.
    ``wrapper`` runs the script under another command (e.g. ``unshare --user`` for p11-kit's user configuration)."""
    blocks = steps(recipe)
    chosen = ["settings", *names]
    missing = [n for n in chosen if n not in blocks]
    assert not missing, f"{recipe} has no step {missing}"
    script = "\n".join(f"# --- step {n}\n{blocks[n]}" for n in chosen)
    result = subprocess.run(
        [*wrapper, "bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=environment(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, (
        f"recipe steps {chosen} of {recipe.relative_to(ROOT)} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def keystead_commands(recipe: Path, step: str) -> list[list[str]]:
    """The ``keystead`` command lines of a step, as argument lists without ``keystead`` (comments dropped)."""
    commands = []
    for line in steps(recipe)[step].splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "keystead", f"{recipe}: step {step} runs {words[0]}, not keystead"
            commands.append(words[1:])
    return commands


def files(recipe: Path) -> dict[str, str]:
    """The product configuration files the recipe gives, by name."""
    return dict(_FILE.findall(recipe.read_text()))


def serve_arguments(recipe: Path) -> list[str]:
    """The arguments of the recipe's one ``keystead serve`` command."""
    (command,) = _SERVE.findall(recipe.read_text())
    return shlex.split(command.replace("\\\n", " "), comments=True)[2:]


def product_file(recipe: Path, workdir: Path, product_path: str, copies: Mapping[str, str]) -> Path:
    """Where a file a product configuration names (``/etc/mongod/kmip/ca.pem``) is in ``workdir``: the recipe has
    the operator make it on the KMS host and copy a folder over; ``copies`` maps the product's folder to the KMS
    host's, and the recipe must say so ("… to `/etc/mongod/kmip/`")."""
    folder, _, name = product_path.rpartition("/")
    assert folder in copies, product_path
    assert f"to `{folder}/`" in recipe.read_text(), f"{recipe} does not say what goes to {folder}"
    path = workdir / copies[folder] / name
    assert path.is_file(), path
    return path


__all__ = [
    "INTEGRATIONS",
    "ROOT",
    "environment",
    "fenced_blocks",
    "files",
    "product_file",
    "run_steps",
    "serve_arguments",
    "steps",
]
