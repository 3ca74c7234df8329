"""Credentials from the Docker CLI's config.json (`$DOCKER_CONFIG/config.json` or
`~/.docker/config.json`): static `auths` entries only; credential helpers are reported, not run."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from ..secrets import Secret
from .auth import Credentials
from .reference import DOCKER_HUB_HOSTS


def docker_config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    return (Path(directory) if directory else Path.home() / ".docker") / "config.json"


def _keys_for(host: str) -> list[str]:
    if host in DOCKER_HUB_HOSTS:
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def docker_config_credentials(host: str, path: Path | None = None) -> tuple[Credentials | None, str | None]:
    """(credentials, note). The note says why none were used when the file names the host."""
    config_path = path or docker_config_path()
    try:
        data = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    helpers = data.get("credHelpers") if isinstance(data.get("credHelpers"), dict) else {}
    auths = data.get("auths") if isinstance(data.get("auths"), dict) else {}
    for key in _keys_for(host):
        entry = auths.get(key) if isinstance(auths, dict) else None
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, f"{config_path}: the auth entry for {key} is not base64 user:password"
            return Credentials(user, Secret(password)), None
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), Secret(str(entry["password"]))), None
    if (isinstance(helpers, dict) and host in helpers) or data.get("credsStore"):
        return None, f"{config_path} uses a credential helper, which regscout does not run; add an integration"
    return None, None
