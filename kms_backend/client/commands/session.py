"""``keystead login`` / ``keystead logout`` (OIDC device authorization grant, RFC 8628, against the configured
issuer; the token is kept in the client configuration file) and ``keystead completion bash|zsh``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import save_values
from ._common import CommandError, Exit, Session, SubParsers, add_verb

if TYPE_CHECKING:  # httpx is imported only by `keystead login`, not by every keystead command
    import httpx

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class OidcError(CommandError):
    """The identity provider refused or could not be reached."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Exit.DENIED)


def _post(client: httpx.Client, url: str, data: dict[str, str]) -> tuple[int, dict[str, Any]]:
    import httpx

    try:
        reply = client.post(url, data=data, headers={"Accept": "application/json"})
        body = reply.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"{url}: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict):
        raise OidcError(f"{url}: the answer is not a JSON object")
    return reply.status_code, body


def device_login(
    issuer: str,
    client_id: str,
    scopes: str,
    *,
    client: httpx.Client,
    show: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run the device authorization grant: show the user where to go, poll until they approve; the token to send
    the KMS (the ID token when the provider issues one, as it is a JWT naming the user; else the access token)."""
    import httpx

    try:
        discovery = client.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(f"cannot read {issuer}'s OpenID configuration: {exc}") from None
    device_endpoint = discovery.get("device_authorization_endpoint")
    token_endpoint = discovery.get("token_endpoint")
    if not device_endpoint or not token_endpoint:
        raise OidcError(f"{issuer} does not offer the device authorization grant")
    status, device = _post(client, device_endpoint, {"client_id": client_id, "scope": scopes})
    if status != 200 or "device_code" not in device:
        raise OidcError(f"device authorization refused: {device.get('error_description') or device.get('error')}")
    where = device.get("verification_uri_complete") or device.get("verification_uri")
    show(f"To sign in, open {where} and enter the code {device.get('user_code')}")
    interval = float(device.get("interval", 5))
    deadline = time.monotonic() + float(device.get("expires_in", 600))
    while time.monotonic() < deadline:
        sleep(interval)
        status, answer = _post(
            client,
            token_endpoint,
            {"grant_type": DEVICE_GRANT, "device_code": str(device["device_code"]), "client_id": client_id},
        )
        if status == 200:
            token = answer.get("id_token") or answer.get("access_token")
            if not token:
                raise OidcError("the token endpoint answered without a token")
            return str(token)
        error = answer.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5
            continue
        raise OidcError(f"sign-in failed: {answer.get('error_description') or error}")
    raise OidcError("sign-in timed out")


def cmd_login(session: Session) -> None:
    config = session.config
    if not config.oidc_issuer or not config.oidc_client_id:
        raise CommandError("set oidc_issuer and oidc_client_id (client.yaml, KEYSTEAD_CLI_OIDC_*, or the flags)")
    import httpx

    with httpx.Client(timeout=config.timeout, verify=not config.accept_invalid_certs) as client:
        token = device_login(
            config.oidc_issuer,
            config.oidc_client_id,
            config.oidc_scopes,
            client=client,
            show=lambda text: print(text, file=sys.stderr, flush=True),
        )
    path = session.config_path
    save_values(path, {"token": token})
    session.emit(f"Signed in; the token is saved in {path}", {"config": str(path)})


def cmd_logout(session: Session) -> None:
    path = session.config_path
    save_values(path, {"token": None})
    session.emit(f"Signed out; the token is removed from {path}", {"config": str(path)})


# -- shell completion -----------------------------------------------------------------------------------------------
def _walk(
    parser: argparse.ArgumentParser, path: str, tree: dict[str, list[str]], options: dict[str, list[str]]
) -> None:
    words: list[str] = []
    flags: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                words.append(name)
                _walk(child, f"{path}/{name}", tree, options)
        else:
            flags.extend(s for s in action.option_strings if s.startswith("--"))
            if action.choices and not action.option_strings:
                words.extend(str(c) for c in action.choices)
    tree[path] = words
    options[path] = flags


def completion_script(root: argparse.ArgumentParser, shell: str) -> str:
    """A bash (or zsh, through bashcompinit) completion script for every command, subcommand and long option."""
    tree: dict[str, list[str]] = {}
    options: dict[str, list[str]] = {}
    # bash rejects an empty associative-array key: the root command's path is "k".
    _walk(root, "k", tree, options)

    def table(name: str, entries: dict[str, list[str]]) -> str:
        rows = "\n".join(f'    ["{path}"]="{" ".join(words)}"' for path, words in sorted(entries.items()))
        return f"declare -gA {name}=(\n{rows}\n)"

    body = f"""# keystead {shell} completion: eval "$(keystead completion {shell})"
{table("_keystead_words", tree)}
{table("_keystead_flags", options)}
_keystead() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} path=k i w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${{COMP_WORDS[i]}}
        [[ $w == -* ]] && continue
        [[ -n ${{_keystead_words["$path/$w"]+x}} ]] && path="$path/$w"
    done
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${{_keystead_flags[$path]}}" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "${{_keystead_words[$path]}}" -- "$cur"))
    fi
}}
complete -o default -F _keystead keystead
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + body
    return body


def cmd_completion(session: Session) -> None:
    root: argparse.ArgumentParser = session.args.root_parser
    sys.stdout.write(completion_script(root, session.args.shell))


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add ``login``, ``logout`` and ``completion``."""
    add_verb(sub, "login", cmd_login, "sign in with the configured OIDC issuer (device flow); saves the token")
    add_verb(sub, "logout", cmd_logout, "forget the saved token")
    completion = add_verb(sub, "completion", cmd_completion, "print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"), help='e.g. eval "$(keystead completion bash)"')


__all__ = ["completion_script", "device_login", "register"]
