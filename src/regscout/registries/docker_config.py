"""Credentials from the Docker CLI's config.json (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), and the
same format inside Kubernetes pull secrets: static `auths` entries; credential helpers (`credHelpers`,
`credsStore`) are named, never run here."""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..secrets import Secret
from .auth import Credentials
from .reference import DOCKER_HUB_HOSTS

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class AuthEntry:
    key: str  # as the file writes it: "https://index.docker.io/v1/", "ghcr.io", "host:5000"
    host: str  # the registry host it is for
    credentials: Credentials | None
    problem: str | None = None  # why no credentials could be read from it


@dataclass(frozen=True)
class DockerConfig:
    entries: tuple[AuthEntry, ...] = ()
    helpers: dict[str, str] = field(default_factory=dict)  # host -> helper (credHelpers)
    store: str | None = None  # credsStore: the helper for every host without static credentials


def docker_config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    return (Path(directory) if directory else Path.home() / ".docker") / "config.json"


def registry_host(key: str) -> str:
    """The registry host an `auths` key is for: scheme and API path dropped, Docker Hub's names as docker.io."""
    text = key.strip()
    host = (urlsplit(text).netloc if "://" in text else text.split("/", 1)[0]).lower()
    return DOCKER_HUB if host in DOCKER_HUB_HOSTS or host == "index.docker.io" else host


def _credentials(key: str, entry: dict[str, Any]) -> tuple[Credentials | None, str | None]:
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, password = base64.b64decode(auth, validate=True).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None, f"the auth value for {key} is not base64 of user:password"
        if not sep or not password:
            return None, f"the auth value for {key} holds no password"
        return Credentials(user, Secret(password)), None
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name and secret:
        return Credentials(name, Secret(secret)), None
    if entry.get("identitytoken") or entry.get("registrytoken"):
        return None, f"{key} has an identity token (an OAuth refresh token); give regscout a password or access token"
    return None, f"{key} has no user name and password"


def parse_docker_config(data: Any, *, legacy: bool = False) -> DockerConfig:
    """A config.json document, or with `legacy` a `.dockercfg` one (the entries alone, as old Kubernetes secrets
    hold them). ValueError when it is neither."""
    if not isinstance(data, dict):
        raise ValueError("a Docker config is a JSON object")
    auths = data if legacy else data.get("auths", {})
    if not isinstance(auths, dict):
        raise ValueError("'auths' is not an object")
    entries = []
    for key, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        credentials, problem = _credentials(str(key), entry)
        entries.append(AuthEntry(str(key), registry_host(str(key)), credentials, problem))
    helpers_raw = data.get("credHelpers") or {}
    helpers = {registry_host(str(k)): str(v) for k, v in helpers_raw.items()} if isinstance(helpers_raw, dict) else {}
    store = data.get("credsStore")
    return DockerConfig(tuple(entries), helpers, store if isinstance(store, str) and store else None)


def load_docker_config(path: Path) -> DockerConfig:
    try:
        return parse_docker_config(json.loads(path.read_text()))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not a Docker config: {exc}") from None


def docker_config_credentials(host: str, path: Path | None = None) -> tuple[Credentials | None, str | None]:
    """(credentials, note). The note says why none were used when the file names the host."""
    config_path = path or docker_config_path()
    try:
        config = load_docker_config(config_path)
    except ValueError:
        return None, None
    wanted = registry_host(host)
    for entry in config.entries:
        if entry.host == wanted:
            if entry.credentials is not None:
                return entry.credentials, None
            if entry.problem:
                return None, f"{config_path}: {entry.problem}"
    if wanted in config.helpers or config.store:
        return None, f"{config_path} uses a credential helper, which regscout does not run; add an integration"
    return None, None
