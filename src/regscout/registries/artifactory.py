"""JFrog Artifactory (self-hosted and SaaS) and JFrog Container Registry, listed through the Artifactory REST API.

Docker repositories come from `GET /api/repositories?packageType=docker`. Local and federated ones are listed and
scanned; remote and virtual ones are listed and marked, and scanned only when the `scan_remote` option names them.
Images come from the Docker REST API of each repository (`/api/docker/{key}/v2/_catalog`, then
`…/{image}/tags/list`), digests and push times from one AQL query per repository (its `manifest.json` and
`list.manifest.json` items), so browsing sends no manifest GET for a single-platform image. The /v2/ traffic goes to
the Docker endpoint of the configured access method (repository path, subdomain or port). Rights come from the access
token's scope, an admin-only GET and the effective item permissions (which need Manage).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Self
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from .auth import Credentials, jwt_claims
from .base import (
    AdapterOptions,
    RegistryAdapter,
    RegistryConfig,
    RepositoryListing,
    Rights,
    RightsReport,
    TagInfo,
    TagRef,
    comma_list,
    http_url,
    parse_time,
)
from .distribution import ClientOptions, RegistryClient, pull_scope
from .errors import (
    AccessDeniedError,
    AuthenticationError,
    NotARegistryError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RegistryError,
    ServerError,
)
from .manifest import ImageIndex, ImageManifest
from .vendor_api import VendorApi

AccessMethod = Literal["repository_path", "subdomain", "port"]
ApiAuth = Literal["auto", "basic", "bearer", "api_key"]

TAGS_PAGE = 100  # Docker API tags per request: the bench target is one vendor request per 100 tags
CATALOG_PAGE = 1000
AQL_PAGE = 1000  # artifactory.search.userQueryLimit, the default cap on a non-admin user's AQL results
RIGHTS_PROBES = 5  # repositories whose item permissions are asked for
MANIFEST_FILES = ("manifest.json", "list.manifest.json")
SCANNED_TYPES = frozenset({"local", "federated"})
ADMIN_SCOPE = "applied-permissions/admin"
GROUPS_SCOPE = "applied-permissions/groups:"
PERMISSION_NAMES = {
    "r": "Read",
    "n": "Annotate",
    "w": "Deploy/Cache",
    "d": "Delete/Overwrite",
    "m": "Manage",
    "mxm": "Manage Xray Metadata",
}
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOST_LABELS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not an Artifactory repository key (letters, digits, '.', '_', '-')")
    return key


class ArtifactoryOptions(AdapterOptions):
    access_method: AccessMethod = Field(
        default="repository_path",
        description="How Artifactory serves Docker: repository_path (host/<repoKey>/<image>), "
        "subdomain (<repoKey>.host/<image>) or port (host:<port>/<image>)",
    )
    api_url: str | None = Field(
        default=None, description="Artifactory REST API base (default https://<host>/artifactory)"
    )
    subdomain_host: str | None = Field(
        default=None, description="subdomain method: the Docker host of a repository, with {repo} for its key"
    )
    ports: dict[str, int] = Field(default_factory=dict, description="port method: repository key -> Docker port")
    port_repository: str | None = Field(
        default=None, description="port method: the one repository key the URL's own port serves"
    )
    repository_keys: list[str] = Field(
        default_factory=list, description="Docker repositories to list (default: every one the credential can read)"
    )
    scan_remote: list[str] = Field(
        default_factory=list, description="Remote or virtual repository keys to list and scan (default: none)"
    )
    api_auth: ApiAuth = Field(
        default="auto",
        description="REST API auth: basic (user + password or token), bearer (access token), api_key "
        "(X-JFrog-Art-Api, deprecated), auto (bearer or api_key without a user name, else basic)",
    )

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        return http_url(value, "https://artifactory.example.com/artifactory")

    @field_validator("subdomain_host")
    @classmethod
    def _valid_subdomain_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.count("{repo}") != 1:
            raise ValueError(f"{value!r} must hold {{repo}} once, e.g. {{repo}}.artifactory.example.com")
        if not _HOST_LABELS.fullmatch(value.replace("{repo}", "repo")):
            raise ValueError(f"{value!r} is not a host name pattern (no scheme, port or path)")
        return value.lower()

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, value: dict[str, int]) -> dict[str, int]:
        for key, port in value.items():
            _check_key(key)
            if not 1 <= port <= 65535:
                raise ValueError(f"port {port} of repository {key!r} is not between 1 and 65535")
        if len(set(value.values())) != len(value):
            raise ValueError("each repository needs its own port")
        return value

    @field_validator("port_repository")
    @classmethod
    def _valid_port_repository(cls, value: str | None) -> str | None:
        return None if value is None else _check_key(value)

    @field_validator("repository_keys", "scan_remote", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("repository_keys", "scan_remote")
    @classmethod
    def _valid_keys(cls, value: list[str]) -> list[str]:
        return [_check_key(key) for key in value]

    @model_validator(mode="after")
    def _method_settings(self) -> Self:
        method = self.access_method
        if self.subdomain_host is not None and method != "subdomain":
            raise ValueError("subdomain_host is only used with access_method=subdomain")
        if (self.ports or self.port_repository) and method != "port":
            raise ValueError("ports and port_repository are only used with access_method=port")
        if method == "port" and not (self.ports or self.port_repository):
            raise ValueError(
                "access_method=port needs ports (a map of repository key to port) or port_repository "
                "(the key the URL's port serves)"
            )
        for name in self.repositories:
            if "/" not in name:
                raise ValueError(f"repository {name!r} must be <repoKey>/<image>")
        return self


@dataclass(frozen=True)
class DockerRepository:
    """A Docker repository as GET /api/repositories lists it."""

    key: str
    type: str  # local, remote, virtual or federated
    url: str | None

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> DockerRepository | None:
        key, kind = item.get("key"), item.get("type") or item.get("rclass")
        if not isinstance(key, str) or not key or not isinstance(kind, str):
            return None
        url = item.get("url")
        return cls(key, kind.lower(), url if isinstance(url, str) and url else None)

    @property
    def aql_repo(self) -> str | None:
        """The repository whose items AQL holds: a remote repository's are in its -cache; a virtual one has none."""
        if self.type == "virtual":
            return None
        return f"{self.key}-cache" if self.type == "remote" else self.key


@dataclass(frozen=True)
class ManifestItem:
    """A tag's manifest file in Artifactory's storage: its sha256 is the manifest digest."""

    digest: str
    pushed: datetime | None
    index: bool


def manifest_items(results: list[Any]) -> dict[tuple[str, str], ManifestItem]:
    """(image, tag) -> item from AQL results; the per-platform children of an index (`<image>/sha256__<hex>`)
    are not tags and are left out."""
    items: dict[tuple[str, str], ManifestItem] = {}
    for row in results:
        if not isinstance(row, dict):
            continue
        path, name, sha = row.get("path"), row.get("name"), row.get("sha256")
        if not isinstance(path, str) or name not in MANIFEST_FILES or not isinstance(sha, str):
            continue
        image, _, tag = path.rpartition("/")
        if not image or not tag or tag.startswith(("sha256__", "sha256:")) or not _SHA256.fullmatch(sha):
            continue
        times = [t for t in (parse_time(row.get("created")), parse_time(row.get("modified"))) if t is not None]
        item = ManifestItem(f"sha256:{sha}", max(times) if times else None, name == "list.manifest.json")
        known = items.get((image, tag))
        if known is None or (item.pushed and (known.pushed is None or item.pushed > known.pushed)):
            items[(image, tag)] = item
    return items


def aql_query(repo: str, offset: int, limit: int) -> str:
    criteria = {"repo": repo, "$or": [{"name": name} for name in MANIFEST_FILES]}
    # Non-admin users must include repo, path and name; sorting keeps offset pages stable.
    return (
        f"items.find({json.dumps(criteria)})"
        '.include("repo","path","name","created","modified","sha256")'
        '.sort({"$asc":["path","name"]})'
        f".offset({offset}).limit({limit})"
    )


def _looks_like_token(secret: str) -> bool:
    """JFrog access tokens are JWTs ("eyJ…"); reference tokens start with base64("reftkn")."""
    return secret.startswith(("eyJ", "cmVmdGtu"))


def token_user(claims: Mapping[str, Any]) -> str | None:
    """The user of a JFrog access token: its subject is `jfac@<id>/users/<name>` (older: `jfrt@…`)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or "/users/" not in subject:
        return None
    return subject.rsplit("/users/", 1)[1] or None


def token_groups(scopes: list[str]) -> list[str]:
    groups: list[str] = []
    for scope in scopes:
        if scope.startswith(GROUPS_SCOPE):
            groups += [g.strip('"') for g in scope[len(GROUPS_SCOPE) :].split(",") if g.strip('"')]
    return groups


def _permission_names(letters: list[str]) -> str:
    return ", ".join(PERMISSION_NAMES.get(letter, letter) for letter in letters)


class ArtifactoryRegistry(RegistryAdapter):
    type_name = "artifactory"
    label = "JFrog Artifactory (self-hosted, SaaS) and JFrog Container Registry"
    auth_kinds = ("anonymous", "password", "token")
    options_model = ArtifactoryOptions
    least_rights = (
        "A user, or an access token of one (scope applied-permissions/user), with only the Read permission on the "
        "Docker repositories to watch, granted by a permission target (Administration → User Management → "
        "Permissions). Not Annotate, Deploy/Cache, Delete/Overwrite, Manage or admin. Kaspersky asks for Read on "
        "ANY repository; Read on the Docker repositories is enough."
    )
    options: ArtifactoryOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        given = config.credentials
        self._api_kind = self._choose_api_auth(ArtifactoryOptions.model_validate(config.options), given)
        if given is not None and not given.username:
            # docker login needs the user name; an access token carries it in its subject.
            user = token_user(jwt_claims(given.secret.reveal()))
            if user:
                config = dataclasses.replace(config, credentials=Credentials(user, given.secret))
        super().__init__(config, client_options)
        parts = urlsplit(self.client.base_url)
        self.api_url = self.options.api_url or f"{parts.scheme}://{parts.netloc}/artifactory"
        self.api = VendorApi(self.client, self.api_url, self._api_headers, name="Artifactory")
        self._version: dict[str, Any] = {}
        self._repos: list[DockerRepository] | None = None
        self._repos_lock = asyncio.Lock()
        self._items: dict[str, dict[tuple[str, str], ManifestItem] | None] = {}
        self._item_locks: dict[str, asyncio.Lock] = {}
        self._notes: dict[str, list[str]] = {}
        self._routes: dict[str, RegistryClient] = {}

    @staticmethod
    def _choose_api_auth(options: ArtifactoryOptions, credentials: Credentials | None) -> str | None:
        if credentials is None:
            return None
        if options.api_auth != "auto":
            return options.api_auth
        if credentials.username:
            return "basic"
        secret = credentials.secret.reveal()
        if _looks_like_token(secret):
            return "bearer"
        return "api_key" if secret.startswith("AKC") else "username_required"

    async def aclose(self) -> None:
        for client in self._routes.values():
            await client.aclose()
        await super().aclose()

    # ---- REST API ---------------------------------------------------------------------------

    async def _api_headers(self) -> dict[str, str]:
        credentials = self.config.credentials
        if credentials is None or self._api_kind is None:
            return {}
        if self._api_kind == "username_required":
            raise self._username_required()
        secret = credentials.secret.reveal()
        if self._api_kind == "bearer":
            return {"Authorization": f"Bearer {secret}"}
        if self._api_kind == "api_key":
            return {"X-JFrog-Art-Api": secret}
        return {"Authorization": credentials.basic_header()}

    def _username_required(self) -> AuthenticationError:
        return AuthenticationError(
            "a user name is needed with this secret: it is neither an access token that names its user nor an API key",
            reason="username_required",
            hint="Give --username (the Artifactory user the password or token belongs to); Docker logins to "
            "Artifactory always need it",
        )

    def _who(self) -> str:
        credentials = self.config.credentials
        if credentials is None:
            return "the anonymous user"
        if self._api_kind == "bearer":
            return f"the access token of {credentials.username!r}" if credentials.username else "the access token"
        if self._api_kind == "api_key":
            return f"the API key of {credentials.username!r}" if credentials.username else "the API key"
        return f"user {credentials.username!r}"

    def _auth_hint(self) -> str:
        if self._api_kind == "bearer":
            return (
                "The access token is wrong, expired or revoked: create a new one (Administration → User "
                "Management → Access Tokens, or Edit Profile → Generate an Identity Token)"
            )
        if self._api_kind == "api_key":
            return (
                "The API key is wrong or no longer accepted: JFrog has deprecated API keys, so use an access or "
                "identity token instead"
            )
        return "Check the user name and the password, or give an access or identity token as the password"

    def _api_error(self, error: RegistryError, what: str) -> RegistryError:
        if error.http_status == 401:
            return AuthenticationError(
                f"Artifactory rejected {self._who()} while trying to {what} (HTTP 401)",
                url=error.url,
                http_status=401,
                hint=self._auth_hint(),
            )
        if error.http_status == 403:
            return AccessDeniedError(
                f"{self._who()} may not {what} (HTTP 403)",
                url=error.url,
                http_status=403,
                hint="Grant the Read permission on the Docker repositories through a permission target",
            )
        if error.http_status == 404:
            return NotFoundError(
                f"Artifactory could not {what}: not found (HTTP 404)",
                url=error.url,
                http_status=404,
                reason="api_not_found",
                hint="Check api_url: the Artifactory REST API base, e.g. https://artifactory.example.com/artifactory",
            )
        return error

    async def _get_object(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> dict[str, Any]:
        try:
            return await self.api.get_object(path, params)
        except RegistryError as error:
            raise self._api_error(error, what) from None

    async def _post_aql(self, query: str) -> dict[str, Any]:
        """AQL takes its query as a text/plain body, which VendorApi (JSON bodies only) cannot send: the client's own
        retrying send, on the client that never carries the registry's credentials."""
        url = self.api.url("api/search/aql")
        headers = {"Accept": "application/json", "Content-Type": "text/plain", **(await self._api_headers())}
        client = self.client
        response = await client._send_with_retries(
            "POST", url, headers=headers, client=client._foreign, body=query.encode()
        )
        if response.status_code >= 400:
            body = (await response.aread())[:300].decode("utf-8", "replace").strip()
            await response.aclose()
            error = client._status_error(response, url)
            if response.status_code == 401:
                raise self._api_error(error, "run an AQL query")
            if isinstance(error, RateLimitedError | ServerError) or not body:
                raise error
            raise RegistryError(f"HTTP {response.status_code}: {body}", url=url, http_status=response.status_code)
        raw = await client._read_limited(response, 64 * 1024 * 1024, "POST api/search/aql")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError("Artifactory answered the AQL query with something that is not JSON", url=url) from exc
        if not isinstance(data, dict):
            raise ProtocolError("Artifactory answered the AQL query with something that is not an object", url=url)
        return data

    # ---- repositories and routes ------------------------------------------------------------

    async def docker_repositories(self) -> list[DockerRepository]:
        """Every Docker repository the credential can read (one request; the type is in each entry)."""
        async with self._repos_lock:
            if self._repos is None:
                try:
                    data, _ = await self.api.get("api/repositories", {"packageType": "docker"})
                except RegistryError as error:
                    raise self._api_error(error, "list the Docker repositories") from None
                if not isinstance(data, list):
                    raise ProtocolError("Artifactory listed the repositories as something that is not a list")
                repos = [r for r in (DockerRepository.from_api(i) for i in data if isinstance(i, dict)) if r]
                self._repos = self._check_configured(repos)
            return self._repos

    def _check_configured(self, repos: list[DockerRepository]) -> list[DockerRepository]:
        keys = {repo.key for repo in repos}
        named = [*self.options.repository_keys, *self.options.scan_remote, *self.options.ports]
        if self.options.port_repository:
            named.append(self.options.port_repository)
        missing = sorted({key for key in named if key not in keys})
        if missing:
            raise NotFoundError(
                f"no Docker repository {', '.join(missing)} is visible to {self._who()}",
                reason="repository_not_found",
                hint="Check the repository keys in the options; Artifactory lists only repositories the "
                "credential may read, so a missing Read permission hides one too",
            )
        if self.options.repository_keys:
            repos = [repo for repo in repos if repo.key in self.options.repository_keys]
        return repos

    def _scanned(self, repo: DockerRepository) -> bool:
        if repo.type not in SCANNED_TYPES and repo.key not in self.options.scan_remote:
            return False
        return self.options.access_method != "port" or self._port_of(repo.key) is not None

    async def _scanned_repositories(self) -> list[DockerRepository]:
        return [repo for repo in await self.docker_repositories() if self._scanned(repo)]

    def _port_of(self, key: str) -> int | None:
        if key in self.options.ports:
            return self.options.ports[key]
        if key == self.options.port_repository:
            return urlsplit(self.client.base_url).port or (443 if self.client.base_url.startswith("https") else 80)
        return None

    def _host_base(self, host: str, port: int | None) -> str:
        parts = urlsplit(self.client.base_url)
        shown = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{shown}" + (f":{port}" if port else "")

    def image_location(self, repository: str) -> tuple[str, str]:
        """(/v2 base URL, image path there) of `<repoKey>/<image>` for the configured access method."""
        key, image = _split(repository)
        method = self.options.access_method
        if method == "repository_path":
            return self.client.base_url, repository
        parts = urlsplit(self.client.base_url)
        if method == "subdomain":
            pattern = self.options.subdomain_host or "{repo}." + (parts.hostname or "")
            return self._host_base(pattern.replace("{repo}", key.lower()), parts.port), image
        if key == self.options.port_repository and key not in self.options.ports:
            return self.client.base_url, image
        port = self._port_of(key)
        if port is None:
            raise NotFoundError(
                f"no Docker port is configured for repository {key}",
                reason="port_missing",
                hint="Add it to the ports option (-o 'ports={\"<repoKey>\": <port>}') as the reverse proxy maps it",
            )
        return self._host_base(parts.hostname or "", port), image

    def _client_for(self, base_url: str) -> RegistryClient:
        if base_url == self.client.base_url:
            return self.client
        client = self._routes.get(base_url)
        if client is None:
            client = RegistryClient(base_url, self.config.credentials, self.config.tls, self.client.options)
            self._routes[base_url] = client
        return client

    def _method_hint(self, key: str, base_url: str) -> str:
        method = self.options.access_method
        if method == "subdomain":
            return (
                f"{base_url} does not serve the Docker API of {key}: check subdomain_host, the wildcard DNS record "
                "and certificate, and that the reverse proxy maps each subdomain to its repository"
            )
        if method == "port":
            return (
                f"{base_url} does not serve the Docker API of {key}: check the ports option against the reverse "
                "proxy's port for each repository"
            )
        return (
            "With the repository path method Artifactory serves Docker at the host root (https://<host>/v2/"
            "<repoKey>/<image>): give the Docker host, not …/artifactory, or set access_method to subdomain or "
            "port as the Artifactory's Docker access method is configured"
        )

    # ---- connection test --------------------------------------------------------------------

    async def identify(self) -> None:
        try:
            self._version = await self._get_object("api/system/version", what="read its version")
        except ProtocolError as error:
            raise NotFoundError(
                f"no Artifactory REST API at {self.api_url}: {error.message}",
                url=error.url,
                reason="api_not_found",
                hint="Check api_url: the Artifactory REST API base, e.g. https://artifactory.example.com/artifactory",
            ) from None

    async def authenticate(self) -> None:
        """The version call carried the credentials (Artifactory answers 401 to bad ones even where anonymous
        reads are allowed); what is left is the user name a Docker login needs."""
        credentials = self.config.credentials
        if self._api_kind == "username_required" or (credentials is not None and not credentials.username):
            raise self._username_required()

    async def read_probe(self) -> str:
        repos = await self.docker_repositories()
        if not repos:
            raise AccessDeniedError(
                f"{self._who()} sees no Docker repository",
                reason="no_readable_repositories",
                hint="Artifactory lists only the repositories a user may read: grant Read on the Docker "
                "repositories through a permission target",
            )
        counts = ", ".join(
            f"{sum(r.type == kind for r in repos)} {kind}"
            for kind in ("local", "federated", "remote", "virtual")
            if any(r.type == kind for r in repos)
        )
        version = self._version.get("version")
        text = (
            f"Artifactory {version if isinstance(version, str) else '(version unknown)'}: Docker repositories {counts}"
        )
        first = await self.first_repository()
        if first is None:
            text += "; no image to read yet"
        else:
            text += await self._probe_registry(first)
        if self._api_kind == "api_key":
            text += "; authenticated with an API key (X-JFrog-Art-Api), which JFrog has deprecated: use an access token"
        return text

    async def _probe_registry(self, repository: str) -> str:
        key, _ = _split(repository)
        base_url, path = self.image_location(repository)
        client = self._client_for(base_url)
        try:
            await client.ping()
        except NotARegistryError as error:
            raise NotARegistryError(
                error.message,
                url=error.url,
                http_status=error.http_status,
                reason="access_method",
                hint=self._method_hint(key, base_url),
            ) from None
        if client.auth_scheme == "bearer":
            await client.token([pull_scope(path)])
        first = None
        async for tag in client.tags(path, page_size=10):
            first = tag
            break
        where = self.options.access_method.replace("_", " ")
        return f"; read {repository} through the Docker API ({where} method, {base_url}): " + (
            f"first tag {first}" if first else "no tags"
        )

    async def rights(self) -> RightsReport:
        credentials = self.config.credentials
        if credentials is None:
            return RightsReport(
                Rights.UNKNOWN,
                "anonymous access reads as Artifactory's anonymous user, whose Deploy/Cache and Delete/Overwrite "
                "permissions cannot be read without writing",
                "Give regscout its own user with only Read on the Docker repositories, and check that the "
                "permission targets which include the anonymous user grant Read only",
            )
        scopes = str(jwt_claims(credentials.secret.reveal()).get("scp") or "").split()
        if ADMIN_SCOPE in scopes:
            return RightsReport(
                Rights.CAN_WRITE,
                f"the access token's scope is {ADMIN_SCOPE}: it can deploy, delete and administer everything",
                "Create a token with scope applied-permissions/user for a user that has only Read on the Docker "
                "repositories",
            )
        status = await self._admin_status()
        if status == 200:
            return RightsReport(
                Rights.CAN_WRITE,
                f"{self._who()} is an Artifactory administrator (the admin-only GET /api/security/users answered 200)",
                "regscout only reads: use a non-admin user with only Read on the Docker repositories",
            )
        keys = [repo.key for repo in await self._scanned_repositories() if repo.type in SCANNED_TYPES]
        keys = keys[:RIGHTS_PROBES]
        managed = [(key, letters) for key in keys if (letters := await self._item_permissions(key)) is not None]
        if managed:
            shown = "; ".join(
                key
                + (
                    f" (its item permissions list {credentials.username}: {_permission_names(letters)})"
                    if letters
                    else ""
                )
                for key, letters in managed
            )
            return RightsReport(
                Rights.CAN_WRITE,
                f"{self._who()} has Manage on {shown}: GET /api/storage/<key>?permissions, which needs Manage, "
                "answered 200",
                "Remove Manage (and Deploy/Cache, Delete/Overwrite) from the permission targets covering "
                f"{', '.join(key for key, _ in managed)}; Read is enough",
            )
        groups = token_groups(scopes)
        subject = f"group(s) {', '.join(groups)}" if groups else f"user {credentials.username} and its groups"
        where = ", ".join(keys) or "the Docker repositories"
        detail = (
            f"{self._who()} is not an administrator (GET /api/security/users answered "
            f"{status if status else 'an error'}) and has no Manage on {where}; whether it may Deploy/Cache or "
            "Delete/Overwrite cannot be read without writing"
        )
        if groups:
            detail += f"; the token carries the permissions of group(s) {', '.join(groups)}"
        return RightsReport(
            Rights.UNKNOWN,
            detail,
            f"Check the permission targets that include {where} (Administration → User Management → Permissions): "
            f"{subject} should hold Read only, not Annotate, Deploy/Cache, Delete/Overwrite or Manage",
        )

    async def _admin_status(self) -> int | None:
        """The status of an admin-only GET: 200 means an administrator; None when it failed otherwise."""
        try:
            await self.api.get("api/security/users")
        except RegistryError as error:
            return error.http_status if error.http_status in (401, 403, 404) else None
        return 200

    async def _item_permissions(self, key: str) -> list[str] | None:
        """The user's permission letters on `key` when the item permissions answer (only with Manage), else None."""
        try:
            data = await self.api.get_object(f"api/storage/{quote(key)}", {"permissions": ""})
        except RegistryError as error:
            if error.http_status in (400, 401, 403, 404):
                return None
            raise
        credentials = self.config.credentials
        principals = data.get("principals")
        users = principals.get("users") if isinstance(principals, dict) else None
        mine = users.get(credentials.username) if isinstance(users, dict) and credentials is not None else None
        return [str(letter) for letter in mine] if isinstance(mine, list) else []

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for configured in self.options.repositories:
                yield configured
            return
        for repo in await self._scanned_repositories():
            async for image in self._catalog(repo.key, page_size):
                yield f"{repo.key}/{image}"

    async def _catalog(self, key: str, page_size: int) -> AsyncIterator[str]:
        size = max(1, min(page_size, CATALOG_PAGE))
        last: str | None = None
        seen: set[str] = set()
        while True:
            data = await self._docker_api(f"api/docker/{quote(key)}/v2/_catalog", {"n": size, "last": last}, key)
            names = [n for n in data.get("repositories") or [] if isinstance(n, str) and n]
            fresh = [n for n in names if n not in seen]
            seen.update(fresh)
            for name in fresh:
                # Some versions answer with names prefixed by the repository key.
                yield name[len(key) + 1 :] if name.startswith(f"{key}/") else name
            if len(names) < size or not fresh:
                return
            last = names[-1]

    async def _docker_api(
        self, path: str, params: Mapping[str, Any], key: str, image: str | None = None
    ) -> dict[str, Any]:
        try:
            return await self.api.get_object(path, params)
        except RegistryError as error:
            if error.http_status != 404:
                raise self._api_error(
                    error, f"list the tags of {image} in {key}" if image else f"list the images of {key}"
                ) from None
            if image:
                raise NotFoundError(
                    f"image {image} is not in repository {key} (HTTP 404)",
                    url=error.url,
                    http_status=404,
                    reason="image_not_found",
                    hint="Check the repository name: <repoKey>/<image>",
                ) from None
            raise NotFoundError(
                f"repository {key} answers no Docker API (HTTP 404)",
                url=error.url,
                http_status=404,
                reason="docker_api_missing",
                hint="The Docker REST API needs JFrog Container Registry or Artifactory Pro (not Artifactory OSS), "
                "and the repository must be a Docker repository",
            ) from None

    async def _tag_names(self, key: str, image: str) -> list[str]:
        path = f"api/docker/{quote(key)}/v2/{quote(image)}/tags/list"
        tags: list[str] = []
        seen: set[str] = set()
        last: str | None = None
        while True:
            data = await self._docker_api(path, {"n": TAGS_PAGE, "last": last}, key, image)
            page = [t for t in data.get("tags") or [] if isinstance(t, str) and t]
            fresh = [t for t in page if t not in seen]
            seen.update(fresh)
            tags += fresh
            if len(page) < TAGS_PAGE or not fresh:
                return tags
            last = page[-1]

    async def _repository(self, key: str) -> DockerRepository:
        for repo in await self.docker_repositories():
            if repo.key == key:
                return repo
        raise NotFoundError(
            f"no Docker repository {key} is visible to {self._who()}",
            reason="repository_not_found",
            hint="Repository names are <repoKey>/<image>; Artifactory hides repositories the credential may not read",
        )

    async def _manifest_items(self, repo: DockerRepository) -> dict[tuple[str, str], ManifestItem] | None:
        """Digest and push time of every tag of `repo`, from one AQL query (more only past AQL_PAGE manifests);
        None where AQL is refused or the repository has no items of its own."""
        lock = self._item_locks.setdefault(repo.key, asyncio.Lock())
        async with lock:
            if repo.key not in self._items:
                self._items[repo.key] = await self._query_items(repo)
            return self._items[repo.key]

    async def _query_items(self, repo: DockerRepository) -> dict[tuple[str, str], ManifestItem] | None:
        aql_repo = repo.aql_repo
        if aql_repo is None:
            self._note(
                repo.key,
                "virtual repository: its items live in its members, so no AQL; created times come from the image "
                "configs (a manifest and a config GET per tag)",
            )
            return None
        rows: list[Any] = []
        offset = 0
        while True:
            try:
                data = await self._post_aql(aql_query(aql_repo, offset, AQL_PAGE))
            except (AuthenticationError, RateLimitedError):
                raise
            except RegistryError as error:
                self._note(
                    repo.key,
                    f"push times unavailable: Artifactory refused the AQL query ({error.message}); created times "
                    "come from the image configs (a manifest and a config GET per tag)",
                )
                return None
            results = data.get("results")
            page: list[Any] = results if isinstance(results, list) else []
            rows += page
            range_ = data.get("range")
            trimmed = isinstance(range_, dict) and bool(range_.get("notification"))
            if not page or (len(page) < AQL_PAGE and not trimmed):
                break
            offset += len(page)
        if repo.type == "remote":
            self._note(
                repo.key,
                "remote repository: only its cache is listed and push times are when Artifactory cached each tag; "
                "a tag that is not cached is fetched from upstream when it is pulled (with Deploy/Cache; with Read "
                "only it stays unreadable)",
            )
        return manifest_items(rows)

    def _note(self, key: str, text: str) -> None:
        notes = self._notes.setdefault(key, [])
        if text not in notes:
            notes.append(text)

    async def list_tags(self, repository: str) -> list[TagRef]:
        key, image = _split(repository)
        repo = await self._repository(key)
        names = await self._tag_names(key, image)
        items = await self._manifest_items(repo)
        refs: list[TagRef] = []
        for name in names:
            item = items.get((image, name)) if items is not None else None
            refs.append(TagRef(name, item.digest, item.pushed) if item else TagRef(name))
        return refs

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """From the AQL data: no /v2/ request for an image, the index alone (for its platforms) for a
        multi-platform tag; the base class's manifest and config reads only where AQL gave nothing."""
        try:
            key, image = _split(repository)
            items = await self._manifest_items(await self._repository(key))
        except RegistryError as error:
            return TagInfo(repository, ref.name, ref.digest, pushed=ref.pushed, error=error.describe())
        item = items.get((image, ref.name)) if items is not None else None
        if item is None:
            return await super().describe(repository, ref)
        platforms: tuple[str, ...] = ()
        media_type = None
        if item.index:
            try:
                top = await self._manifest(repository, item.digest)
            except RegistryError as error:
                return TagInfo(repository, ref.name, item.digest, pushed=item.pushed, error=error.describe())
            media_type = top.media_type
            if isinstance(top, ImageIndex):
                platforms = tuple(str(p) for p in top.platforms())
        return TagInfo(
            repository,
            ref.name,
            item.digest,
            media_type,
            platforms,
            item.pushed,
            "push" if item.pushed else None,
            item.pushed,
        )

    async def _manifest(self, repository: str, reference: str) -> ImageManifest | ImageIndex:
        cached = self._manifests.get(reference)
        if cached is None:
            base_url, path = self.image_location(repository)
            cached = await self._client_for(base_url).manifest(path, reference)
            self._manifests[cached.digest] = cached
        return cached

    async def _config(self, repository: str, digest: str) -> dict[str, Any]:
        cached = self._configs.get(digest)
        if cached is None:
            base_url, path = self.image_location(repository)
            body = await self._client_for(base_url).blob(path, digest)
            try:
                loaded = json.loads(body)
            except ValueError as exc:
                raise ProtocolError(f"image config {digest} is not valid JSON") from exc
            cached = loaded if isinstance(loaded, dict) else {}
            self._configs[digest] = cached
        return cached

    async def browse(
        self, repositories: list[str] | None = None, *, with_tags: bool = True, concurrency: int | None = None
    ) -> list[RepositoryListing]:
        listings = await super().browse(repositories, with_tags=with_tags, concurrency=concurrency)
        noted = [
            dataclasses.replace(listing, notes=[*listing.notes, *self._notes.get(listing.name.split("/", 1)[0], [])])
            for listing in listings
        ]
        if repositories is None and not self.options.repositories:
            noted += [
                RepositoryListing(repo.key, [] if with_tags else None, notes=[self._unscanned_note(repo)])
                for repo in await self.docker_repositories()
                if not self._scanned(repo)
            ]
        return noted

    def _unscanned_note(self, repo: DockerRepository) -> str:
        if repo.type == "remote":
            upstream = f" (proxies {repo.url})" if repo.url and not repo.url.startswith(self.api_url) else ""
            return (
                f"remote Docker repository{upstream}: listed, not scanned. scan_remote={repo.key} scans what it has "
                "cached; with Deploy/Cache each pull of an image or tag it has not cached makes Artifactory fetch "
                "it from upstream (upstream traffic and pull limits, cache storage)"
            )
        if repo.type == "virtual":
            return (
                "virtual Docker repository: listed, not scanned. It serves its member repositories' images again "
                f"(the local ones are scanned directly) and pulls through its remote members; scan_remote={repo.key} "
                "scans it anyway"
            )
        return f"{repo.type} Docker repository without a port in the ports option: not scanned"


def _split(repository: str) -> tuple[str, str]:
    key, _, image = repository.partition("/")
    if not key or not image:
        raise NotFoundError(
            f"{repository!r} is not <repoKey>/<image>",
            reason="repository_not_found",
            hint="Artifactory repositories are named by the repository key, then the image path",
        )
    return key, image
