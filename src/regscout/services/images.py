"""Analyse an image named by a reference, with the right credentials, through the shared cache."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..analysis.analyzers.base import Analyzer
from ..analysis.analyzers.registry import default_analyzers
from ..analysis.cache import LayerCache
from ..analysis.image import ImageAnalyzer, ImageReport, ProgressCallback
from ..registries.auth import Credentials, TlsSettings
from ..registries.distribution import ClientOptions, RegistryClient
from ..registries.docker_config import docker_config_credentials
from ..registries.manifest import Platform
from ..registries.reference import DOCKER_HUB_HOSTS, ImageReference, is_loopback_host, parse_reference
from ..registries.types import adapter_class
from .integrations import IntegrationError, IntegrationService


@dataclass(frozen=True)
class ResolvedImage:
    reference: ImageReference
    base_url: str
    credentials: Credentials | None
    tls: TlsSettings
    source: str  # where the credentials came from, for messages: "integration lab", "docker config", ...
    platform: Platform
    client_options: ClientOptions | None = None  # the integration's (its request-rate limit), else the default


def host_of(url: str) -> str:
    """The registry host of an integration URL (host:port when it has a port)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _same_registry(a: str, b: str) -> bool:
    return a == b or (a in DOCKER_HUB_HOSTS and b in DOCKER_HUB_HOSTS)


class ImageService:
    def __init__(
        self,
        integrations: IntegrationService,
        cache: LayerCache | None = None,
        analyzers: Sequence[Analyzer] | None = None,
        client_options: ClientOptions | None = None,
    ) -> None:
        self.integrations = integrations
        self.cache = cache
        self.analyzers = list(analyzers) if analyzers is not None else default_analyzers()
        self.client_options = client_options

    def resolve(self, text: str, *, registry: str | None = None, platform: str | None = None) -> ResolvedImage:
        """Credentials come from the named integration, else the integration whose URL has the
        reference's host, else ~/.docker/config.json, else none (anonymous)."""
        reference = parse_reference(text)
        host = reference.registry_host
        candidates = (
            [self.integrations.get(registry)]
            if registry
            else [view for view in self.integrations.list_all() if _same_registry(host_of(view.url), host)]
        )
        if registry and reference.host is not None and not _same_registry(host_of(candidates[0].url), host):
            raise IntegrationError(
                f"{text} is on {host}, but integration {registry!r} is {candidates[0].url}; "
                "leave out the host or choose the matching integration"
            )
        wanted = Platform.parse(platform) if platform else None
        if candidates:
            config, options = self.integrations.connection(candidates[0].name, reference.repository)
            # The type's options give the default platform; no client is opened here (analyze opens one).
            username = config.credentials.username if config.credentials else None
            type_options = adapter_class(config.type).options_model.model_validate(
                config.options, context={"username": username}
            )
            chosen = wanted or Platform.parse(type_options.platform)
            return ResolvedImage(
                reference,
                config.url,
                config.credentials,
                config.tls,
                f"integration {candidates[0].name}",
                chosen,
                options if options is not None and options.requests_per_second else None,
            )
        credentials, _note = docker_config_credentials(host)
        scheme = "http" if is_loopback_host(host) else "https"
        return ResolvedImage(
            reference,
            f"{scheme}://{host}",
            credentials,
            TlsSettings(),
            "docker config" if credentials else "anonymous",
            wanted or Platform("linux", "amd64"),
        )

    async def analyze(
        self,
        text: str,
        *,
        registry: str | None = None,
        platform: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> tuple[ResolvedImage, ImageReport]:
        resolved = self.resolve(text, registry=registry, platform=platform)
        return resolved, await self.analyze_resolved(resolved, progress=progress)

    async def analyze_resolved(
        self, resolved: ResolvedImage, *, progress: ProgressCallback | None = None
    ) -> ImageReport:
        """Analyse an image whose registry, credentials and platform are already known (a Harbor scan's)."""
        analyzer = ImageAnalyzer(self.analyzers, self.cache)
        options = resolved.client_options or self.client_options
        async with RegistryClient(resolved.base_url, resolved.credentials, resolved.tls, options) as client:
            report = await analyzer.analyze(
                client,
                resolved.reference.repository,
                resolved.reference.reference,
                platform=resolved.platform,
                progress=progress,
            )
        return report
