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
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTEGRATIONS = ROOT / "integrations"
_STEP = re.compile(r"<!-- step: ([\w-]+) -->\s*\n```(\w+)\n(.*?)\n```", re.DOTALL)


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
    recipe: Path, names: Iterable[str], env: Mapping[str, str], cwd: Path, *, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the ``settings`` step and then ``names`` as one bash script; fail with the output if any command does."""
    blocks = steps(recipe)
    chosen = ["settings", *names]
    missing = [n for n in chosen if n not in blocks]
    assert not missing, f"{recipe} has no step {missing}"
    script = "\n".join(f"# --- step {n}\n{blocks[n]}" for n in chosen)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
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


__all__ = ["INTEGRATIONS", "ROOT", "environment", "fenced_blocks", "run_steps", "steps"]
