"""Docker SDK helpers shared by the tests that run real products in containers (``test_*_docker.py``): a reachable
engine or a skip that says why, images present, pulled or built, and containers removed after each test.

This machine kind has only the docker CLI and no engine, so here every such test skips with its reason; where an
engine runs (a developer's workstation, a CI runner with Docker), the same tests run the real products."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped]
import pytest
from docker.errors import BuildError, DockerException, ImageNotFound  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 180


def engine_unreachable() -> str | None:
    """Why no Docker engine answers here, or None. Checked on the socket itself first: the SDK leaks its socket when
    the daemon is absent (and pytest turns that ResourceWarning into an error)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://"):
        path = host.removeprefix("unix://")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(5)
                probe.connect(path)
        except OSError as exc:
            return f"no Docker engine at {path}: {exc}"
    return None


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    """A reachable Docker engine, else skip with the reason."""
    reason = engine_unreachable()
    if reason is not None:
        pytest.skip(reason)
    client = docker.from_env()
    try:
        client.ping()
    except DockerException as exc:
        client.close()
        pytest.skip(f"the Docker engine does not answer: {exc}")
    yield client
    client.close()


def image(client: Any, name: str) -> str:
    """``name`` present locally or pulled, else skip."""
    try:
        client.images.get(name)
    except ImageNotFound:
        try:
            client.images.pull(name)
        except DockerException as exc:
            pytest.skip(f"image {name} is not present and cannot be pulled: {exc}")
    return str(name)


def add_source(archive: tarfile.TarFile) -> None:
    """The checkout's tracked files (with their working-tree contents) under ``keystead/``: a build context
    without ``.venv``, databases or build output."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], check=True, capture_output=True, timeout=60
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        path = REPO / name.decode()
        if path.is_file():
            archive.add(str(path), arcname=f"keystead/{name.decode()}", recursive=False)


def source_archive() -> bytes:
    """``add_source`` as a tar archive of its own."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_source(archive)
    return buffer.getvalue()


def build_image(client: Any, tag: str, dockerfile: str) -> str:
    """An image built from ``dockerfile`` with this checkout under ``keystead/`` in its context, else skip (a base
    image or package that cannot be fetched is this machine's limit, not a Keystead failure; the log says which)."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as archive:
        add_source(archive)
        info = tarfile.TarInfo("Dockerfile")
        text = dockerfile.encode()
        info.size = len(text)
        archive.addfile(info, io.BytesIO(text))
    context.seek(0)
    try:
        client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True)
    except BuildError as exc:
        log = "".join(str(line.get("stream", "")) for line in exc.build_log)[-3000:]
        if re.search(r"Could not resolve|Temporary failure|404 +Not Found|pull access denied|manifest unknown", log):
            pytest.skip(f"image {tag} cannot be built here (a download failed):\n{log}")
        raise AssertionError(f"building {tag} failed:\n{log}") from None
    except DockerException as exc:
        pytest.skip(f"image {tag} cannot be built here: {exc}")
    return tag


#: A Debian 12 host with Keystead installed as its README says (`make setup`), plus the PKCS#11 tools the
#: recipes use. Debian 12's python3 is 3.11, which the library embeds.
KEYSTEAD_HOST = """\
FROM debian:bookworm
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \\
    python3 python3-venv python3-dev gcc make libc6-dev git ca-certificates curl \\
    opensc p11-kit systemd cryptsetup-bin libcryptsetup12 e2fsprogs fuse3 dmsetup >/dev/null
COPY keystead /opt/keystead
RUN cd /opt/keystead && make setup
ENV PATH=/opt/keystead/.venv/bin:$PATH
"""


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    containers: list[Any] = []
    yield containers
    for container in containers:
        container.remove(force=True)


def wait_for_log(container: Any, pattern: str) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        container.reload()
        logs = str(container.logs().decode(errors="replace"))
        if re.search(pattern, logs):
            return logs
        if container.status == "exited":
            raise AssertionError(f"{container.image.tags} exited:\n{logs[-3000:]}")
        time.sleep(1)
    raise AssertionError(f"{container.image.tags} did not log {pattern!r}:\n{container.logs()[-3000:]!r}")


def run_script(container: Any, script: str, env: dict[str, str] | None = None, user: str = "root") -> str:
    """``script`` under ``bash -euo pipefail`` in the running container; its output, or fail with it."""
    result = container.exec_run(["bash", "-euo", "pipefail", "-c", script], environment=env or {}, user=user)
    output = result.output.decode(errors="replace")
    assert result.exit_code == 0, f"exit {result.exit_code}:\n{script}\n---\n{output[-4000:]}"
    return output
