"""The README's high-availability steps as the cluster tests take them: ``readme_step`` runs one verbatim,
``haproxy_database`` gives a scratch database for a cluster behind HAProxy (skipping, or failing under CI, when
HAProxy or the database is missing), and ``readme_cluster`` brings a cluster up by ``ha-up`` on it and down by
``ha-down`` afterwards."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from integration_tests._cluster import ServiceUnavailable, scratch_database
from integration_tests._keystead_server import REPO, free_port
from integration_tests._recipe import steps
from integration_tests.conftest import _unavailable

README = REPO / "README.md"


def readme_step(name: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The README's step ``name``, verbatim (``.venv/bin/…`` is this checkout's venv), with ``env`` and no
    ``KEYSTEAD_*`` variables of the caller's."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEYSTEAD_")}
    clean.update(env)
    script = f"set -euo pipefail\ncd {shlex.quote(str(REPO))}\n{steps(README)[name]}"
    return subprocess.run(["bash", "-c", script], env=clean, capture_output=True, text=True, timeout=300, check=False)


@contextmanager
def haproxy_database(kind: str, workdir: Path) -> Iterator[str]:
    """The URL of a scratch ``kind`` database (removed afterwards) for nodes behind HAProxy."""
    if shutil.which("haproxy") is None:
        _unavailable("HAProxy is not installed (apt-get install haproxy)")
    database = scratch_database(kind, workdir)
    try:
        url, _ = database.__enter__()
    except ServiceUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield url
    finally:
        database.__exit__(None, None, None)


@contextmanager
def readme_cluster(kind: str, workdir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """(cluster directory, the README variables) of a cluster the README's ``ha-up`` started on a scratch ``kind``
    database, on free ports; ``ha-down`` stops it afterwards."""
    with haproxy_database(kind, workdir) as url:
        directory = workdir / "cluster"
        env = {"HA_DIR": str(directory), "DATABASE_URL": url, "KMIP_PORT": str(free_port())}
        env["HTTP_PORT"] = str(free_port())
        try:
            result = readme_step("ha-up", env)
            assert result.returncode == 0, result.stdout + result.stderr
            yield directory, env
        finally:
            if (directory / "cluster.json").exists():
                down = readme_step("ha-down", env)
                assert down.returncode == 0, down.stderr


__all__ = ["haproxy_database", "readme_cluster", "readme_step"]
