"""What every registry type shares: configuration, the connection test, rights reports and browsing.

A registry type is a subclass that may override the steps (identify, authenticate, read probe,
rights) and the listing (repositories, tag references). The /v2/ traffic always goes through the
one RegistryClient.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .auth import Credentials, TlsSettings, granted_actions
from .distribution import ClientOptions, RegistryClient, pull_scope
from .errors import ConnectionStatus, ProtocolError, RegistryError
from .manifest import DEFAULT_PLATFORM, ImageIndex, ImageManifest, Platform

T = TypeVar("T")
AuthKind = Literal["anonymous", "password", "token"]


# Integrations that another system manages (Harbor's external-scanner registrations): their images come from there.
MANAGED_BY_OPTION = "managed_by"


class AdapterOptions(BaseModel):
    """Options every type accepts. Types extend this model with their own fields."""

    model_config = ConfigDict(extra="forbid")

    repositories: list[str] = Field(
        default_factory=list,
        description="Repositories to watch; required where the registry has no usable catalog",
    )
    platform: str = Field(default=str(DEFAULT_PLATFORM), description="Platform chosen from multi-arch indexes")
    managed_by: str | None = Field(
        default=None,
        description="The system that registered this integration (Harbor); images are then added there, not by hand",
    )

    @field_validator("platform")
    @classmethod
    def _valid_platform(cls, value: str) -> str:
        Platform.parse(value)
        return value

    @field_validator("repositories")
    @classmethod
    def _valid_repositories(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(
                r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", name
            ):
                raise ValueError(f"{name!r} is not a valid repository name (lower case, / separated)")
        return value


def http_url(value: str | None, example: str) -> str | None:
    """An option's http(s) URL without its trailing slash; None stays None."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL such as {example}")
    return value.rstrip("/")


def comma_list(value: Any) -> Any:
    """A list option given as `a,b` on the command line: split, stripped, empties dropped."""
    return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value


@dataclass(frozen=True)
class RegistryConfig:
    """An integration as an adapter sees it: decrypted, validated, no database ties."""

    type: str
    url: str
    credentials: Credentials | None = None
    tls: TlsSettings = field(default_factory=TlsSettings)
    options: dict[str, Any] = field(default_factory=dict)


def with_username(config: RegistryConfig, username: str) -> RegistryConfig:
    """The config with `username` where a token was given without one (registries that ignore the name still
    need one for Basic)."""
    if config.credentials is None or config.credentials.username:
        return config
    return dataclasses.replace(config, credentials=Credentials(username, config.credentials.secret))


class Rights(enum.StrEnum):
    READ_ONLY = "read-only"
    CAN_WRITE = "can write"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RightsReport:
    verdict: Rights
    detail: str
    recommendation: str = ""


@dataclass(frozen=True)
class ConnectionResult:
    status: ConnectionStatus
    reason: str
    message: str
    hint: str
    checked_at: datetime
    rights: RightsReport | None = None
    url: str | None = None

    @classmethod
    def from_error(cls, error: RegistryError) -> ConnectionResult:
        return cls(error.status, error.reason, error.message, error.hint, datetime.now(UTC), url=error.url)


@dataclass(frozen=True)
class TagRef:
    """A tag as a lister knows it; vendor APIs may already know the digest and push time."""

    name: str
    digest: str | None = None
    pushed: datetime | None = None


@dataclass(frozen=True)
class TagInfo:
    repository: str
    tag: str
    digest: str | None = None
    media_type: str | None = None
    platforms: tuple[str, ...] = ()
    created: datetime | None = None
    created_source: Literal["build", "push"] | None = None
    pushed: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class RepositoryListing:
    name: str
    tags: list[TagInfo] | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)


_SUSPECT_YEARS = (1, 1970)


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 as registries write it (nanoseconds, Z); None for absent or placeholder times."""
    if not isinstance(value, str) or not value:
        return None
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|z|[+-]\d{2}:?\d{2})?", value.strip())
    if not match:
        return None
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]
    zone = "+00:00" if zone in (None, "Z", "z") else zone
    try:
        parsed = datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}").astimezone(UTC)
    except ValueError:
        return None
    return None if parsed.year in _SUSPECT_YEARS else parsed


class RegistryAdapter:
    type_name: ClassVar[str]
    label: ClassVar[str]
    default_url: ClassVar[str | None] = None
    auth_kinds: ClassVar[tuple[AuthKind, ...]] = ("anonymous", "password")
    options_model: ClassVar[type[AdapterOptions]] = AdapterOptions
    least_rights: ClassVar[str] = ""
    has_catalog: ClassVar[bool] = True

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        self.config = config
        username = config.credentials.username if config.credentials else None
        self.options = self.options_model.model_validate(config.options, context={"username": username})
        self.platform = Platform.parse(self.options.platform)
        self.client = RegistryClient(config.url, config.credentials, config.tls, client_options)
        self._manifests: dict[str, ImageManifest | ImageIndex] = {}
        self._configs: dict[str, dict[str, Any]] = {}

    @classmethod
    def validate_options(cls, options: dict[str, Any], username: str | None = None) -> dict[str, Any]:
        """The options as stored; `username` (None: anonymous) lets a type default what the account implies."""
        validated = cls.options_model.model_validate(options, context={"username": username})
        return validated.model_dump(exclude_defaults=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    # ---- connection test --------------------------------------------------------------------

    async def test(self) -> ConnectionResult:
        """Identify the registry, authenticate, make one real read; then report rights."""
        try:
            await self.identify()
            await self.authenticate()
            probe = await self.read_probe()
        except RegistryError as error:
            return ConnectionResult.from_error(error)
        try:
            rights = await self.rights()
        except RegistryError as error:
            rights = RightsReport(Rights.UNKNOWN, f"the rights check failed: {error.message}")
        return ConnectionResult(
            ConnectionStatus.CONNECTED, "ok", probe, "", datetime.now(UTC), rights, self.client.base_url
        )

    async def identify(self) -> None:
        await self.client.ping()

    async def authenticate(self) -> None:
        """Prove the configured credentials before any read, so a bad password is not mistaken
        for missing rights."""
        scheme = self.client.auth_scheme
        if scheme == "bearer":
            await self.client.token([])
        elif scheme == "basic":
            response = await self.client.request("GET", "/v2/")
            await response.aclose()

    async def read_probe(self) -> str:
        """One authenticated read that proves access; returns what was read."""
        repository = await self.first_repository()
        if repository is None:
            return "connected; the registry lists no repositories yet"
        tags = [t async for t in _take(self.client.tags(repository, page_size=10), 10)]
        return f"read {len(tags)} tag(s) of {repository}"

    async def first_repository(self) -> str | None:
        if self.options.repositories:
            return self.options.repositories[0]
        async for name in self.list_repositories(page_size=1):
            return name
        return None

    async def rights(self) -> RightsReport:
        scheme = self.client.auth_scheme
        if scheme is None:
            return RightsReport(
                Rights.UNKNOWN,
                "the registry asks for no authentication, so it has no per-user rights; whether "
                "anonymous pushes are allowed cannot be read without writing",
                "Put the registry behind authentication and give regscout a pull-only account",
            )
        if scheme == "basic":
            return RightsReport(
                Rights.CAN_WRITE,
                "Basic (htpasswd) authentication has no per-user rights: every account that can "
                "pull can also push and delete",
                "Use token authentication with a pull-only account, or a proxy that allows only GET and HEAD",
            )
        return await self.token_rights_probe()

    async def token_rights_probe(self) -> RightsReport:
        """Ask the token service for pull,push,delete on an existing repository and read what
        it grants (it answers with the intersection); nothing is written."""
        repository = await self.first_repository()
        if repository is None:
            return RightsReport(Rights.UNKNOWN, "no repository exists to check rights against")
        token = await self.client.token([f"repository:{repository}:pull,push,delete"], force=True)
        claims = token.claims()
        if not claims:
            return RightsReport(Rights.UNKNOWN, "the registry's tokens are opaque; rights cannot be read")
        actions = granted_actions(claims, "repository", repository)
        excess = sorted(actions - {"pull"})
        if excess:
            return RightsReport(
                Rights.CAN_WRITE,
                f"the token service grants {', '.join(sorted(actions))} on {repository}",
                "regscout only reads: give it an account limited to pull",
            )
        return RightsReport(
            Rights.READ_ONLY, f"the token service grants only {', '.join(sorted(actions)) or 'nothing'} on {repository}"
        )

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for name in self.options.repositories:
                yield name
            return
        async for name in self.client.catalog(page_size):
            yield name

    async def list_tags(self, repository: str) -> list[TagRef]:
        return [TagRef(name) async for name in self.client.tags(repository)]

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """Digest, platforms and creation time of one tag: the manifest, then (for an index) the
        chosen platform's manifest, then its config; each fetched once per digest."""
        try:
            top = await self._manifest(repository, ref.digest or ref.name)
            platforms: tuple[str, ...] = ()
            image: ImageManifest | None = None
            if isinstance(top, ImageIndex):
                platforms = tuple(str(p) for p in top.platforms())
                chosen = top.select(self.platform) or (top.manifests[0] if top.manifests else None)
                if chosen is not None:
                    child = await self._manifest(repository, chosen.digest)
                    image = child if isinstance(child, ImageManifest) else None
            else:
                image = top
            created = None
            if image is not None:
                config = await self._config(repository, image.config.digest)
                created = parse_time(config.get("created"))
                if not platforms and config.get("os") and config.get("architecture"):
                    platforms = (
                        str(
                            Platform(
                                str(config["os"]),
                                str(config["architecture"]),
                                str(config["variant"]) if config.get("variant") else None,
                            )
                        ),
                    )
        except RegistryError as error:
            return TagInfo(repository, ref.name, ref.digest, pushed=ref.pushed, error=error.describe())
        source: Literal["build", "push"] | None = "build" if created else ("push" if ref.pushed else None)
        return TagInfo(
            repository, ref.name, top.digest, top.media_type, platforms, created or ref.pushed, source, ref.pushed
        )

    async def _manifest(self, repository: str, reference: str) -> ImageManifest | ImageIndex:
        cached = self._manifests.get(reference)
        if cached is None:
            cached = await self.client.manifest(repository, reference)
            self._manifests[cached.digest] = cached
        return cached

    async def _config(self, repository: str, digest: str) -> dict[str, Any]:
        cached = self._configs.get(digest)
        if cached is None:
            body = await self.client.blob(repository, digest)
            try:
                loaded = json.loads(body)
            except ValueError as exc:
                raise ProtocolError(f"image config {digest} is not valid JSON") from exc
            cached = loaded if isinstance(loaded, dict) else {}
            self._configs[digest] = cached
        return cached

    async def browse(
        self,
        repositories: list[str] | None = None,
        *,
        with_tags: bool = True,
        concurrency: int | None = None,
    ) -> list[RepositoryListing]:
        names = repositories if repositories is not None else [r async for r in self.list_repositories()]
        if not with_tags:
            return [RepositoryListing(name) for name in names]
        semaphore = asyncio.Semaphore(concurrency or self.client.options.max_connections)

        async def limited(job: Awaitable[T]) -> T:
            async with semaphore:
                return await job

        async def one_repository(name: str) -> RepositoryListing:
            try:
                refs = await limited(self.list_tags(name))
            except RegistryError as error:
                return RepositoryListing(name, error=error.describe())
            infos = await asyncio.gather(*(limited(self.describe(name, ref)) for ref in refs))
            return RepositoryListing(name, sorted(infos, key=lambda info: info.tag))

        return list(await asyncio.gather(*(one_repository(name) for name in names)))

    def pull_scope(self, repository: str) -> str:
        return pull_scope(repository)


async def _take(iterator: AsyncIterator[T], count: int) -> AsyncIterator[T]:
    taken = 0
    async for item in iterator:
        if taken >= count:
            break
        taken += 1
        yield item
