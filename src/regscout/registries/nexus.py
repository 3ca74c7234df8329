"""Sonatype Nexus Repository (OSS and Pro): Docker hosted repositories, listed through the REST API.

Docker clients reach a Nexus repository at the root of its own connector (an HTTP or HTTPS port, a Pro
subdomain, or a reverse-proxy host for that repository) or, with path-based routing, at the Nexus base URL
with the repository name as the first segment of every image name. The integration URL is that /v2/ root.

Repositories and tags come from the REST API (`api_url`): `GET /service/rest/v1/components?repository=` pages
with a `continuationToken`, one component per tag (`name` is the image, `version` the tag), and the tag's
manifest asset carries the digest (`checksum.sha256`), the media type (`contentType`) and the push time
(`lastModified`). Browsing therefore sends nothing to /v2/ for a single-platform tag, and one manifest GET
(by digest) for a multi-platform one, whose platforms the API does not know.

Rights come from the security API where the account may read it; Nexus has no "my privileges" endpoint, so
for a non-administrator the verdict is unknown unless its user, roles and privileges are readable.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

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
from .distribution import ClientOptions
from .errors import (
    AccessDeniedError,
    AuthenticationError,
    NotARegistryError,
    NotFoundError,
    ProtocolError,
    RegistryError,
)
from .manifest import INDEX_TYPES, ImageIndex
from .vendor_api import VendorApi

REST_PREFIX = "/service/rest"
CONTINUATION = "continuationToken"  # the components API's page cursor: a body field and a query parameter
DEFAULT_API_PORT = 8081  # the port a Nexus installation serves its UI and REST API on by default
Connector = Literal["port", "path"]

_NEXUS_NAME = re.compile(r"[a-zA-Z0-9\-][a-zA-Z0-9_.\-]*")
_PATH_SEGMENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_SHA256 = re.compile(r"[a-f0-9]{64}")
_REPOSITORY_PATH = re.compile(r"/repository/[^/]+")

ROOT_HINT = (
    "Give the Docker root of the repository: its connector (http(s)://host:<HTTP or HTTPS connector port>, a Pro "
    "subdomain, or a reverse-proxy host) or, with -o connector=path, the Nexus base URL. The UI/REST port and "
    "/repository/<name>/ are not registry roots"
)
REALM_HINT = (
    "Activate the Docker Bearer Token Realm (Security → Realms) in Nexus; without it Nexus issues Docker tokens "
    "but refuses every request that carries one"
)


class NexusOptions(AdapterOptions):
    api_url: str | None = Field(
        default=None,
        description="Nexus base URL for the REST API, e.g. https://nexus.example:8081 (default: the registry URL "
        "with connector=path, else the registry host on port 8081)",
    )
    repository: list[str] = Field(
        default_factory=list,
        description="Nexus repository name(s): the Docker hosted repository behind the connector (exactly one), "
        "or with connector=path the repositories to list (default: every Docker repository the account can browse)",
    )
    connector: Connector = Field(
        default="port",
        description="port: the URL is one repository's own connector (port, subdomain or proxy host); path: the URL "
        "is the Nexus base URL and image names start with the repository name (path-based routing)",
    )
    build_time: bool = Field(
        default=False,
        description="Read each tag's manifest and config for its build time and platforms instead of using the "
        "push time Nexus records (two /v2/ GETs per tag)",
    )

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        base = http_url(value, "https://nexus.example:8081")
        return base[: -len(REST_PREFIX)] if base is not None and base.endswith(REST_PREFIX) else base

    @field_validator("repository", mode="before")
    @classmethod
    def _split_repository(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("repository")
    @classmethod
    def _valid_repository(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _NEXUS_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a Nexus repository name (letters, digits, '-', '_', '.')")
        return value

    @model_validator(mode="after")
    def _repository_fits_connector(self) -> NexusOptions:
        if self.connector == "port" and len(self.repository) != 1:
            raise ValueError(
                "a port connector serves exactly one repository: set -o repository=<its name>, or use "
                "-o connector=path with the Nexus base URL to watch several"
            )
        if self.connector == "path":
            for name in self.repository:
                if not _PATH_SEGMENT.fullmatch(name):
                    raise ValueError(
                        f"with path-based routing {name!r} is the first segment of image names, which must be "
                        "lower case"
                    )
        return self


@dataclass(frozen=True)
class NexusTag:
    """What a Docker component says about one tag."""

    name: str
    digest: str | None
    media_type: str | None
    pushed: datetime | None

    @classmethod
    def from_component(cls, component: Mapping[str, Any]) -> NexusTag | None:
        image, version = component.get("name"), component.get("version")
        # Manifests pushed by digest (an index's children) are not tags.
        if not isinstance(image, str) or not isinstance(version, str) or not version or version.startswith("sha256:"):
            return None
        asset = _manifest_asset(component, image, version)
        if asset is None:
            return cls(version, None, None, None)
        checksum = asset.get("checksum")
        sha256 = checksum.get("sha256") if isinstance(checksum, dict) else None
        digest = f"sha256:{sha256}" if isinstance(sha256, str) and _SHA256.fullmatch(sha256) else None
        content_type = asset.get("contentType")
        media_type = content_type.split(";")[0].strip() if isinstance(content_type, str) and content_type else None
        pushed = parse_time(asset.get("lastModified")) or parse_time(asset.get("blobCreated"))
        return cls(version, digest, media_type, pushed)


def _manifest_asset(component: Mapping[str, Any], image: str, version: str) -> Mapping[str, Any] | None:
    """The tag's manifest asset: `v2/<image>/manifests/<tag>` (newer releases write a leading slash)."""
    assets = [a for a in component.get("assets") or [] if isinstance(a, dict)]
    wanted = f"v2/{image}/manifests/{version}"
    for asset in assets:
        path = asset.get("path")
        if isinstance(path, str) and path.lstrip("/") == wanted:
            return asset
    return next((a for a in assets if "/manifests/" in str(a.get("path") or "")), None)


@dataclass
class _Resolution:
    """The account's privileges as the security API describes them, sorted by what they allow."""

    roles: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    admin_read: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


_ALLOWED_PRIVILEGES = frozenset(
    {"nx-search-read", "nx-healthcheck-read", "nx-healthcheck-summary-read", "nx-apikey-all", "nx-userschangepw"}
)
_ALLOWED_DOMAINS = frozenset({"search", "healthcheck", "apikey", "userschangepw", "usertoken-current"})
_READ_ACTIONS = frozenset({"browse", "read"})
_VIEW_NAME = re.compile(r"nx-repository-view-.+-(browse|read|edit|add|delete|\*)")
_ADMIN_NAME = re.compile(r"nx-repository-admin-.+-(browse|read|edit|add|delete|\*)")


def _actions(privilege: Mapping[str, Any]) -> set[str]:
    actions = privilege.get("actions")
    values = actions if isinstance(actions, list) else str(actions or "").split(",")
    return {str(a).strip().lower() for a in values if str(a).strip()}


def classify_privilege(name: str, privilege: Mapping[str, Any] | None) -> str:
    """What one privilege allows: pull, allowed, admin-read, write or unknown. Judged from its details where the
    security API gave them, else from its built-in name."""
    if name in _ALLOWED_PRIVILEGES:
        return "allowed"
    if privilege is None:
        return _classify_by_name(name)
    kind = str(privilege.get("type") or "")
    actions = _actions(privilege)
    reads = bool(actions) and actions <= _READ_ACTIONS
    if kind in ("repository-view", "repository-content-selector"):
        return "pull" if reads else "write"
    if kind in ("repository-admin", "script"):
        return "admin-read" if reads else "write"
    if kind == "application":
        if str(privilege.get("domain") or "") in _ALLOWED_DOMAINS:
            return "allowed"
        return "admin-read" if reads else "write"
    if kind == "wildcard":
        parts = str(privilege.get("pattern") or "").split(":")
        pattern_actions = {a.strip() for a in parts[-1].split(",")} if len(parts) > 2 else {"*"}
        if pattern_actions <= _READ_ACTIONS:
            return "pull" if parts[1:2] == ["repository-view"] else "admin-read"
        return "write"
    return "unknown"


def _classify_by_name(name: str) -> str:
    if name == "nx-all":
        return "write"
    view = _VIEW_NAME.fullmatch(name)
    if view:
        return "pull" if view.group(1) in _READ_ACTIONS else "write"
    admin = _ADMIN_NAME.fullmatch(name)
    if admin:
        return "admin-read" if admin.group(1) in _READ_ACTIONS else "write"
    if name.startswith("nx-"):
        return "admin-read" if name.endswith(("-read", "-browse")) else "write"
    return "unknown"


class NexusRegistry(RegistryAdapter):
    type_name = "nexus"
    label = "Sonatype Nexus Repository (OSS and Pro)"
    auth_kinds = ("anonymous", "password", "token")
    options_model = NexusOptions
    has_catalog = False
    least_rights = (
        "A Nexus user (or Pro user token) whose roles hold only `nx-repository-view-docker-<repository>-browse` and "
        "`nx-repository-view-docker-<repository>-read` for each watched Docker hosted repository (or "
        "`nx-repository-view-docker-*-browse` and `-read`), with the Docker Bearer Token Realm active. "
        "`nx-search-read` is not needed; `nx-apikey-all` only to fetch a NuGet API key in the UI. Not `-add`, "
        "`-edit`, `-delete`, `nx-repository-admin-*` or `nx-admin`."
    )
    options: NexusOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        super().__init__(config, client_options)
        self.api = VendorApi(self.client, self.api_base + REST_PREFIX, self._api_headers, name="Nexus")
        self._index: dict[str, dict[str, Any]] | None = None
        self._tags: dict[str, dict[str, NexusTag]] = {}
        self._loaded: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._marked: dict[str, str] = {}
        self._checked: list[str] | None = None
        self._verified: list[str] = []

    @property
    def api_base(self) -> str:
        if self.options.api_url:
            return self.options.api_url
        if self.options.connector == "path":
            return self.config.url.rstrip("/")
        parts = urlsplit(self.config.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{host}:{DEFAULT_API_PORT}"

    async def _api_headers(self) -> dict[str, str]:
        credentials = self.config.credentials
        return {"Authorization": credentials.basic_header()} if credentials else {}

    # ---- names ------------------------------------------------------------------------------

    def _image_name(self, nexus_repository: str, component_name: str) -> str:
        return f"{nexus_repository}/{component_name}" if self.options.connector == "path" else component_name

    def _locate(self, repository: str) -> str:
        """The Nexus repository that holds the image regscout calls `repository`."""
        if self.options.connector == "port":
            return self.options.repository[0]
        nexus_repository, sep, _ = repository.partition("/")
        if not sep:
            raise NotFoundError(
                f"{repository} is not an image name under path-based routing",
                reason="image_not_found",
                hint="With connector=path image names start with the Nexus repository: <repository>/<image>",
            )
        return nexus_repository

    # ---- REST calls -------------------------------------------------------------------------

    def _api_error(self, error: RegistryError, what: str, repository: str | None = None) -> RegistryError:
        if error.http_status == 401:
            credentials = self.config.credentials
            if credentials is None:
                return AuthenticationError(
                    f"Nexus requires credentials to {what} (HTTP 401)",
                    url=error.url,
                    http_status=401,
                    hint="Give a Nexus user, or allow anonymous access in Nexus (Security → Anonymous Access)",
                )
            return AuthenticationError(
                f"Nexus rejected the credentials of {credentials.username!r} while trying to {what} (HTTP 401)",
                url=error.url,
                http_status=401,
                hint="Check the user name and password, or a user token's name code and pass code",
            )
        if error.http_status == 403:
            target = repository or "<repository>"
            return AccessDeniedError(
                f"the account may not {what} (HTTP 403)",
                url=error.url,
                http_status=403,
                hint=f"Grant a role with nx-repository-view-docker-{target}-browse and "
                f"nx-repository-view-docker-{target}-read",
            )
        return error

    async def _repository_index(self) -> dict[str, dict[str, Any]]:
        """`GET /v1/repositories`: every repository the account may browse, by name."""
        if self._index is not None:
            return self._index
        what = "list the Nexus repositories"
        try:
            data, _ = await self.api.get("/v1/repositories")
        except (NotFoundError, ProtocolError) as error:
            raise NotFoundError(
                f"no Nexus REST API at {self.api_base}: {error.message}",
                url=error.url,
                http_status=error.http_status,
                reason="api_not_found",
                hint="Set -o api_url to the Nexus base URL (the UI address, e.g. https://nexus.example:8081), "
                "where /service/rest/v1/repositories answers",
            ) from None
        except RegistryError as error:
            raise self._api_error(error, what) from None
        if not isinstance(data, list):
            raise NotFoundError(
                f"{self.api_base}{REST_PREFIX}/v1/repositories did not answer with a list of repositories",
                reason="api_not_found",
                hint="Set -o api_url to the Nexus base URL (the UI address, e.g. https://nexus.example:8081)",
            )
        self._index = {str(r["name"]): r for r in data if isinstance(r, dict) and isinstance(r.get("name"), str)}
        return self._index

    async def _components_page(self, repository: str) -> dict[str, Any]:
        try:
            return await self.api.get_object("/v1/components", {"repository": repository})
        except RegistryError as error:
            raise self._components_error(error, repository) from None

    def _components_error(self, error: RegistryError, repository: str) -> RegistryError:
        if isinstance(error, NotFoundError):
            return NotFoundError(
                f"Nexus has no repository named {repository}",
                url=error.url,
                http_status=error.http_status,
                reason="repository_not_found",
                hint="Check -o repository (names are case-sensitive) and that api_url is the Nexus that serves "
                "this connector",
            )
        return self._api_error(error, f"browse the components of {repository}", repository)

    async def _load(self, repository: str) -> None:
        """Every tag of a Nexus repository, one components page (a request) at a time."""
        lock = self._locks.setdefault(repository, asyncio.Lock())
        async with lock:
            if repository in self._loaded:
                return
            pages = self.api.token_pages(
                "/v1/components",
                {"repository": repository},
                items_field="items",
                token_field=CONTINUATION,
                token_param=CONTINUATION,
            )
            components = aiter(pages)
            while True:
                try:
                    component = await anext(components)
                except StopAsyncIteration:
                    break
                except RegistryError as error:
                    raise self._components_error(error, repository) from None
                self._add_component(repository, component)
            self._loaded.add(repository)

    def _add_component(self, repository: str, component: Mapping[str, Any]) -> None:
        fmt = component.get("format")
        if isinstance(fmt, str) and fmt != "docker":
            raise self._not_docker(repository, f"a {fmt} repository")
        tag = NexusTag.from_component(component)
        name = component.get("name")
        if tag is not None and isinstance(name, str):
            self._tags.setdefault(self._image_name(repository, name), {})[tag.name] = tag

    def _not_docker(self, repository: str, what: str) -> NotFoundError:
        return NotFoundError(
            f"Nexus repository {repository} is {what}, not a Docker hosted repository",
            reason="not_docker_hosted",
            hint="Give the Docker hosted repository whose images should be scanned; a group's images live in its "
            "hosted members, and a proxy holds only what it has cached (use -o connector=path to list several)",
        )

    async def _hosted(self, *, validate: bool) -> list[str]:
        """The Nexus repositories to scan; groups and proxies are kept aside as marked."""
        if self.options.connector == "port" and not validate:
            return list(self.options.repository)
        if self._checked is not None:
            return self._checked
        index = await self._repository_index()
        if self.options.connector == "path" and not self.options.repository:
            wanted = [name for name, entry in index.items() if entry.get("format") == "docker"]
        else:
            wanted = list(self.options.repository)
        hosted: list[str] = []
        for name in wanted:
            entry = index.get(name)
            if entry is None:
                await self._components_page(name)  # a 404 or 403 says why the list hides it
                hosted.append(name)
                continue
            fmt, kind = entry.get("format"), entry.get("type")
            if fmt != "docker":
                raise self._not_docker(name, f"a {fmt} repository")
            if kind == "hosted":
                hosted.append(name)
            elif self.options.connector == "port":
                raise self._not_docker(name, f"a Docker {kind} repository")
            else:
                self._marked[name] = str(kind)
        self._checked = hosted
        return hosted

    # ---- connection test --------------------------------------------------------------------

    async def identify(self) -> None:
        if _REPOSITORY_PATH.search(urlsplit(self.config.url).path):
            raise NotARegistryError(
                "the URL is a Nexus repository path (/repository/<name>), which Docker clients cannot use",
                url=self.config.url,
                reason="repository_path_url",
                hint=ROOT_HINT,
            )
        try:
            await self.client.ping()
        except NotARegistryError as error:
            raise NotARegistryError(
                error.message, url=error.url, http_status=error.http_status, hint=ROOT_HINT
            ) from None

    async def authenticate(self) -> None:
        scheme = self.client.auth_scheme
        if scheme == "basic" and self.config.credentials is None:
            raise AuthenticationError(
                "the Nexus connector asks for Basic credentials, so it does not allow anonymous pulls",
                url=self.client.url("/v2/"),
                http_status=401,
                reason="anonymous_pull_disabled",
                hint="Give a Nexus user, or tick 'Allow anonymous docker pull' on the repository and activate the "
                "Docker Bearer Token Realm",
            )
        if scheme != "bearer":
            await super().authenticate()
            return
        await self.client.token([])
        try:
            response = await self.client.request("GET", "/v2/")
            await response.aclose()
        except (AuthenticationError, AccessDeniedError) as error:
            if error.http_status != 401:
                raise
            raise AuthenticationError(
                "Nexus issued a Docker token but refuses requests that carry it (HTTP 401 on /v2/)",
                url=error.url,
                http_status=401,
                reason="bearer_realm_inactive",
                hint=REALM_HINT,
            ) from None

    async def read_probe(self) -> str:
        hosted = await self._hosted(validate=True)
        marked = f"; not scanned: {self._marked_text()}" if self._marked else ""
        if not hosted:
            return "connected to Nexus; no Docker hosted repository is visible to this account" + marked
        repository = hosted[0]
        page = await self._components_page(repository)
        items = [i for i in page.get("items") or [] if isinstance(i, dict)]
        self._verified.append(f"listed the components of {repository} (browse)")
        text = f"Nexus repository {repository}: {len(items)} tag(s) on the first page"
        for component in items:
            tag, name = NexusTag.from_component(component), component.get("name")
            if tag is not None and isinstance(name, str):
                return text + await self._pull_probe(repository, self._image_name(repository, name), tag) + marked
        return text + marked

    async def _pull_probe(self, repository: str, image: str, tag: NexusTag) -> str:
        """HEAD one listed tag through the connector: proves it is this repository's and that pulls work."""
        try:
            await self.client.head_manifest(image, tag.digest or tag.name)
        except NotFoundError as error:
            raise NotFoundError(
                f"Nexus lists {image}:{tag.name} in {repository}, but the registry URL does not serve it",
                url=error.url,
                http_status=error.http_status,
                reason="connector_mismatch",
                hint=f"The URL is probably the connector of another repository: give the connector of {repository}"
                if self.options.connector == "port"
                else "Check that path-based routing is on and the URL is the Nexus base URL",
            ) from None
        self._verified.append(f"read {image}:{tag.name} through the registry (read)")
        return f"; read {image}:{tag.name} from the registry (HEAD)"

    def _marked_text(self) -> str:
        return ", ".join(f"{name} ({kind})" for name, kind in sorted(self._marked.items()))

    # ---- rights -----------------------------------------------------------------------------

    async def rights(self) -> RightsReport:
        hosted = await self._hosted(validate=True)
        repository = hosted[0] if hosted else None
        username = self.config.credentials.username if self.config.credentials else None
        users, users_status = await self._probe("/v1/security/users", {"userId": username} if username else None)
        roles, roles_status = await self._probe("/v1/security/roles")
        seen = {
            "GET /service/rest/v1/security/users": users_status,
            "GET /service/rest/v1/security/roles": roles_status,
        }
        settings_status = None
        if repository is not None:
            path = f"/v1/repositories/docker/hosted/{quote(repository, safe='')}"
            _, settings_status = await self._probe(path)
            seen[f"GET /service/rest{path}"] = settings_status
        if isinstance(users, list) and isinstance(roles, list) and username:
            report = await self._resolved_report(username, users, roles, repository)
            if report is not None:
                return report
        admitted = [f"{call} answered 200" for call, status in seen.items() if status == 200]
        if admitted:
            return RightsReport(
                Rights.CAN_WRITE,
                "the account holds administrative privileges: "
                + "; ".join(admitted)
                + (f" (repository administration of {repository})" if settings_status == 200 else ""),
                _recommendation(repository),
            )
        return self._unknown_report(seen, repository, username)

    async def _probe(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, int]:
        try:
            data, _ = await self.api.get(path, params)
        except RegistryError as error:
            if error.http_status in (401, 403, 404):
                return None, error.http_status
            raise
        return data, 200

    async def _resolved_report(
        self, username: str, users: list[Any], roles: list[Any], repository: str | None
    ) -> RightsReport | None:
        user = next((u for u in users if isinstance(u, dict) and u.get("userId") == username), None)
        if user is None:
            return None
        by_id = {str(r["id"]): r for r in roles if isinstance(r, dict) and isinstance(r.get("id"), str)}
        privileges, _ = await self._probe("/v1/security/privileges")
        details = (
            {str(p["name"]): p for p in privileges if isinstance(p, dict) and isinstance(p.get("name"), str)}
            if isinstance(privileges, list)
            else {}
        )
        resolution = _resolve(user, by_id, details)
        if resolution.write:
            return RightsReport(
                Rights.CAN_WRITE,
                f"the roles of {username} ({', '.join(resolution.roles)}) grant " + ", ".join(resolution.write),
                _recommendation(repository, resolution.write),
            )
        if resolution.unreadable:
            return RightsReport(
                Rights.UNKNOWN,
                f"the roles of {username} ({', '.join(resolution.roles)}) hold custom privileges whose actions "
                f"cannot be read: {', '.join(resolution.unreadable)} (GET /service/rest/v1/security/privileges "
                "needs nx-privileges-read)",
                "Grant nx-privileges-read so regscout can read them, or check them in Nexus (Security → Privileges)",
            )
        detail = (
            f"the roles of {username} ({', '.join(resolution.roles) or 'none'}) grant no add, edit or delete "
            "privilege and no administration beyond reading"
        )
        if resolution.admin_read:
            detail += (
                f"; it also reads the security or repository configuration ({', '.join(resolution.admin_read)}), "
                "which lets regscout verify its rights but is not needed for scanning"
            )
        return RightsReport(Rights.READ_ONLY, detail)

    def _unknown_report(
        self, seen: Mapping[str, int | None], repository: str | None, username: str | None
    ) -> RightsReport:
        refused = "; ".join(f"{call} → {status}" for call, status in seen.items())
        verified = "; ".join(self._verified) or "nothing beyond the login"
        who = f"user {username}" if username else "anonymous access"
        target = repository or "<repository>"
        return RightsReport(
            Rights.UNKNOWN,
            f"{who} is not an administrator ({refused}). Verified: {verified}. Nexus's REST API does not tell a "
            f"non-administrator whether its roles also hold nx-repository-view-docker-{target}-add, -edit or "
            "-delete, and regscout does not write to find out",
            f"In Nexus (Security → Users), check that the roles of {who} hold only "
            f"nx-repository-view-docker-{target}-browse and -read; adding nx-users-read, nx-roles-read and "
            "nx-privileges-read (read-only) lets regscout verify this itself",
        )

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for configured in self.options.repositories:
                yield configured
            return
        for repository in await self._hosted(validate=False):
            await self._load(repository)
            prefix = f"{repository}/" if self.options.connector == "path" else ""
            for image in self._tags:
                if image.startswith(prefix):
                    yield image

    async def list_tags(self, repository: str) -> list[TagRef]:
        nexus_repository = self._locate(repository)
        await self._load(nexus_repository)
        tags = self._tags.get(repository)
        if tags is None:
            raise NotFoundError(
                f"Nexus repository {nexus_repository} holds no image {repository}",
                reason="image_not_found",
                hint="Check the image name; Nexus lists only what has been pushed to (or cached by) the repository",
            )
        return [TagRef(t.name, t.digest, t.pushed) for t in tags.values()]

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """Digest, media type and push time from the components API; one GET by digest for an index (its
        platforms), or the manifest and config when build times are wanted or the API gave no digest."""
        tag = self._tags.get(repository, {}).get(ref.name)
        digest = (tag.digest if tag else None) or ref.digest
        pushed = (tag.pushed if tag else None) or ref.pushed
        if self.options.build_time or digest is None:
            info = await super().describe(repository, TagRef(ref.name, digest, pushed))
            return dataclasses.replace(info, pushed=pushed)
        media_type = tag.media_type if tag else None
        platforms: tuple[str, ...] = ()
        if media_type is None or media_type in INDEX_TYPES:
            try:
                manifest = await self._manifest(repository, digest)
            except RegistryError as error:
                return TagInfo(repository, ref.name, digest, media_type, pushed=pushed, error=error.describe())
            media_type = manifest.media_type
            if isinstance(manifest, ImageIndex):
                platforms = tuple(str(p) for p in manifest.platforms())
        source: Literal["push"] | None = "push" if pushed else None
        return TagInfo(repository, ref.name, digest, media_type, platforms, pushed, source, pushed)

    async def browse(
        self, repositories: list[str] | None = None, *, with_tags: bool = True, concurrency: int | None = None
    ) -> list[RepositoryListing]:
        listings = await super().browse(repositories, with_tags=with_tags, concurrency=concurrency)
        if repositories is not None:
            return listings
        for name, kind in sorted(self._marked.items()):
            note = (
                "Nexus group repository: not scanned; its images are listed from its hosted members"
                if kind == "group"
                else f"Nexus {kind} repository: not scanned; only Docker hosted repositories are"
            )
            listings.append(RepositoryListing(name, [] if with_tags else None, notes=[note]))
        return listings


def _resolve(
    user: Mapping[str, Any], roles: Mapping[str, Mapping[str, Any]], details: Mapping[str, Any]
) -> _Resolution:
    """Walk the user's roles (and the roles they contain) and sort every privilege they grant."""
    resolution = _Resolution()
    pending = [str(r) for key in ("roles", "externalRoles") for r in user.get(key) or []]
    seen: set[str] = set()
    granted: dict[str, str] = {}
    while pending:
        role_id = pending.pop(0)
        if role_id in seen:
            continue
        seen.add(role_id)
        resolution.roles.append(role_id)
        role = roles.get(role_id)
        if role is None:
            continue
        pending.extend(str(r) for r in role.get("roles") or [])
        for privilege in role.get("privileges") or []:
            granted.setdefault(str(privilege), role_id)
    for name, role_id in granted.items():
        detail = details.get(name)
        verdict = classify_privilege(name, detail if isinstance(detail, dict) else None)
        text = f"{name} (role {role_id})"
        if verdict == "write":
            resolution.write.append(text)
        elif verdict == "admin-read":
            resolution.admin_read.append(name)
        elif verdict == "unknown":
            resolution.unreadable.append(text)
    return resolution


def _recommendation(repository: str | None, excess: list[str] | None = None) -> str:
    target = repository or "<repository>"
    remove = f"remove {', '.join(e.split(' (')[0] for e in excess)}; " if excess else ""
    return (
        f"regscout only reads: {remove}give it a user whose roles hold only nx-repository-view-docker-{target}-browse "
        f"and nx-repository-view-docker-{target}-read, without nx-admin or repository administration privileges"
    )
