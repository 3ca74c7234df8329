"""Docker Hub: listing and tag data from the Hub API, so browsing costs no pulls.

Docker Hub has no catalog. Repositories and tags come from the Hub API (hub.docker.com); digests,
platforms and push times come from the Hub's tag data, so browsing a namespace sends no manifest
GET (a GET counts against the pull limit, a HEAD does not). The /v2/ traffic still goes to the
registry (registry-1.docker.io) through the shared client.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from ..secrets import Secret
from .base import AdapterOptions, RegistryAdapter, RegistryConfig, TagInfo, TagRef, parse_time
from .distribution import ClientOptions
from .errors import AuthenticationError, NotFoundError, ProtocolError, RegistryError
from .manifest import Platform

HUB_PAGE_SIZE = 100  # the documented maximum for tag pages
_NAMESPACE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


class DockerHubOptions(AdapterOptions):
    namespace: str | None = Field(
        default=None, description="User or organisation whose repositories to list (default: the user name)"
    )
    hub_url: str = Field(default="https://hub.docker.com", description="Docker Hub API base URL")

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, value: str | None) -> str | None:
        if value is not None and not _NAMESPACE.fullmatch(value):
            raise ValueError(f"{value!r} is not a Docker Hub namespace (lower-case user or organisation name)")
        return value

    @field_validator("hub_url")
    @classmethod
    def _valid_hub_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


@dataclass(frozen=True)
class HubTag:
    """What the Hub API knows about a tag: enough to describe it without pulling."""

    name: str
    digest: str | None
    media_type: str | None
    platforms: tuple[str, ...]
    pushed: datetime | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> HubTag | None:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            return None
        images = [i for i in item.get("images") or [] if isinstance(i, dict)]
        platforms: list[str] = []
        for image in images:
            os_name, arch = image.get("os"), image.get("architecture")
            # Attestation manifests show up as unknown/unknown: they are not platforms.
            if isinstance(os_name, str) and isinstance(arch, str) and "unknown" not in (os_name, arch):
                variant = image.get("variant")
                text = str(Platform(os_name, arch, variant if isinstance(variant, str) and variant else None))
                if text not in platforms:
                    platforms.append(text)
        digest = item.get("digest")
        if not isinstance(digest, str) or not digest:
            single = images[0].get("digest") if len(images) == 1 else None
            digest = single if isinstance(single, str) and single else None
        media_type = item.get("media_type")
        pushed = parse_time(item.get("tag_last_pushed")) or parse_time(item.get("last_updated"))
        return cls(name, digest, media_type if isinstance(media_type, str) else None, tuple(platforms), pushed)


class DockerHubRegistry(RegistryAdapter):
    type_name = "docker-hub"
    label = "Docker Hub"
    default_url = "https://registry-1.docker.io"
    auth_kinds = ("anonymous", "password", "token")
    options_model = DockerHubOptions
    has_catalog = False
    least_rights = (
        "A personal access token with the scope `Repo Read-only` (`Repo Public Read-only` if only public "
        "images are watched), or an organisation access token (user name = the organisation name) with "
        "pull on the repositories and `scope-repository-list`."
    )
    options: DockerHubOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        super().__init__(config, client_options)
        self._hub_token: Secret | None = None
        self._hub_lock = asyncio.Lock()
        self._tags: dict[tuple[str, str], HubTag] = {}

    # ---- Hub API ----------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        if self.options.namespace:
            return self.options.namespace
        if self.config.credentials and self.config.credentials.username:
            return self.config.credentials.username.lower()
        raise RegistryError(
            "no Docker Hub namespace to list",
            reason="namespace_required",
            hint="Set the namespace option (-o namespace=<user or organisation>); anonymous access has no user name",
        )

    async def _hub_headers(self) -> dict[str, str]:
        credentials = self.config.credentials
        if credentials is None:
            return {}
        async with self._hub_lock:
            if self._hub_token is None:
                self._hub_token = await self._hub_login()
            return {"Authorization": f"Bearer {self._hub_token.reveal()}"}

    async def _hub_login(self) -> Secret:
        credentials = self.config.credentials
        assert credentials is not None
        url = f"{self.options.hub_url}/v2/auth/token"
        body = {"identifier": credentials.username, "secret": credentials.secret.reveal()}
        try:
            data, _ = await self.client.api_json("POST", url, json_body=body)
        except RegistryError as error:
            if error.http_status in (401, 403):
                raise AuthenticationError(
                    f"Docker Hub rejected the credentials of {credentials.username!r} (HTTP {error.http_status})",
                    url=url,
                    http_status=error.http_status,
                    hint="Check the user name (the organisation name for an organisation access token) and the "
                    "password or access token; with SSO enforced only an access token works",
                ) from None
            raise
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise ProtocolError("Docker Hub answered the login without an access_token", url=url)
        return Secret(token)

    async def _hub_get(self, url: str) -> dict[str, Any]:
        relogged = False
        while True:
            headers = await self._hub_headers()
            try:
                data, _ = await self.client.api_json("GET", url, headers=headers)
            except RegistryError as error:
                if error.http_status == 401 and headers and not relogged:
                    # Hub access tokens live 10 minutes; a long browse outlives one.
                    relogged = True
                    async with self._hub_lock:
                        self._hub_token = None
                    continue
                raise
            if not isinstance(data, dict):
                raise ProtocolError("the Docker Hub API answered with something that is not an object", url=url)
            return data

    async def _hub_pages(self, url: str) -> AsyncIterator[dict[str, Any]]:
        """Every `results` entry, following the absolute `next` URL, which must stay on the Hub
        API's origin since the Hub token goes with it."""
        origin = urlsplit(self.options.hub_url)[:2]
        seen: set[str] = set()
        next_url: str | None = url
        while next_url is not None:
            if next_url in seen:
                raise ProtocolError("the Docker Hub API's pagination loops", url=next_url)
            seen.add(next_url)
            page = await self._hub_get(next_url)
            for item in page.get("results") or []:
                if isinstance(item, dict):
                    yield item
            following = page.get("next")
            if isinstance(following, str) and following:
                if urlsplit(following)[:2] != origin:
                    raise ProtocolError("the Docker Hub API sent a next page on another origin", url=following)
                next_url = following
            else:
                next_url = None

    def _split(self, repository: str) -> tuple[str, str]:
        namespace, _, name = repository.partition("/")
        return ("library", namespace) if not name else (namespace, name)

    def _repositories_url(self, namespace: str, page_size: int) -> str:
        return f"{self.options.hub_url}/v2/namespaces/{quote(namespace)}/repositories?page_size={page_size}"

    def _tags_url(self, repository: str, page_size: int = HUB_PAGE_SIZE) -> str:
        namespace, name = self._split(repository)
        return (
            f"{self.options.hub_url}/v2/namespaces/{quote(namespace)}/repositories/{quote(name, safe='')}"
            f"/tags?page_size={page_size}"
        )

    def _namespace_missing(self, namespace: str, error: RegistryError) -> NotFoundError:
        return NotFoundError(
            f"namespace {namespace} does not exist or is not visible",
            url=error.url,
            http_status=error.http_status,
            hint="Check the namespace option; a private namespace needs the credentials of a member with "
            "repository-list rights",
        )

    # ---- connection test --------------------------------------------------------------------

    async def authenticate(self) -> None:
        await self._hub_headers()
        await super().authenticate()

    async def read_probe(self) -> str:
        namespace = self.namespace
        try:
            page = await self._hub_get(self._repositories_url(namespace, 1))
        except NotFoundError as error:
            raise self._namespace_missing(namespace, error) from None
        count = page.get("count")
        text = f"namespace {namespace}: {count if isinstance(count, int) else 'some'} repositories visible"
        if count == 0 and self.config.credentials is not None:
            text += " (an organisation access token without scope-repository-list sees only public ones)"
        first = next((i.get("name") for i in page.get("results") or [] if isinstance(i, dict)), None)
        if isinstance(first, str) and first:
            text += await self._probe_registry(f"{namespace}/{first}")
        remaining = self.client.rate_limit.remaining
        if remaining:
            text += f"; pull rate limit remaining: {remaining}"
        return text

    async def _probe_registry(self, repository: str) -> str:
        """HEAD one tag's manifest: proves the registry lets these credentials pull, shows the pull
        rate limit headers, and, being a HEAD, does not count as a pull."""
        page = await self._hub_get(self._tags_url(repository, 1))
        tag = next((HubTag.from_api(i) for i in page.get("results") or [] if isinstance(i, dict)), None)
        if tag is None:
            return f"; {repository} has no tags yet"
        await self.client.head_manifest(repository, tag.name)
        return f"; read {repository}:{tag.name} from the registry (HEAD, not counted as a pull)"

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for configured in self.options.repositories:
                yield "/".join(self._split(configured))
            return
        namespace = self.namespace
        url = self._repositories_url(namespace, max(1, min(page_size, HUB_PAGE_SIZE)))
        try:
            async for item in self._hub_pages(url):
                name = item.get("name")
                if isinstance(name, str) and name:
                    yield f"{namespace}/{name}"
        except NotFoundError as error:
            raise self._namespace_missing(namespace, error) from None

    async def list_tags(self, repository: str) -> list[TagRef]:
        refs: list[TagRef] = []
        try:
            async for item in self._hub_pages(self._tags_url(repository)):
                tag = HubTag.from_api(item)
                if tag is not None:
                    self._tags[(repository, tag.name)] = tag
                    refs.append(TagRef(tag.name, tag.digest, tag.pushed))
        except NotFoundError as error:
            raise NotFoundError(
                f"repository {repository} does not exist on Docker Hub or is not visible",
                url=error.url,
                http_status=error.http_status,
                hint="Check the repository name; private repositories need read access",
            ) from None
        return refs

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """From the Hub's tag data; a HEAD (free) only when the Hub does not know the digest."""
        try:
            tag = self._tags.get((repository, ref.name)) or await self._fetch_tag(repository, ref.name)
            digest, media_type = tag.digest, tag.media_type
            if digest is None:
                digest, head_type = await self.client.head_manifest(repository, ref.name)
                media_type = media_type or head_type
        except RegistryError as error:
            return TagInfo(repository, ref.name, ref.digest, pushed=ref.pushed, error=error.describe())
        pushed = tag.pushed or ref.pushed
        return TagInfo(
            repository,
            ref.name,
            digest,
            media_type,
            tag.platforms,
            pushed,
            "push" if pushed else None,
            pushed,
        )

    async def _fetch_tag(self, repository: str, tag: str) -> HubTag:
        namespace, name = self._split(repository)
        url = (
            f"{self.options.hub_url}/v2/namespaces/{quote(namespace)}/repositories/{quote(name, safe='')}"
            f"/tags/{quote(tag, safe='')}"
        )
        parsed = HubTag.from_api(await self._hub_get(url))
        if parsed is None:
            raise ProtocolError(f"the Docker Hub API described tag {tag} without a name", url=url)
        self._tags[(repository, tag)] = parsed
        return parsed
