"""GitHub Container Registry (ghcr.io): packages and versions from the GitHub REST API.

ghcr.io offers no /v2/_catalog. The packages of one user or organisation, and each package's
versions, come from the REST API (api.github.com, or https://<host>/api/v3 on GitHub Enterprise
Server). A container package version is one manifest: its `name` is the manifest digest, its
`metadata.container.tags` are the tags pointing at it and its `created_at` is when it was pushed,
so browsing sends no manifest GET. Untagged versions (index children, superseded pushes) are not
tags. The /v2/ traffic still goes to the registry through the shared client.

Rights: a classic token's scopes come back in `X-OAuth-Scopes` on every API response. Fine-grained
and GitHub App tokens (GITHUB_TOKEN included) send no such header; for them the registry's token
service is asked for push and delete, which tells something only where its tokens are readable.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from .auth import granted_actions
from .base import (
    AdapterOptions,
    RegistryAdapter,
    RegistryConfig,
    Rights,
    RightsReport,
    TagInfo,
    TagRef,
    comma_list,
    http_url,
    parse_time,
    with_username,
)
from .distribution import ClientOptions, RegistryClient, retry_after
from .errors import (
    AccessDeniedError,
    AuthenticationError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RegistryError,
    ServerError,
)
from .vendor_api import VendorApi, next_link

API_VERSION = "2022-11-28"
PAGE_SIZE = 100  # the REST API's per_page maximum
PROBE_VERSIONS = 10  # versions read by the connection test to find one tag to HEAD
DEFAULT_USERNAME = "regscout"  # ghcr.io checks the token, not the Basic user name, but Basic needs one
EXCESS_SCOPES = ("write:packages", "delete:packages", "repo")
READ_SCOPES = frozenset({"read:packages", "write:packages"})  # write:packages includes reading
SECONDARY_WAIT = 60.0  # GitHub: "wait for at least one minute" when no header says how long
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_PACKAGE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
# GitHub's documented token prefixes ("GitHub's token formats"), most specific first.
_TOKEN_KINDS = (
    ("github_pat_", "fine-grained personal access token"),
    ("ghp_", "personal access token (classic)"),
    ("gho_", "OAuth app token"),
    ("ghu_", "GitHub App user access token"),
    ("ghs_", "GitHub App installation token (GITHUB_TOKEN in Actions)"),
)
OwnerType = Literal["org", "user"]


class GhcrOptions(AdapterOptions):
    owner: str | None = Field(
        default=None, description="User or organisation whose container packages to list (default: the user name)"
    )
    owner_type: Literal["auto", "org", "user"] = Field(
        default="auto", description="Whether the owner is an organisation or a user; auto asks GET /users/{owner}"
    )
    api_url: str | None = Field(
        default=None,
        description="GitHub REST API base URL (default: https://api.github.com for ghcr.io, "
        "https://<host>/api/v3 for containers.<host> on GitHub Enterprise Server)",
    )
    packages: list[str] = Field(
        default_factory=list, description="Only these packages (names without the owner); needed for GITHUB_TOKEN"
    )

    @field_validator("owner")
    @classmethod
    def _valid_owner(cls, value: str | None) -> str | None:
        if value is not None and not _LOGIN.fullmatch(value):
            raise ValueError(f"{value!r} is not a GitHub user or organisation name (letters, digits, hyphens)")
        return value

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        return http_url(value, "https://api.github.com")

    @field_validator("packages", mode="before")
    @classmethod
    def _split_packages(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("packages")
    @classmethod
    def _valid_packages(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _PACKAGE.fullmatch(name):
                raise ValueError(f"{name!r} is not a container package name (lower case, / separated)")
        return value

    @model_validator(mode="after")
    def _repositories_under_owner(self) -> Self:
        if self.owner is not None:
            prefix = self.owner.lower() + "/"
            outside = [name for name in self.repositories if not name.startswith(prefix)]
            if outside:
                raise ValueError(f"repositories must be under the owner ({prefix}…): {', '.join(outside)}")
        return self


def default_api_url(registry_url: str) -> str | None:
    """The REST API beside a GitHub registry: api.github.com for ghcr.io; on GitHub Enterprise Server
    the registry is containers.<host> and the API https://<host>/api/v3."""
    host = (urlsplit(registry_url).hostname or "").lower()
    if host == "ghcr.io":
        return "https://api.github.com"
    if host.startswith("containers."):
        return f"https://{host.removeprefix('containers.')}/api/v3"
    return None


def token_kind(secret: str) -> str:
    for prefix, kind in _TOKEN_KINDS:
        if secret.startswith(prefix):
            return kind
    return "token of unknown kind"


def _body_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return str(message)[:300] if message else ""


def _rate_limit_wait(headers: httpx.Headers) -> float:
    """Seconds until GitHub takes requests again: Retry-After, else the window's reset (epoch
    seconds) when nothing remains, else the minute GitHub asks for after a secondary limit."""
    told = retry_after(headers)
    if told is not None:
        return told
    reset = headers.get("x-ratelimit-reset", "").strip()
    if headers.get("x-ratelimit-remaining", "").strip() == "0" and reset.isdigit():
        return max(0.0, float(reset) - time.time())
    return SECONDARY_WAIT


def _rate_limited(response: httpx.Response, message: str) -> bool:
    return response.status_code == 429 or (
        response.status_code == 403
        and (response.headers.get("x-ratelimit-remaining", "").strip() == "0" or "rate limit" in message.lower())
    )


def github_error(response: httpx.Response, url: str) -> RegistryError:
    """One GitHub REST error as a regscout error, from the status, the body's `message` and the
    rate-limit and SSO headers."""
    status, headers = response.status_code, response.headers
    message = _body_message(response)
    said = f": {message}" if message else ""
    if _rate_limited(response, message):
        wait = _rate_limit_wait(headers)
        return RateLimitedError(
            f"the GitHub API is rate limiting this token (HTTP {status}{said}); it takes requests again in "
            f"{wait:.0f} s",
            url=url,
            http_status=status,
            retry_after=wait,
            hint=f"Wait {wait:.0f} s (x-ratelimit-reset), use a token of its own for regscout, or lower concurrency",
        )
    if status == 401:
        return AuthenticationError(
            f"GitHub rejected the token (HTTP 401{said})",
            url=url,
            http_status=401,
            hint="Give a current token: check that it was copied whole and has not expired or been revoked",
        )
    if status == 403:
        return _forbidden(headers, message, url)
    if status == 404:
        return NotFoundError(f"GitHub answered HTTP 404{said}", url=url, http_status=404)
    if status >= 500:
        return ServerError(f"the GitHub API answered HTTP {status}{said}", url=url, http_status=status)
    return ProtocolError(f"the GitHub API answered HTTP {status}{said}", url=url, http_status=status)


def _forbidden(headers: httpx.Headers, message: str, url: str) -> AccessDeniedError:
    said = f": {message}" if message else ""
    sso = headers.get("x-github-sso", "")
    if sso.lower().startswith("required"):
        found = re.search(r"url=(\S+)", sso)
        page = urlsplit(found.group(1)) if found else None
        where = f" ({page.scheme}://{page.netloc}{page.path})" if page else ""
        return AccessDeniedError(
            f"the organisation enforces SAML single sign-on and the token is not authorised for it (HTTP 403{said})",
            url=url,
            http_status=403,
            reason="sso_required",
            hint="Authorise the token for the organisation's SSO: GitHub → Settings → Developer settings → "
            f"Personal access tokens → Configure SSO → Authorize{where}",
        )
    if "read:packages" in message:
        return AccessDeniedError(
            f"the token lacks the read:packages scope (HTTP 403{said})",
            url=url,
            http_status=403,
            reason="missing_scope",
            hint="Give the personal access token (classic) the read:packages scope, and no write scopes",
        )
    if "not accessible by" in message.lower():
        return AccessDeniedError(
            f"the GitHub Packages API does not accept this kind of token here (HTTP 403{said})",
            url=url,
            http_status=403,
            reason="token_not_accepted",
            hint="Use a personal access token (classic) with read:packages: GitHub Packages accepts only classic "
            "tokens, and GITHUB_TOKEN cannot list packages (name them with -o packages=...)",
        )
    return AccessDeniedError(
        f"GitHub denied access (HTTP 403{said})",
        url=url,
        http_status=403,
        hint="The account behind the token needs read access to the packages (package settings → Manage access)",
    )


class GitHubRegistryClient(RegistryClient):
    """The shared client, classifying GitHub API errors from what only the response shows (the
    body's message, X-GitHub-SSO, the x-ratelimit headers)."""

    api_origin: tuple[str, str] | None = None

    def _status_error(self, response: httpx.Response, url: str) -> RegistryError:
        if self.api_origin is not None and urlsplit(url)[:2] == self.api_origin:
            return github_error(response, url)
        return super()._status_error(response, url)


@dataclass(frozen=True)
class Scopes:
    """What the API responses said about the token's scopes; `values` None = no X-OAuth-Scopes header."""

    values: frozenset[str] | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Scopes:
        if "x-oauth-scopes" not in headers:
            return cls(None)
        return cls(frozenset(s.strip() for s in headers["x-oauth-scopes"].split(",") if s.strip()))


class GhcrRegistry(RegistryAdapter):
    type_name = "ghcr"
    label = "GitHub Container Registry (ghcr.io, GitHub Enterprise Server)"
    default_url = "https://ghcr.io"
    auth_kinds = ("password", "token")
    options_model = GhcrOptions
    has_catalog = False
    least_rights = (
        "A personal access token (classic) with only the `read:packages` scope (not `write:packages`, "
        "`delete:packages` or `repo`), authorised for SAML SSO where the organisation enforces it; the account "
        "needs read access to the packages. Fine-grained tokens are not accepted by GitHub Packages; "
        "`GITHUB_TOKEN` needs `permissions: packages: read` and the packages named."
    )
    options: GhcrOptions
    client: GitHubRegistryClient

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        config = with_username(config, DEFAULT_USERNAME)
        super().__init__(config, client_options)
        self.api_url = self.options.api_url or default_api_url(config.url)
        # The base class built a plain client; this one keeps GitHub's error detail.
        self.client = GitHubRegistryClient(config.url, config.credentials, config.tls, client_options)
        if self.api_url is not None:
            self.client.api_origin = urlsplit(self.api_url)[:2]
        self._owner_type: OwnerType | None = None if self.options.owner_type == "auto" else self.options.owner_type
        self._owner_lock = asyncio.Lock()  # browse lists packages concurrently: look the owner up once
        self._api = VendorApi(self.client, self.api_url, self._api_headers, name="GitHub") if self.api_url else None
        self._scopes: Scopes | None = None
        self._tags: dict[str, dict[str, TagRef]] = {}

    # ---- REST API ---------------------------------------------------------------------------

    @property
    def api(self) -> VendorApi:
        if self._api is None:
            raise RegistryError(
                f"no GitHub API is known for {self.client.base_url}",
                reason="api_url_required",
                hint="Set -o api_url=https://<GitHub host>/api/v3 (https://api.github.com for ghcr.io)",
            )
        return self._api

    async def _api_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self.config.credentials is not None:
            headers["Authorization"] = f"Bearer {self.config.credentials.secret.reveal()}"
        return headers

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, httpx.Headers]:
        data, headers = await self.api.get(path, params)
        self._scopes = Scopes.from_headers(headers)
        return data, headers

    async def _pages(self, path: str, params: Mapping[str, Any], page_size: int = PAGE_SIZE) -> AsyncIterator[Any]:
        """Every item of a GitHub list: `per_page` items a page, following `Link: rel="next"`. GitHub
        sends it on every page but the last, so a full last page costs no extra request."""
        url: str | None = self.api.url(path, {**params, "per_page": page_size})
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise ProtocolError("the GitHub API's pagination loops", url=url)
            seen.add(url)
            data, headers = await self._get(url)
            if not isinstance(data, list):
                raise ProtocolError("the GitHub API answered a list request with something that is not a list", url=url)
            for item in data:
                yield item
            following = next_link(headers)
            url = urljoin(url, following) if following else None

    @property
    def owner(self) -> str:
        if self.options.owner:
            return self.options.owner
        credentials = self.config.credentials
        if credentials is not None and credentials.username and credentials.username != DEFAULT_USERNAME:
            return credentials.username
        raise RegistryError(
            "no GitHub owner to list packages of",
            reason="owner_required",
            hint="Set the owner option (-o owner=<user or organisation>)",
        )

    @property
    def namespace(self) -> str:
        """The owner as ghcr.io spells it in repository names (lower case)."""
        return self.owner.lower()

    def _owner_missing(self, error: RegistryError) -> NotFoundError:
        return NotFoundError(
            f"GitHub owner {self.owner} does not exist or is not visible to this token",
            url=error.url,
            http_status=error.http_status,
            reason="owner_not_found",
            hint="Check the owner option (the user or organisation name) and owner_type (org or user)",
        )

    async def owner_type(self) -> OwnerType:
        async with self._owner_lock:
            if self._owner_type is None:
                try:
                    data, _ = await self._get(f"/users/{quote(self.owner, safe='')}")
                except NotFoundError as error:
                    raise self._owner_missing(error) from None
                kind = data.get("type") if isinstance(data, dict) else None
                self._owner_type = "org" if kind == "Organization" else "user"
            return self._owner_type

    async def _owner_path(self) -> str:
        """/orgs/{org}, /user for the token's own account (its private packages included), else /users/{user}."""
        if await self.owner_type() == "org":
            return f"/orgs/{quote(self.owner, safe='')}"
        credentials = self.config.credentials
        if credentials is not None and credentials.username.lower() == self.namespace:
            return "/user"
        return f"/users/{quote(self.owner, safe='')}"

    def _package(self, repository: str) -> str:
        prefix = self.namespace + "/"
        if not repository.startswith(prefix):
            raise NotFoundError(
                f"{repository} is not a package of {self.owner}",
                reason="package_not_found",
                hint=f"Repositories of this integration are named {prefix}<package>",
            )
        return repository.removeprefix(prefix)

    async def _versions_path(self, repository: str) -> str:
        return f"{await self._owner_path()}/packages/container/{quote(self._package(repository), safe='')}/versions"

    def _package_missing(self, repository: str, error: RegistryError) -> NotFoundError:
        return NotFoundError(
            f"package {self._package(repository)} of {self.owner} does not exist or is not visible to this token",
            url=error.url,
            http_status=error.http_status,
            reason="package_not_found",
            hint="Check the packages option; a private package needs read access for the token's account",
        )

    async def _packages(self, page_size: int = PAGE_SIZE) -> AsyncIterator[str]:
        path = f"{await self._owner_path()}/packages"
        try:
            async for item in self._pages(path, {"package_type": "container"}, page_size):
                name = item.get("name") if isinstance(item, dict) else None
                if isinstance(name, str) and name:
                    yield name
        except NotFoundError as error:
            raise self._owner_missing(error) from None

    async def _versions(self, repository: str, page_size: int = PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
        try:
            async for item in self._pages(await self._versions_path(repository), {}, page_size):
                if isinstance(item, dict):
                    yield item
        except NotFoundError as error:
            raise self._package_missing(repository, error) from None

    # ---- connection test --------------------------------------------------------------------

    async def authenticate(self) -> None:
        await self._owner_path()  # the first API call: a bad token or unknown owner shows here
        await super().authenticate()

    async def read_probe(self) -> str:
        owner = f"{self.owner} ({'organisation' if await self.owner_type() == 'org' else 'user'})"
        if self.options.repositories or self.options.packages:
            repository = await self.first_repository()
            assert repository is not None
            where = f"package {self._package(repository)} of {owner}"
        else:
            listed, repository = await self._count_packages()
            if repository is None:
                return f"{owner}: no container packages yet"
            where = f"{owner}: {listed} container package(s) visible"
        text = where + await self._probe_registry(repository)
        if self._scopes is not None and self._scopes.values is None:
            text += "; the token reports no scopes (not a classic token)"
        return text

    async def _count_packages(self) -> tuple[int, str | None]:
        """One page of one package: the first name, and the count from the last page's number."""
        path = f"{await self._owner_path()}/packages"
        try:
            data, headers = await self._get(path, {"package_type": "container", "per_page": 1})
        except NotFoundError as error:
            raise self._owner_missing(error) from None
        items = data if isinstance(data, list) else []
        names = [i["name"] for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)]
        if not names:
            return 0, None
        return _last_page(headers) or len(names), f"{self.namespace}/{names[0]}"

    async def _probe_registry(self, repository: str) -> str:
        """HEAD one tagged version's manifest: the registry lets these credentials pull."""
        read = 0
        async for version in self._versions(repository, PROBE_VERSIONS):
            refs = _version_tags(version)
            if refs:
                await self.client.head_manifest(repository, refs[0].name)
                return f"; read {repository}:{refs[0].name} from the registry (HEAD)"
            read += 1
            if read >= PROBE_VERSIONS:
                break  # one page: the test stays cheap however many untagged versions there are
        return f"; {repository} has no tag among its {read} newest version(s)"

    async def rights(self) -> RightsReport:
        login, scopes = await self._whoami()
        who = f"{login}'s " if login else "the "
        if scopes.values is not None:
            return _scope_report(who, scopes.values)
        credentials = self.config.credentials
        kind = token_kind(credentials.secret.reveal()) if credentials is not None else "request without a token"
        return await self._registry_rights(kind)

    async def _whoami(self) -> tuple[str | None, Scopes]:
        """The token's account (GET /user) and the scopes its response reports. App installation
        tokens may not read /user; the scopes header is then taken from the earlier calls."""
        try:
            data, headers = await self._get("/user")
        except AccessDeniedError:
            return None, self._scopes or Scopes(None)
        login = data.get("login") if isinstance(data, dict) else None
        return (login if isinstance(login, str) else None), Scopes.from_headers(headers)

    async def _registry_rights(self, kind: str) -> RightsReport:
        """No scopes to read: ask the registry's token service for push and delete on a package (it
        grants what the token may do; nothing is written). Its answer tells something only when its
        tokens are readable JWTs, or when it refuses."""
        unknown = f"GitHub reports no scopes for a {kind}"
        advice = _advice(kind)
        repository = await self.first_repository()
        if repository is None:
            return RightsReport(Rights.UNKNOWN, f"{unknown}, and there is no package to ask the registry about", advice)
        try:
            token = await self.client.token([f"repository:{repository}:pull,push,delete"], force=True)
        except (AuthenticationError, AccessDeniedError):
            return RightsReport(
                Rights.UNKNOWN,
                f"{unknown}; the registry refused a push/delete token for {repository}, which suggests no write "
                "right there, but its rights on other packages cannot be read",
                advice,
            )
        except ProtocolError:
            return RightsReport(Rights.UNKNOWN, f"{unknown}, and the registry issues no bearer tokens to ask", advice)
        claims = token.claims()
        if not claims:
            return RightsReport(Rights.UNKNOWN, f"{unknown}, and the registry's tokens are opaque", advice)
        actions = granted_actions(claims, "repository", repository)
        granted = ", ".join(sorted(actions)) or "nothing"
        if actions - {"pull"}:
            return RightsReport(
                Rights.CAN_WRITE, f"the registry grants {granted} on {repository} to this {kind} ({unknown})", advice
            )
        return RightsReport(
            Rights.READ_ONLY,
            f"the registry grants only {granted} on {repository} to this {kind} ({unknown}; other packages "
            "were not asked)",
        )

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for name in self.options.repositories:
                yield name
            return
        if self.options.packages:
            for package in self.options.packages:
                yield f"{self.namespace}/{package}"
            return
        async for package in self._packages(max(1, min(page_size, PAGE_SIZE))):
            yield f"{self.namespace}/{package}"

    async def list_tags(self, repository: str) -> list[TagRef]:
        tags: dict[str, TagRef] = {}
        async for version in self._versions(repository):
            for ref in _version_tags(version):
                known = tags.get(ref.name)
                if known is None or (ref.pushed and known.pushed and ref.pushed > known.pushed):
                    tags[ref.name] = ref
        self._tags[repository] = tags
        return list(tags.values())

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """From the package version: its digest and push time. The manifest is read only for a tag
        the API does not know."""
        if ref.digest is None:
            try:
                if repository not in self._tags:
                    await self.list_tags(repository)
            except RegistryError as error:
                return TagInfo(repository, ref.name, error=error.describe())
            ref = self._tags[repository].get(ref.name, ref)
        if ref.digest is None:
            return await super().describe(repository, ref)
        return TagInfo(
            repository,
            ref.name,
            ref.digest,
            created=ref.pushed,
            created_source="push" if ref.pushed else None,
            pushed=ref.pushed,
        )


def _version_tags(version: dict[str, Any]) -> list[TagRef]:
    """The tags of one container package version; none for an untagged one."""
    digest = version.get("name")
    metadata = version.get("metadata")
    container = metadata.get("container") if isinstance(metadata, dict) else None
    tags = container.get("tags") if isinstance(container, dict) else None
    if not isinstance(digest, str) or not digest.startswith("sha256:") or not isinstance(tags, list):
        return []
    pushed = parse_time(version.get("created_at"))
    return [TagRef(tag, digest, pushed) for tag in tags if isinstance(tag, str) and tag]


def _last_page(headers: httpx.Headers) -> int | None:
    for value in headers.get_list("link"):
        for target, params in re.findall(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)", value):
            if re.search(r'rel\s*=\s*"?[^"]*\blast\b', params):
                page = parse_qs(urlsplit(target).query).get("page", [""])[0]
                return int(page) if page.isdigit() else None
    return None


def _scope_report(who: str, scopes: frozenset[str]) -> RightsReport:
    listed = ", ".join(sorted(scopes)) or "none"
    excess = [scope for scope in EXCESS_SCOPES if scope in scopes]
    if excess:
        return RightsReport(
            Rights.CAN_WRITE,
            f"{who}personal access token (classic) holds {', '.join(excess)} (X-OAuth-Scopes: {listed})",
            "regscout only reads: create a personal access token (classic) with only read:packages and replace "
            "this one",
        )
    if not READ_SCOPES & scopes:
        return RightsReport(
            Rights.READ_ONLY,
            f"{who}token holds no package scope (X-OAuth-Scopes: {listed}); it cannot read private packages",
            "Add the read:packages scope",
        )
    return RightsReport(Rights.READ_ONLY, f"{who}personal access token (classic) holds only {listed}")


def _advice(kind: str) -> str:
    if kind.startswith("GitHub App installation"):
        return "In the workflow, grant `permissions: packages: read` only (no packages: write)"
    return (
        "Use a personal access token (classic) with only read:packages: GitHub reports a classic token's scopes, "
        "so regscout can check them"
    )
