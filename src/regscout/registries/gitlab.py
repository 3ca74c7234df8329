"""The GitLab container registry (gitlab.com and self-managed), listed through GitLab's APIs.

GitLab's registry has a catalog only for administrators, so repositories come from the REST Container
Registry API (`/api/v4`): per group (`/groups/:id/registry/repositories`, subgroups included), per project,
or for every project the token is a member of with at least Reporter.

Tags come from GitLab's GraphQL API (`POST /api/graphql`, the API GitLab's own registry UI uses):
`containerRepository(id:) { tags }` gives each tag's `digest`, `mediaType`, `createdAt` and `publishedAt`,
so browsing sends no manifest GET except for image indexes, whose platforms GraphQL does not give. The
`tags` connection pages by at most 20 (`max_page_size: 20` in `ContainerRepositoryDetailsType`); a larger
`first` is cut to 20 without an error, and on registries with the metadata database the cursor then points
past everything that was asked for, so the tags in between would be lost: regscout asks for 20 and treats a
short page that is not the last as a reason to use REST instead. What the times mean depends on the
registry (`ContainerRepository#transform_tags_page`, `ContainerRegistry::Tag#created_at`):

* with the metadata database (GitLab.com; self-managed when enabled), `publishedAt` is the tag's last push
  and `createdAt` its first; there is no build time, so the push time stands in (`created_source = push`);
* without it, `publishedAt` and `mediaType` are null and `createdAt` is the image config's `created`, which
  GitLab reads from the registry itself: a build time (`created_source = build`), null for an index.

Where GraphQL is missing or refuses (an old GitLab without these fields, the endpoint blocked, a token it does
not take, errors in the answer's `errors` array, which GraphQL sends with HTTP 200), tags come from the REST
API as before, names only, 100 a request, with digests, platforms and build times from the registry's
manifests and configs. Rights come from the token's own description (`/personal_access_tokens/self`:
scopes), its memberships (`/self/associations`, or per-project `permissions`), and what the registry's token
service grants (the JWT probe).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urljoin, urlsplit

from pydantic import Field, field_validator

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
from .distribution import ClientOptions
from .errors import (
    AccessDeniedError,
    AuthenticationError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    RegistryError,
    TLSError,
    UnreachableError,
)
from .manifest import INDEX_TYPES, ImageIndex
from .vendor_api import VendorApi, next_link

log = logging.getLogger(__name__)

DEFAULT_USERNAME = "regscout"  # GitLab ignores the user name of access tokens; Basic needs one
PAGE_SIZE = 100  # the REST API's maximum per_page
# The GraphQL tags connection's max_page_size (app/graphql/types/container_registry/
# container_repository_details_type.rb). Asking for more is cut to this silently, and with the metadata
# database the cursor then skips what lay between: never ask for more.
GRAPHQL_PAGE_SIZE = 20
TAGS_QUERY = (
    "query RegscoutTags($id: ContainerRepositoryID!, $first: Int!, $after: String) {"
    " containerRepository(id: $id) {"
    " tags(first: $first, after: $after) {"
    " pageInfo { hasNextPage endCursor }"
    " nodes { name digest mediaType createdAt publishedAt } } } }"
)
NEEDED_SCOPES = frozenset({"read_api", "read_registry"})
# Scopes that cannot change anything; any other scope (api, write_registry, sudo, ...) is treated as write.
READ_SCOPES = NEEDED_SCOPES | {
    "read_user",
    "read_repository",
    "read_virtual_registry",
    "read_service_ping",
    "read_observability",
    "openid",
    "profile",
    "email",
}
API_SCOPES = frozenset({"api", "read_api"})
DELETING = frozenset({"delete_scheduled", "delete_ongoing"})
REPORTER, DEVELOPER = 20, 30
ROLES = {
    5: "Minimal Access",
    10: "Guest",
    15: "Planner",
    20: "Reporter",
    30: "Developer",
    40: "Maintainer",
    50: "Owner",
}
PERMISSION_CHECKS = 20  # projects checked one by one where GitLab has no associations endpoint (< 17.4)
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_GROUP = re.compile(rf"\d+|{_SEGMENT}(?:/{_SEGMENT})*")
_PROJECT = re.compile(rf"\d+|{_SEGMENT}(?:/{_SEGMENT})+")

TokenKind = Literal["anonymous", "personal", "registry_only", "not_personal", "no_self_endpoint"]

CREDENTIALS_HINT = (
    "Check the token: a personal, group or project access token works with any user name, a deploy token "
    "only with its own user name (gitlab+deploy-token-N); expired and revoked tokens are refused"
)
DEPLOY_HINT = (
    "Use a personal, group or project access token with the scopes read_api and read_registry (role Reporter); "
    "or keep the deploy token and name the repositories to watch (-o repositories=group/project/image). "
    "An OAuth token goes to the API as Bearer: set -o api_auth=bearer"
)
ROLE_HINT = "Give the token (or its user) the Reporter role on the group or project"


def role_name(level: int) -> str:
    return ROLES.get(level, f"access level {level}")


def default_api_url(registry_url: str, realm: str | None) -> str:
    """GitLab's API root: from the token realm (`https://<gitlab>/jwt/auth`) when the registry names it,
    else gitlab.com for registry.gitlab.com, else the registry's host without its port."""
    if realm:
        parts = urlsplit(realm)
        path = parts.path.rstrip("/")
        if parts.scheme in ("http", "https") and parts.netloc and path.endswith("/jwt/auth"):
            return f"{parts.scheme}://{parts.netloc}{path[: -len('/jwt/auth')]}/api/v4"
    host = urlsplit(registry_url).hostname or ""
    if host == "registry.gitlab.com":
        return "https://gitlab.com/api/v4"
    return f"https://{host}/api/v4"


class GitLabOptions(AdapterOptions):
    api_url: str | None = Field(
        default=None,
        description="GitLab's REST API root, e.g. https://gitlab.example.com/api/v4 (default: from the registry's "
        "token realm, else https://gitlab.com/api/v4 for registry.gitlab.com, else https://<registry host>/api/v4)",
    )
    groups: list[str] = Field(
        default_factory=list, description="Groups whose registries to list, subgroups included (e.g. acme/platform)"
    )
    projects: list[str] = Field(
        default_factory=list, description="Projects whose registries to list (e.g. acme/platform/app)"
    )
    api_auth: Literal["private-token", "bearer"] = Field(
        default="private-token",
        description="How the token goes to the API: PRIVATE-TOKEN header (access tokens) or Bearer (OAuth tokens)",
    )
    graphql: bool = Field(
        default=True,
        description="List tags through GitLab's GraphQL API (digests and times in the list, no manifest reads per "
        "tag); false: through the REST API, with digests and times from the registry",
    )

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        url = http_url(value, "https://gitlab.example.com/api/v4")
        return url + "/api/v4" if url is not None and urlsplit(url).path == "" else url

    @field_validator("groups", "projects", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("groups")
    @classmethod
    def _valid_groups(cls, value: list[str]) -> list[str]:
        for path in value:
            if not _GROUP.fullmatch(path):
                raise ValueError(f"{path!r} is not a GitLab group path (as in its URL, e.g. acme/platform) or ID")
        return value

    @field_validator("projects")
    @classmethod
    def _valid_projects(cls, value: list[str]) -> list[str]:
        for path in value:
            if not _PROJECT.fullmatch(path):
                raise ValueError(f"{path!r} is not a GitLab project path with its namespace (e.g. acme/app) or ID")
        return value


@dataclass(frozen=True)
class Repository:
    """A registry repository as the REST API names it; `path` is its /v2/ name."""

    id: int
    project_id: int
    path: str
    location: str


@dataclass(frozen=True)
class GraphQLTag:
    """A tag as GitLab's GraphQL API describes it. `created` is `createdAt`: the image's build time on a
    registry without the metadata database, the tag's first push with it; `published` is `publishedAt`, the
    tag's last push (metadata database only)."""

    name: str
    digest: str | None
    media_type: str | None
    created: datetime | None
    published: datetime | None

    @classmethod
    def from_api(cls, node: Any) -> GraphQLTag | None:
        name = node.get("name") if isinstance(node, dict) else None
        if not isinstance(name, str) or not name:
            return None
        digest, media_type = node.get("digest"), node.get("mediaType")
        return cls(
            name,
            digest if isinstance(digest, str) and digest else None,
            media_type if isinstance(media_type, str) and media_type else None,
            parse_time(node.get("createdAt")),
            parse_time(node.get("publishedAt")),
        )


class GraphQLRefused(Exception):
    """GraphQL cannot list these tags. `session`: nor any others (the endpoint, the token or the query is
    refused), so the rest of the session uses REST; otherwise only this repository does."""

    def __init__(self, reason: str, *, session: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.session = session


@dataclass(frozen=True)
class Target:
    kind: Literal["group", "project"]
    ref: str  # path or numeric ID, as the API takes it
    label: str

    @property
    def endpoint(self) -> str:
        return f"{self.kind}s/{quote(self.ref, safe='')}/registry/repositories"


class GitLabRegistry(RegistryAdapter):
    type_name = "gitlab"
    label = "GitLab Container Registry (gitlab.com, self-managed)"
    default_url = "https://registry.gitlab.com"
    auth_kinds = ("anonymous", "password", "token")
    options_model = GitLabOptions
    has_catalog = False
    least_rights = (
        "A personal, group or project access token with only the scopes `read_api` and `read_registry`, whose "
        "role on the groups or projects to watch is `Reporter`. Not `api`, `write_registry`, `write_repository`, "
        "`sudo` or `admin_mode`, and no role above Reporter (Developer can push). A deploy token with "
        "`read_registry` works against the registry only (set `repositories`)."
    )
    options: GitLabOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        config = with_username(config, DEFAULT_USERNAME)
        super().__init__(config, client_options)
        self._realm: str | None = None
        self._pinged = False
        self._api: VendorApi | None = None
        self._api_lock = asyncio.Lock()
        self._kind: TokenKind | None = None if config.credentials else "anonymous"
        self._token: dict[str, Any] = {}
        self._repositories: dict[str, Repository] = {}
        self._keyset: bool | None = None
        self._keyset_lock = asyncio.Lock()
        # GraphQL for tags: None until the first answer decides, False (with the reason) once refused
        self._graphql: bool | None = None if self.options.graphql else False
        self._graphql_off = "" if self.options.graphql else "turned off (-o graphql=false)"
        self._graphql_lock = asyncio.Lock()
        self._graphql_tags: dict[str, dict[str, GraphQLTag]] = {}  # repository -> tag -> what GraphQL said

    # ---- GitLab API -------------------------------------------------------------------------

    async def identify(self) -> None:
        result = await self.client.ping()
        self._pinged = True
        self._realm = result.challenge.realm if result.challenge else None

    async def _vendor(self) -> VendorApi:
        async with self._api_lock:
            if self._api is None:
                url = self.options.api_url
                if url is None:
                    if not self._pinged:
                        await self.identify()
                    url = default_api_url(self.client.base_url, self._realm)
                self._api = VendorApi(self.client, url, self._api_headers, name="GitLab")
            return self._api

    async def _api_headers(self) -> Mapping[str, str]:
        credentials = self.config.credentials
        if credentials is None:
            return {}
        if self.options.api_auth == "bearer":
            return {"Authorization": f"Bearer {credentials.secret.reveal()}"}
        return {"PRIVATE-TOKEN": credentials.secret.reveal()}

    def _api_error(self, error: RegistryError, what: str) -> RegistryError:
        """The shared client's error, said in GitLab's terms (the client only knows registry bodies)."""
        status = error.http_status
        if status == 401:
            return AuthenticationError(
                f"GitLab's API rejected the token while trying to {what} (HTTP 401)",
                url=error.url,
                http_status=401,
                hint=CREDENTIALS_HINT,
            )
        if status == 403:
            return AccessDeniedError(
                f"GitLab's API refused to {what} (HTTP 403)", url=error.url, http_status=403, hint=ROLE_HINT
            )
        if status == 404:
            return NotFoundError(
                f"GitLab's API could not {what}: not found (HTTP 404)",
                url=error.url,
                http_status=404,
                hint="Check api_url: it must be GitLab's REST API root, e.g. https://gitlab.example.com/api/v4",
            )
        if isinstance(error, RateLimitedError):
            return RateLimitedError(
                f"GitLab's API is rate limiting ({what})",
                url=error.url,
                http_status=error.http_status,
                retry_after=error.retry_after,
                hint="GitLab limits API requests per user and IP (GitLab.com: about 2,000 a minute); wait, or "
                "watch fewer groups at a time",
            )
        if isinstance(error, TLSError | UnreachableError):
            return type(error)(
                f"GitLab's API: {error.message}",
                url=error.url,
                reason=error.reason,
                hint=f"{error.hint}. The API URL is the api_url option (now {self._api_url_text()})",
            )
        return error

    def _api_url_text(self) -> str:
        return self._api.base_url if self._api is not None else (self.options.api_url or "derived")

    async def _load_token(self, *, quiet: bool = False) -> TokenKind:
        """What the credential is, from `/personal_access_tokens/self` (any scope may call it)."""
        if self._kind is not None:
            return self._kind
        api = await self._vendor()
        try:
            self._token = await api.get_object("personal_access_tokens/self")
            self._kind = "personal"
        except RegistryError as error:
            if error.http_status == 401 and await self._registry_accepts():
                # The registry accepts these credentials, GitLab's API does not: a deploy or job token.
                self._kind = "registry_only"
            elif error.http_status == 401:
                raise self._api_error(error, "read the token's own details") from None
            elif error.http_status == 400:
                self._kind = "not_personal"  # an OAuth token: valid, but not an access token
            elif error.http_status == 404:
                self._kind = "no_self_endpoint"  # GitLab before 15.5
            elif quiet:
                return "no_self_endpoint"
            else:
                raise self._api_error(error, "read the token's own details") from None
        return self._kind

    async def _registry_authenticate(self) -> None:
        try:
            await super().authenticate()
        except AuthenticationError as error:
            if self.config.credentials is None:
                raise
            raise AuthenticationError(
                error.message, url=error.url, http_status=error.http_status, hint=CREDENTIALS_HINT
            ) from None

    async def _registry_accepts(self) -> bool:
        """Whether the registry takes the credentials GitLab's API refused (raises when it refuses them too)."""
        if not self._pinged:
            await self.identify()
        if self.client.auth_scheme is None:
            return False
        await self._registry_authenticate()
        return True

    @property
    def _scopes(self) -> frozenset[str] | None:
        scopes = self._token.get("scopes")
        return frozenset(str(s) for s in scopes) if isinstance(scopes, list) else None

    def _deploy_token_error(self, url: str | None = None) -> AuthenticationError:
        return AuthenticationError(
            "the registry accepted the credentials but GitLab's API refused them: a deploy token (or a CI job token) "
            "works only with the registry, so it cannot list groups and projects",
            url=url,
            http_status=401,
            reason="deploy_token_for_api",
            hint=DEPLOY_HINT,
        )

    # ---- connection test --------------------------------------------------------------------

    async def authenticate(self) -> None:
        await self._registry_authenticate()
        if self.config.credentials is None:
            return
        kind = await self._load_token()
        if kind == "registry_only" and not self.options.repositories:
            raise self._deploy_token_error(self._api_url_text())

    async def read_probe(self) -> str:
        if self.options.repositories or self._kind == "registry_only":
            return await super().read_probe()
        first: str | None = None
        for target in self._targets():
            async for path in self._repositories_of(target, page_size=1):
                first = first or path
                break
        if not self._targets():
            async for path in self.list_repositories(page_size=1):
                first = path
                break
        where = ", ".join(t.label for t in self._targets()) or "the projects the token is a Reporter (or more) of"
        if first is None:
            return f"listed the container registry of {where}: no repositories yet"
        tags: list[str] = []
        async for tag in self.client.tags(first, page_size=10):
            tags.append(tag)
            if len(tags) >= 10:
                break
        text = f"listed the container registry of {where}; read {len(tags)} tag(s) of {first} from the registry"
        return f"{text}; {await self._listing_path(first)}{self._location_note(first)}"

    async def _listing_path(self, path: str) -> str:
        """Which way tags will be listed, found with one GraphQL request for one tag of `path`."""
        repository = self._repositories.get(path)
        if repository is not None:
            try:
                await self._graphql_page(repository, 1, None)
            except GraphQLRefused as refusal:
                return f"tags are listed through the REST API, digests and times read from the registry ({refusal})"
            return (
                f"tags are listed through GitLab's GraphQL API, with digests and times, {GRAPHQL_PAGE_SIZE} a request"
            )
        return "tags are listed through the REST API, digests and times read from the registry"

    def _location_note(self, path: str) -> str:
        """GitLab says where its registry is; a different host means the integration's URL is another one."""
        repository = self._repositories.get(path)
        host = repository.location.split("/", 1)[0].lower() if repository and "/" in repository.location else None
        ours = urlsplit(self.client.base_url).netloc.lower()
        if host and host != ours:
            return f" (GitLab names its registry {host}, this integration uses {ours})"
        return ""

    # ---- rights -----------------------------------------------------------------------------

    async def rights(self) -> RightsReport:
        if self.config.credentials is None:
            return RightsReport(
                Rights.READ_ONLY, "anonymous access: GitLab lets anonymous users pull public images, never push"
            )
        kind = await self._load_token()
        probe = await self._registry_probe()
        if kind == "personal":
            return await self._token_rights(probe)
        granted = f"the registry's token service grants {', '.join(sorted(probe[1]))} on {probe[0]}" if probe else ""
        if probe and probe[1] - {"pull"}:
            return RightsReport(
                Rights.CAN_WRITE,
                f"{self._kind_text(kind)}; {granted}",
                "regscout only reads: use a token that can only pull (read_registry)",
            )
        why = {
            "registry_only": "GitLab's API refuses it, so its scopes cannot be read; whether it also has "
            "write_package_registry or write_repository cannot be seen with it",
            "not_personal": "GitLab describes only personal, group and project access tokens "
            "(/personal_access_tokens/self), so its scopes cannot be read",
            "no_self_endpoint": "this GitLab has no /personal_access_tokens/self (before 15.5), so the token's "
            "scopes cannot be read",
        }.get(kind, "")
        registry = f"; {granted}, so it cannot push or delete images there" if probe else ""
        check = (
            "Check under the project's or group's Settings > Repository > Deploy tokens that it has only read_registry"
            if kind == "registry_only"
            else "Check in GitLab that the token has only the scopes read_api and read_registry"
        )
        return RightsReport(Rights.UNKNOWN, f"{self._kind_text(kind)}: {why}{registry}", check)

    @staticmethod
    def _kind_text(kind: TokenKind) -> str:
        return {
            "registry_only": "a registry-only credential (deploy token)",
            "not_personal": "an OAuth or other non-access token",
            "no_self_endpoint": "an access token on GitLab older than 15.5",
        }.get(kind, "the token")

    async def _registry_probe(self) -> tuple[str, frozenset[str]] | None:
        """The 1.8 probe: ask GitLab's token service for pull,push,delete on an existing repository; it
        answers with what the credential may do (its scopes and role together). Nothing is written."""
        if self.client.auth_scheme != "bearer":
            return None
        repository = await self.first_repository()
        if repository is None:
            return None
        token = await self.client.token([f"repository:{repository}:pull,push,delete"], force=True)
        claims = token.claims()
        if not claims:
            return None
        return repository, frozenset(granted_actions(claims, "repository", repository))

    async def _token_rights(self, probe: tuple[str, frozenset[str]] | None) -> RightsReport:
        scopes = self._scopes or frozenset()
        extra = sorted(scopes - NEEDED_SCOPES)
        writing = [s for s in extra if s not in READ_SCOPES]
        elevated, checked = await self._elevated_roles()
        admin = await self._is_admin(scopes)
        pushes = sorted(probe[1] - {"pull"}) if probe else []
        facts = [f"the token's scopes are {', '.join(sorted(scopes)) or 'none'}"]
        if elevated:
            facts.append(f"its role is {', '.join(elevated)}")
        elif checked:
            facts.append(f"its role is at most Reporter ({checked})")
        else:
            facts.append("its roles could not be read")
        if admin:
            facts.append("its user is a GitLab administrator")
        if probe:
            facts.append(f"the registry grants {', '.join(sorted(probe[1])) or 'nothing'} on {probe[0]}")
        expires = self._token.get("expires_at")
        if isinstance(expires, str) and expires:
            facts.append(f"it expires on {expires}")
        detail = "; ".join(facts)
        if writing or pushes:
            changes = [
                f"create a new token with only read_api and read_registry (drop {', '.join(writing)})"
                if writing
                else "create a new token with only read_api and read_registry"
            ]
            if elevated:
                changes.append("give it the Reporter role instead")
            excess = f"scope(s) {', '.join(writing)} beyond read_api and read_registry" if writing else "push rights"
            return RightsReport(Rights.CAN_WRITE, f"{excess}: {detail}", _sentence("; ".join(changes)))
        changes = []
        if elevated:
            changes.append("lower the role to Reporter (Developer and above can push with a write scope)")
        if extra:
            changes.append(f"drop the unneeded scope(s) {', '.join(extra)}")
        if admin:
            changes.append("use a token of a non-administrator user")
        if changes:
            return RightsReport(
                Rights.READ_ONLY,
                f"read-only scopes keep this token from writing, but it has more than it needs: {detail}",
                _sentence("; ".join(changes)),
            )
        return RightsReport(Rights.READ_ONLY, detail)

    async def _elevated_roles(self) -> tuple[list[str], str]:
        """Memberships of Developer or above (Developer can push with a write scope), and what was checked."""
        api = await self._vendor()
        try:
            data = await api.get_object(
                "personal_access_tokens/self/associations", {"min_access_level": DEVELOPER, "per_page": PAGE_SIZE}
            )
        except RegistryError as error:
            if error.http_status != 404:
                log.info("the token's associations could not be read: %s", error.message)
                return [], ""
            return await self._project_roles()  # GitLab before 17.4
        found: list[tuple[str, str, int]] = []
        for group in data.get("groups") or []:
            level = group.get("access_levels") if isinstance(group, dict) else None
            if isinstance(level, int) and level >= DEVELOPER:
                found.append(("group", _group_path(group), level))
        for project in data.get("projects") or []:
            level = _association_level(project) if isinstance(project, dict) else None
            if level is not None and level >= DEVELOPER:
                found.append(("project", str(project.get("path_with_namespace")), level))
        return _roles_text(found), "checked every group and project of the token"

    async def _project_roles(self) -> tuple[list[str], str]:
        project_ids = sorted({r.project_id for r in self._repositories.values()})[:PERMISSION_CHECKS]
        if not project_ids:
            return [], ""
        api = await self._vendor()
        found: list[tuple[str, str, int]] = []
        for project_id in project_ids:
            try:
                project = await api.get_object(f"projects/{project_id}")
            except RegistryError as error:
                log.info("the permissions of project %s could not be read: %s", project_id, error.message)
                continue
            level = _permission_level(project)
            if level is not None and level >= DEVELOPER:
                found.append(("project", str(project.get("path_with_namespace")), level))
        return _roles_text(found), f"checked the {len(project_ids)} project(s) listed"

    async def _is_admin(self, scopes: frozenset[str]) -> bool:
        if not scopes & {"api", "read_api", "read_user"}:
            return False
        api = await self._vendor()
        try:
            user = await api.get_object("user")
        except RegistryError as error:
            log.info("the token's user could not be read: %s", error.message)
            return False
        return user.get("is_admin") is True

    # ---- listing ----------------------------------------------------------------------------

    def _targets(self) -> list[Target]:
        groups = [Target("group", g, f"group {g}") for g in self.options.groups]
        return groups + [Target("project", p, f"project {p}") for p in self.options.projects]

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for name in self.options.repositories:
                yield name
            return
        if self._kind == "registry_only":
            raise self._deploy_token_error()
        size = max(1, min(page_size, PAGE_SIZE))
        seen: set[str] = set()
        targets = self._targets()
        if not targets:
            if self.config.credentials is None:
                raise RegistryError(
                    "anonymous access has no memberships to list",
                    reason="groups_or_projects_required",
                    hint="Name the public groups or projects to watch (-o groups=acme or -o projects=acme/app)",
                )
            targets = [t async for t in self._member_projects()]
        for target in targets:
            async for path in self._repositories_of(target, page_size=size):
                if path not in seen:
                    seen.add(path)
                    yield path

    async def _member_projects(self) -> AsyncIterator[Target]:
        api = await self._vendor()
        params = {"membership": "true", "min_access_level": REPORTER, "order_by": "id", "sort": "asc"}
        try:
            async for project in api.numbered_pages("projects", params, page_size=PAGE_SIZE):
                disabled = project.get("container_registry_access_level") == "disabled" or (
                    project.get("container_registry_enabled") is False
                )
                if isinstance(project.get("id"), int) and not disabled:
                    yield Target("project", str(project["id"]), f"project {project.get('path_with_namespace')}")
        except RegistryError as error:
            raise await self._listing_error(error, "list the projects the token is a member of", None) from None

    async def _repositories_of(self, target: Target, *, page_size: int) -> AsyncIterator[str]:
        api = await self._vendor()
        try:
            async for item in api.numbered_pages(target.endpoint, page_size=page_size):
                repository = _repository(item)
                if repository is None:
                    continue
                if item.get("status") in DELETING:
                    log.info("%s: skipped %s, which is being deleted", target.label, repository.path)
                    continue
                self._repositories[repository.path] = repository
                yield repository.path
        except RegistryError as error:
            raise await self._listing_error(error, f"list the container registry of {target.label}", target) from None

    async def _listing_error(self, error: RegistryError, what: str, target: Target | None) -> RegistryError:
        status = error.http_status
        credentials = self.config.credentials is not None
        if status == 401 and credentials and await self._load_token(quiet=True) == "registry_only":
            return self._deploy_token_error(error.url)
        if status == 404 and target is not None:
            return NotFoundError(
                f"{target.label} does not exist or is not visible to the token (HTTP 404)",
                url=error.url,
                http_status=404,
                reason=f"{target.kind}_not_found",
                hint=f"Check the {target.kind} path (as in its URL, e.g. acme/platform) and api_url; a private "
                f"{target.kind} is visible only to its members",
            )
        if status == 404:
            return NotFoundError(
                f"GitLab's API could not {what} (HTTP 404)",
                url=error.url,
                http_status=404,
                reason="api_not_found",
                hint="Check api_url: it must be GitLab's REST API root, e.g. https://gitlab.example.com/api/v4",
            )
        if status == 403:
            return await self._forbidden(error, what, target)
        return self._api_error(error, what)

    async def _forbidden(self, error: RegistryError, what: str, target: Target | None) -> RegistryError:
        """Why GitLab said 403: a missing scope, a disabled registry, or too low a role. The shared client
        does not keep the error body, so the token's scopes and the project's settings tell."""
        kind = await self._load_token(quiet=True) if self.config.credentials is not None else "anonymous"
        scopes = self._scopes
        if kind == "personal" and scopes is not None and not scopes & API_SCOPES:
            return AccessDeniedError(
                f"the token lacks the read_api scope, which GitLab's API needs to {what} (HTTP 403 insufficient_scope;"
                f" its scopes: {', '.join(sorted(scopes)) or 'none'})",
                url=error.url,
                http_status=403,
                reason="missing_read_api",
                hint="Create a token with the scopes read_api and read_registry (a token's scopes cannot be changed)",
            )
        if target is not None and target.kind == "project":
            project = await self._project_or_none(target.ref)
            if project is not None:
                if project.get("container_registry_access_level") == "disabled" or (
                    project.get("container_registry_enabled") is False
                ):
                    return AccessDeniedError(
                        f"the container registry of {target.label} is turned off (HTTP 403)",
                        url=error.url,
                        http_status=403,
                        reason="registry_disabled",
                        hint="Turn it on under the project's Settings > General > Visibility, project features, "
                        "permissions > Container registry, or stop watching the project",
                    )
                level = _permission_level(project)
                if level is not None and level < REPORTER:
                    return AccessDeniedError(
                        f"the token's role on {target.label} is {role_name(level)}; reading its container registry "
                        "needs Reporter (HTTP 403)",
                        url=error.url,
                        http_status=403,
                        reason="insufficient_role",
                        hint=ROLE_HINT,
                    )
        reason = "insufficient_role" if scopes is not None else "insufficient_rights"
        return AccessDeniedError(
            f"GitLab refused to {what} (HTTP 403)",
            url=error.url,
            http_status=403,
            reason=reason,
            hint=f"{ROLE_HINT}; the token needs the scopes read_api and read_registry",
        )

    async def _project_or_none(self, ref: str) -> dict[str, Any] | None:
        api = await self._vendor()
        try:
            return await api.get_object(f"projects/{quote(ref, safe='')}")
        except RegistryError:
            return None

    async def list_tags(self, repository: str) -> list[TagRef]:
        known = self._repositories.get(repository)
        if known is None:
            return await super().list_tags(repository)  # a configured repository: /v2/ tags/list
        if self._graphql is not False:
            try:
                return await self._graphql_list(known)
            except GraphQLRefused as refusal:
                log.info("%s: tags listed through the REST API instead of GraphQL: %s", repository, refusal)
        self._graphql_tags.pop(repository, None)  # nothing from an earlier listing may describe these
        path = f"projects/{known.project_id}/registry/repositories/{known.id}/tags"
        try:
            return [TagRef(name) for name in await self._tag_names(path)]
        except RegistryError as error:
            if error.http_status == 404:
                raise NotFoundError(
                    f"repository {repository} is gone from GitLab (HTTP 404)",
                    url=error.url,
                    http_status=404,
                    hint="It was deleted after it was listed; list the repositories again",
                ) from None
            raise self._api_error(error, f"list the tags of {repository}") from None

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """From the GraphQL tag list: an index's manifest is read for its platforms (by digest, once per
        digest), nothing else. Tags that list did not describe (REST, configured repositories, no digest or
        no time) go the registry's way: manifest, then config."""
        tag = self._graphql_tags.get(repository, {}).get(ref.name)
        if tag is None or tag.digest is None or (tag.published is None and tag.created is None):
            return await super().describe(repository, ref)
        pushed = tag.published
        # With the metadata database createdAt is the tag's first push, not a build time: the last push stands in.
        source: Literal["build", "push"] = "push" if pushed is not None else "build"
        created = pushed if pushed is not None else tag.created
        media_type = tag.media_type
        platforms: tuple[str, ...] = ()
        if media_type in INDEX_TYPES:
            try:
                index = await self._manifest(repository, tag.digest)
            except RegistryError as error:
                return TagInfo(repository, ref.name, tag.digest, pushed=pushed, error=error.describe())
            media_type = index.media_type
            if isinstance(index, ImageIndex):
                platforms = tuple(str(platform) for platform in index.platforms())
        return TagInfo(repository, ref.name, tag.digest, media_type, platforms, created, source, pushed)

    # ---- GraphQL ----------------------------------------------------------------------------

    async def _graphql_list(self, repository: Repository) -> list[TagRef]:
        """Every tag of a repository, 20 a request; nothing is kept unless every page came."""
        found: dict[str, GraphQLTag] = {}
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page, following = await self._graphql_page(repository, GRAPHQL_PAGE_SIZE, cursor)
            for tag in page:
                found.setdefault(tag.name, tag)
            if following is None:
                break
            if following in seen:
                raise GraphQLRefused(f"GraphQL's tag pages of {repository.path} loop", session=False)
            seen.add(following)
            cursor = following
        self._graphql_tags[repository.path] = found
        return [TagRef(tag.name, tag.digest, tag.published) for tag in found.values()]

    async def _graphql_page(
        self, repository: Repository, first: int, after: str | None
    ) -> tuple[list[GraphQLTag], str | None]:
        """One page of tags and the cursor of the next (None after the last). The first answer of the session
        decides, under a lock, whether GraphQL is used at all."""
        if self._graphql is None:
            async with self._graphql_lock:
                if self._graphql is None:
                    page = await self._graphql_request(repository, first, after)
                    self._graphql = True
                    return page
        if self._graphql is False:
            raise GraphQLRefused(f"GraphQL: {self._graphql_off}", session=True)
        return await self._graphql_request(repository, first, after)

    async def _graphql_request(
        self, repository: Repository, first: int, after: str | None
    ) -> tuple[list[GraphQLTag], str | None]:
        try:
            return await self._graphql_call(repository, first, after)
        except GraphQLRefused as refusal:
            if refusal.session and self._graphql is not False:
                self._graphql, self._graphql_off = False, refusal.reason
                log.info("GitLab's GraphQL API is not used for tags in this session: %s", refusal.reason)
            raise

    async def _graphql_call(
        self, repository: Repository, first: int, after: str | None
    ) -> tuple[list[GraphQLTag], str | None]:
        api = await self._vendor()
        if not api.base_url.endswith("/api/v4"):
            raise GraphQLRefused("api_url does not end in /api/v4, so GraphQL's address is unknown", session=True)
        url = api.base_url[: -len("/v4")] + "/graphql"
        variables = {"id": f"gid://gitlab/ContainerRepository/{repository.id}", "first": first, "after": after}
        try:
            data, _ = await api.call("POST", url, json_body={"query": TAGS_QUERY, "variables": variables})
        except RegistryError as error:
            if isinstance(error, RateLimitedError | TLSError | UnreachableError):
                raise self._api_error(error, f"list the tags of {repository.path}") from None
            status = error.http_status
            if isinstance(error, ProtocolError) or (status is not None and 400 <= status < 500):
                raise GraphQLRefused(f"GitLab's GraphQL API answered {_status_text(error)}", session=True) from None
            raise GraphQLRefused(f"GitLab's GraphQL API failed: {error.message}", session=False) from None
        return _graphql_tags_page(data, repository.path, first)

    # ---- REST tag names ---------------------------------------------------------------------

    async def _tag_names(self, path: str) -> list[str]:
        """Keyset pages where GitLab has them (GitLab.com, registries with the metadata database), else
        offset pages; both 100 tags a request. The first 405 decides for the rest of this session."""
        if self._keyset is None:
            async with self._keyset_lock:
                if self._keyset is None:
                    try:
                        names = await self._keyset_names(path)
                    except ProtocolError as error:
                        if error.http_status != 405:
                            raise
                        self._keyset = False
                    else:
                        self._keyset = True
                        return names
        if self._keyset:
            return await self._keyset_names(path)
        api = await self._vendor()
        names = [_tag_name(item) async for item in api.numbered_pages(path, page_size=PAGE_SIZE)]
        return [name for name in names if name]

    async def _keyset_names(self, path: str) -> list[str]:
        api = await self._vendor()
        params = {"pagination": "keyset", "order_by": "name", "sort": "asc", "per_page": PAGE_SIZE}
        url: str | None = api.url(path, params)
        seen: set[str] = set()
        names: list[str] = []
        while url is not None:
            if url in seen:
                raise ProtocolError("GitLab's tag pagination loops", url=url)
            seen.add(url)
            data, headers = await api.get(url)
            if not isinstance(data, list):
                raise ProtocolError("GitLab's API answered a tag list with something that is not a list", url=url)
            names.extend(name for name in (_tag_name(item) for item in data) if name)
            linked = next_link(headers)
            following = (headers.get("x-next-page") or "").strip()
            if linked:
                url = urljoin(url, linked)
            elif following:  # a GitLab that ignored keyset and paged by offset, behind a proxy that drops Link
                url = api.url(path, {**params, "page": following})
            else:
                url = None
        return names


def _repository(item: dict[str, Any]) -> Repository | None:
    rid, pid, path = item.get("id"), item.get("project_id"), item.get("path")
    if not isinstance(rid, int) or not isinstance(pid, int) or not isinstance(path, str) or not path:
        return None
    location = item.get("location")
    return Repository(rid, pid, path, location if isinstance(location, str) else "")


def _status_text(error: RegistryError) -> str:
    return f"HTTP {error.http_status}" if error.http_status else error.message


def _graphql_messages(errors: Any) -> str:
    messages = [str(e.get("message")) for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    return "; ".join(messages)[:300]


def _graphql_tags_page(data: Any, path: str, asked: int) -> tuple[list[GraphQLTag], str | None]:
    """One GraphQL answer: HTTP 200 even when it failed, with the failure in `errors`. No `data` at all is a
    refused query (validation, authentication); `containerRepository` or `tags` null is a failure for this
    repository (GitLab could not reach its registry, the repository is not visible)."""
    if not isinstance(data, dict):
        raise GraphQLRefused("GitLab's GraphQL API answered with something that is not a GraphQL answer", session=True)
    errors = _graphql_messages(data.get("errors"))
    body = data.get("data")
    if not isinstance(body, dict):
        raise GraphQLRefused(f"GitLab's GraphQL API refused the query: {errors or 'no data'}", session=True)
    repository = body.get("containerRepository")
    tags = repository.get("tags") if isinstance(repository, dict) else None
    if not isinstance(tags, dict):
        what = "repository" if not isinstance(repository, dict) else "tags"
        detail = f": {errors}" if errors else ""
        raise GraphQLRefused(f"GitLab's GraphQL API gave no {what} for {path}{detail}", session=False)
    nodes, page_info = tags.get("nodes"), tags.get("pageInfo")
    if not isinstance(nodes, list) or not isinstance(page_info, dict):
        raise GraphQLRefused("GitLab's GraphQL API answered tags without nodes or pageInfo", session=True)
    page = [GraphQLTag.from_api(node) for node in nodes]
    parsed = [tag for tag in page if tag is not None]
    if len(parsed) != len(page):
        detail = f" ({errors})" if errors else ""
        raise GraphQLRefused(f"GitLab's GraphQL API left out tags of {path}{detail}", session=False)
    if errors:
        log.info("GitLab's GraphQL API, tags of %s: %s", path, errors)  # field errors; those tags get read
    more = page_info.get("hasNextPage") is True
    cursor = page_info.get("endCursor")
    if not more:
        return parsed, None
    if not isinstance(cursor, str) or not cursor:
        raise GraphQLRefused(f"GitLab's GraphQL API announced more tags of {path} without a cursor", session=False)
    if len(nodes) < asked:
        # A cap below what was asked: with the metadata database the cursor would skip the tags in between.
        raise GraphQLRefused(
            f"GitLab's GraphQL API answered {len(nodes)} of {asked} tags on a page that is not the last", session=True
        )
    return parsed, cursor


def _tag_name(item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) else ""


def _group_path(group: dict[str, Any]) -> str:
    web_url = group.get("web_url")
    if isinstance(web_url, str) and "/groups/" in web_url:
        return web_url.split("/groups/", 1)[1].strip("/")
    return str(group.get("full_path") or group.get("name") or group.get("id"))


def _association_level(project: dict[str, Any]) -> int | None:
    levels = project.get("access_levels")
    if not isinstance(levels, dict):
        return None
    values = [v for v in (levels.get("project_access_level"), levels.get("group_access_level")) if isinstance(v, int)]
    return max(values) if values else None


def _permission_level(project: dict[str, Any]) -> int | None:
    """The token's role on a project from `GET /projects/:id` (`permissions.project_access`/`group_access`)."""
    permissions = project.get("permissions")
    if not isinstance(permissions, dict):
        return None
    levels = [
        access.get("access_level")
        for access in (permissions.get("project_access"), permissions.get("group_access"))
        if isinstance(access, dict)
    ]
    values = [v for v in levels if isinstance(v, int)]
    return max(values) if values else None


def _roles_text(found: list[tuple[str, str, int]], shown: int = 5) -> list[str]:
    """ "Developer on group acme", leaving out what lies inside a group at no higher a level (inherited)."""
    groups = [(path, level) for kind, path, level in found if kind == "group"]
    kept = [
        (kind, path, level)
        for kind, path, level in found
        if not any(path.startswith(g + "/") and level <= gl for g, gl in groups)
    ]
    texts = [f"{role_name(level)} on {kind} {path}" for kind, path, level in kept]
    return texts[:shown] + ([f"{len(texts) - shown} more"] if len(texts) > shown else [])


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
