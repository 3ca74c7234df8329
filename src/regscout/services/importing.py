"""Integrations from pull credentials that exist already (RHACS makes them from cluster pull secrets): a Docker
config.json or a Kubernetes pull secret gives one integration per registry host, its type recognised from the
host, each tested before it is saved. Credential helpers are named, and run only when allowed."""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from ..registries.auth import Credentials
from ..registries.base import ConnectionResult
from ..registries.docker_config import DOCKER_HUB, DockerConfig, parse_docker_config, registry_host
from ..registries.hosts import host_type
from ..registries.reference import is_loopback_host
from ..registries.types import REGISTRY_TYPES
from ..secrets import Secret
from .audit import Actor
from .integrations import (
    ConnectionTestFailed,
    IntegrationError,
    IntegrationInput,
    IntegrationService,
    InvalidIntegration,
    normalise_url,
)

HELPER_TIMEOUT = 30
Outcome = Literal["created", "failed", "skipped"]


@dataclass(frozen=True)
class ImportResult:
    host: str
    type: str
    name: str | None
    outcome: Outcome
    message: str
    test: ConnectionResult | None = None


@dataclass(frozen=True)
class Source:
    """One set of pull credentials: a config.json, or one Secret of a manifest."""

    label: str
    config: DockerConfig


def docker_config_source(text: str, label: str) -> Source:
    try:
        return Source(label, parse_docker_config(json.loads(text)))
    except ValueError as exc:
        raise InvalidIntegration(f"{label} is not a Docker config.json: {exc}") from None


def kube_secret_sources(text: str, label: str) -> list[Source]:
    """Pull secrets from a manifest: `kind: Secret` of type kubernetes.io/dockerconfigjson (or the legacy
    dockercfg), alone, in a multi-document file, or in a `kind: List` as `kubectl get secret -o yaml` writes."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InvalidIntegration(f"{label} is not YAML: {exc}") from None
    secrets: list[dict[str, Any]] = []
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List":
            secrets.extend(item for item in document.get("items") or [] if isinstance(item, dict))
        elif isinstance(document, dict):
            secrets.append(document)
    sources = [_secret_source(secret, label) for secret in secrets if secret.get("kind") == "Secret"]
    if not sources:
        raise InvalidIntegration(f"{label} holds no Kubernetes Secret")
    return sources


def _secret_source(secret: dict[str, Any], label: str) -> Source:
    metadata = secret.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    where = f"{label}: secret {metadata.get('namespace', 'default')}/{metadata.get('name', '?')}"
    kind = secret.get("type")
    keys = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}
    if kind not in keys:
        raise InvalidIntegration(f"{where} is of type {kind!r}, not a pull secret (kubernetes.io/dockerconfigjson)")
    key = keys[kind]
    raw = _field(secret, key, where)
    try:
        config = parse_docker_config(json.loads(raw), legacy=key == ".dockercfg")
    except ValueError as exc:
        raise InvalidIntegration(f"{where}: {key} is not a Docker config: {exc}") from None
    return Source(where, config)


def _field(secret: dict[str, Any], key: str, where: str) -> str:
    string_data = secret.get("stringData")
    if isinstance(string_data, dict) and isinstance(string_data.get(key), str):
        return str(string_data[key])
    data = secret.get("data")
    if isinstance(data, dict) and isinstance(data.get(key), str):
        try:
            return base64.b64decode(data[key], validate=True).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidIntegration(f"{where}: data.{key} is not base64") from None
    raise InvalidIntegration(f"{where} has no {key} in data or stringData")


def run_helper(helper: str, host: str) -> Credentials | None:
    """`docker-credential-<helper> get` for the host (the Docker credential helper protocol); None when the
    helper knows no credentials for it. IntegrationError when it cannot be run."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise IntegrationError(f"the credential helper docker-credential-{helper} is not on PATH")
    try:
        done = subprocess.run(
            [program, "get"], input=host, capture_output=True, text=True, timeout=HELPER_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IntegrationError(f"docker-credential-{helper} failed: {type(exc).__name__}") from None
    if done.returncode != 0:
        # its stdout may echo what it was given; only the first line of its error goes into a message
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        if first and "not found" in first[0].lower():
            return None
        raise IntegrationError(f"docker-credential-{helper} failed: {first[0][:200] if first else done.returncode}")
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        raise IntegrationError(f"docker-credential-{helper} answered something that is not its JSON") from None
    return Credentials(username, Secret(secret)) if secret else None


def integration_name(host: str, prefix: str, taken: set[str]) -> str:
    stem = prefix + re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")
    name, number = stem, 2
    while name in taken:
        name, number = f"{stem}-{number}", number + 1
    return name


class RegistryImporter:
    def __init__(self, integrations: IntegrationService) -> None:
        self.integrations = integrations

    async def run(
        self,
        sources: list[Source],
        *,
        actor: Actor,
        allow_helpers: bool = False,
        test: bool = True,
        prefix: str = "",
    ) -> list[ImportResult]:
        results: list[ImportResult] = []
        existing = self.integrations.list_all()
        taken = {view.name for view in existing}
        integrated = {registry_host(view.url): view.name for view in existing}
        done: set[str] = set()
        for source in sources:
            for host, credentials, note in self._credentials(source, allow_helpers):
                kind = host_type(host)
                if host in done:
                    continue
                done.add(host)
                if host in integrated:
                    results.append(ImportResult(host, kind.type, integrated[host], "skipped", "already integrated"))
                elif credentials is None:
                    results.append(ImportResult(host, kind.type, None, "skipped", note))
                elif kind.type not in REGISTRY_TYPES:
                    message = f"{kind.vendor} (type {kind.type}) is not supported by this regscout yet"
                    results.append(ImportResult(host, kind.type, None, "skipped", message))
                else:
                    name = integration_name(host, prefix, taken)
                    result = await self._create(host, kind.type, name, credentials, source.label, test, actor)
                    if result.outcome == "created":
                        taken.add(name)
                        integrated[host] = name
                    results.append(result)
        return results

    def _credentials(self, source: Source, allow_helpers: bool) -> list[tuple[str, Credentials | None, str]]:
        """(host, credentials or None, why none) for every host the source names, static entries first."""
        config = source.config
        found: list[tuple[str, Credentials | None, str]] = []
        static = {e.host for e in config.entries if e.credentials is not None}
        for entry in config.entries:
            if entry.credentials is not None:
                found.append((entry.host, entry.credentials, ""))
            elif not (config.store or entry.host in config.helpers):
                found.append((entry.host, None, entry.problem or "no credentials"))
        helper_hosts = dict.fromkeys(config.helpers)
        if config.store:
            helper_hosts.update(dict.fromkeys(e.host for e in config.entries if e.host not in static))
        for host in helper_hosts:
            if host in static:
                continue
            helper = config.helpers.get(host, config.store or "")
            if not allow_helpers:
                found.append((host, None, f"uses the credential helper docker-credential-{helper}, which was not run "
                                          "(--allow-helpers runs it)"))  # fmt: skip
                continue
            try:
                credentials = run_helper(helper, host)
            except IntegrationError as exc:
                found.append((host, None, str(exc)))
                continue
            found.append((host, credentials, "" if credentials else f"docker-credential-{helper} has none"))
        return found

    async def _create(
        self, host: str, type_name: str, name: str, credentials: Credentials, label: str, test: bool, actor: Actor
    ) -> ImportResult:
        # Docker ignores the scheme of an auths key; like Docker, loopback registries are reached over plain HTTP
        url = "" if host == DOCKER_HUB else normalise_url(("http://" if is_loopback_host(host) else "https://") + host)
        data = IntegrationInput(
            name=name,
            type=type_name,
            url=url,
            description=f"imported from {label}",
            username=credentials.username,
            secret=credentials.secret,
        )
        try:
            _view, result = await self.integrations.add(data, actor=actor, test=test)
        except ConnectionTestFailed as exc:
            return ImportResult(host, type_name, name, "failed", exc.result.message, exc.result)
        except IntegrationError as exc:
            return ImportResult(host, type_name, name, "failed", str(exc))
        return ImportResult(host, type_name, name, "created", result.message if result else "saved untested", result)
