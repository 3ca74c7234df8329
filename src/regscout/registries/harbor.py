"""Harbor v2: projects, repositories and artifacts through the Harbor API (/api/v2.0), rights from Harbor's own
answer to "who am I and what may I do here".

The artifact list carries each artifact's digest, media type, platform (or its index children's), build time
(`extra_attrs.created`) and every tag with its push time, so listing a registry costs one API request per page
of 100 artifacts and no manifest GET at all. Harbor accepts Basic on its API for users (an OIDC user's CLI
secret is the password) and robot accounts (`robot$name`, `robot$project+name`).

Harbor answers a request with wrong Basic credentials as if it were anonymous, so credentials are proven with
`GET /users/current` (401 for them; 412 names a robot). A project that does not exist and one the account is not
a member of both answer 403: Harbor does not tell them apart, and neither can regscout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from .base import (
    AdapterOptions,
    RegistryAdapter,
    RegistryConfig,
    Rights,
    RightsReport,
    TagInfo,
    TagRef,
    http_url,
    parse_time,
)
from .distribution import ClientOptions
from .errors import AccessDeniedError, AuthenticationError, NotARegistryError, NotFoundError, RegistryError
from .manifest import Platform
from .vendor_api import VendorApi

PAGE_SIZE = 100  # Harbor's maximum; more is refused with 422
ROLES = {1: "ProjectAdmin", 2: "Developer", 3: "Guest", 4: "Maintainer", 5: "Limited Guest"}
WRITING_ROLES = frozenset({1, 2, 4})
WRITING_ACTIONS = frozenset({"push", "create", "update", "delete", "operate", "stop", "*"})


class HarborOptions(AdapterOptions):
    api_url: str | None = Field(default=None, description="Harbor API base (default: <url>/api/v2.0)")
    projects: list[str] = Field(
        default_factory=list, description="Projects to watch (default: every project the account is a member of)"
    )
    include_public: bool = Field(default=False, description="Also list public projects the account is not a member of")
    include_proxy_cache: bool = Field(
        default=False,
        description="Also list proxy-cache projects (they hold only what was pulled through them; scanning one "
        "pulls nothing from upstream)",
    )

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        return http_url(value, "https://harbor.example/api/v2.0")


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    public: bool
    proxy_cache: bool
    roles: tuple[int, ...]  # the account's roles here (users only; robots get none)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Project | None:
        project_id, name = item.get("project_id"), item.get("name")
        if not isinstance(project_id, int) or not isinstance(name, str) or not name:
            return None
        metadata = _object(item.get("metadata"))
        roles = item.get("current_user_role_ids") or (
            [item["current_user_role_id"]] if item.get("current_user_role_id") else []
        )
        registry_id = item.get("registry_id")
        return cls(
            project_id,
            name,
            str(metadata.get("public", "false")).lower() == "true",
            isinstance(registry_id, int) and registry_id > 0,
            tuple(r for r in roles if isinstance(r, int)),
        )


@dataclass(frozen=True)
class Artifact:
    """What one artifact of the list says about every tag that points at it."""

    digest: str
    media_type: str | None
    platforms: tuple[str, ...]
    created: datetime | None
    pushed: datetime | None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Artifact | None:
        digest = item.get("digest")
        if not isinstance(digest, str) or not digest:
            return None
        extra = _object(item.get("extra_attrs"))
        platforms: list[str] = []
        for reference in item.get("references") or []:
            platform = reference.get("platform") if isinstance(reference, dict) else None
            if isinstance(platform, dict):
                _add_platform(platforms, platform.get("os"), platform.get("architecture"), platform.get("variant"))
        if not platforms:
            _add_platform(platforms, extra.get("os"), extra.get("architecture"), extra.get("variant"))
        media_type = item.get("manifest_media_type")
        return cls(
            digest,
            media_type if isinstance(media_type, str) else None,
            tuple(platforms),
            parse_time(extra.get("created")),
            parse_time(item.get("push_time")),
        )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _add_platform(into: list[str], os_name: Any, arch: Any, variant: Any) -> None:
    if isinstance(os_name, str) and isinstance(arch, str) and os_name and arch and "unknown" not in (os_name, arch):
        text = str(Platform(os_name, arch, variant if isinstance(variant, str) and variant else None))
        if text not in into:
            into.append(text)


class HarborRegistry(RegistryAdapter):
    type_name = "harbor"
    label = "Harbor v2"
    auth_kinds = ("anonymous", "password")
    options_model = HarborOptions
    has_catalog = False
    least_rights = (
        "A project member with the role `Limited Guest` (or `Guest`) on each project to watch, not a system "
        "administrator; or a robot account (`robot$…`) with only `pull repository`, `list repository`, `read "
        "artifact`, `list artifact` and `list tag`."
    )
    options: HarborOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        super().__init__(config, client_options)
        self.api = VendorApi(
            self.client, self.options.api_url or f"{config.url.rstrip('/')}/api/v2.0", self._api_headers, name="Harbor"
        )
        self._projects: list[Project] | None = None
        self._artifacts: dict[tuple[str, str], Artifact] = {}  # (repository, tag) -> its artifact
        self.robot = bool(config.credentials and config.credentials.username.startswith("robot$"))

    async def _api_headers(self) -> Mapping[str, str]:
        credentials = self.config.credentials
        return {"Authorization": credentials.basic_header()} if credentials else {}

    # ---- connection test --------------------------------------------------------------------

    async def identify(self) -> None:
        try:
            info = await self.api.get_object("systeminfo")
        except (NotFoundError, NotARegistryError) as error:
            raise NotARegistryError(
                "this is not a Harbor v2 API (no /api/v2.0/systeminfo)",
                url=error.url,
                http_status=error.http_status,
                reason="not_harbor",
                hint="Give the Harbor URL (https://harbor.example); for Harbor 1.x use the docker-registry type",
            ) from None
        if "auth_mode" not in info:
            raise NotARegistryError(
                "the API answered /systeminfo without auth_mode: not Harbor v2", url=self.api.url("systeminfo")
            )
        await super().identify()

    async def authenticate(self) -> None:
        if self.config.credentials is not None:
            await self._current_user()
        await super().authenticate()

    async def _current_user(self) -> dict[str, Any] | None:
        """The user behind the credentials; None for a robot (Harbor answers 412 for robots)."""
        try:
            return await self.api.get_object("users/current")
        except RegistryError as error:
            if error.http_status == 412:
                return None
            if error.http_status in (401, 403):
                credentials = self.config.credentials
                raise AuthenticationError(
                    f"Harbor refused the credentials of {credentials.username if credentials else 'anonymous'!r}",
                    url=error.url,
                    http_status=error.http_status,
                    hint="Check the user name and password; an OIDC user logs in with the CLI secret from the "
                    "user profile, a robot with robot$<name> (robot$<project>+<name>) and its secret",
                ) from None
            raise

    async def read_probe(self) -> str:
        projects = await self.projects()
        if not projects:
            return "connected; the account sees no project (make it a member with the role Limited Guest)"
        repositories = [name async for name in self._project_repositories(projects[0])]
        text = f"{len(projects)} project(s) visible"
        if repositories:
            refs = await self.list_tags(repositories[0])
            text += f"; read {len(refs)} tag(s) of {repositories[0]}"
        return text

    # ---- rights -----------------------------------------------------------------------------

    async def rights(self) -> RightsReport:
        if self.config.credentials is None:
            return RightsReport(Rights.READ_ONLY, "anonymous access reads public projects only and can change nothing")
        user = await self._current_user()
        if user is not None and (user.get("sysadmin_flag") or user.get("admin_role_in_auth")):
            return RightsReport(
                Rights.CAN_WRITE,
                f"{user.get('username', 'the account')} is a Harbor system administrator: it can change every "
                "project, user and setting",
                "Use an account that is not a system administrator, a member of the projects with the role "
                "Limited Guest",
            )
        projects = await self.projects()
        if not projects:
            return RightsReport(Rights.UNKNOWN, "the account sees no project, so there are no project rights to read")
        excess = await (self._robot_excess(projects) if user is None else self._member_excess(projects))
        if excess:
            return RightsReport(
                Rights.CAN_WRITE,
                "beyond reading: " + "; ".join(excess),
                "Give the robot only pull repository, list repository, read/list artifact and list tag"
                if user is None
                else "Make the account a member with the role Limited Guest (or Guest) instead",
            )
        where = ", ".join(p.name for p in projects)
        what = "only read permissions" if user is None else "read-only roles"
        return RightsReport(Rights.READ_ONLY, f"Harbor grants {what} on {where}")

    async def _member_excess(self, projects: list[Project]) -> list[str]:
        return [
            f"role {ROLES.get(role, role)} on project {project.name}"
            for project in projects
            for role in project.roles
            if role in WRITING_ROLES
        ]

    async def _robot_excess(self, projects: list[Project]) -> list[str]:
        excess: list[str] = []
        for project in projects:
            data, _ = await self.api.get(
                "users/current/permissions", {"scope": f"/project/{project.id}", "relative": "true"}
            )
            granted = sorted(
                {
                    f"{entry.get('resource') or 'project'}:{entry.get('action')}"
                    for entry in data or []
                    if isinstance(entry, dict) and entry.get("action") in WRITING_ACTIONS
                }
            )
            if granted:
                excess.append(f"{', '.join(granted)} on project {project.name}")
        return excess

    # ---- listing ----------------------------------------------------------------------------

    async def projects(self) -> list[Project]:
        """The projects to list: the configured ones, else those the account is a member of (public and
        proxy-cache ones only when asked)."""
        if self._projects is not None:
            return self._projects
        wanted = set(self.options.projects)
        found: list[Project] = []
        async for item in self.api.numbered_pages("projects", {"with_detail": "true"}, page_size=PAGE_SIZE,
                                                  size_param="page_size"):  # fmt: skip
            project = Project.from_api(item)
            if project is not None and self._watched(project, wanted):
                found.append(project)
        missing = wanted - {p.name for p in found}
        if missing:
            raise NotFoundError(
                f"project {', '.join(sorted(missing))} not found",
                url=self.api.url("projects"),
                reason="project_not_found",
                hint="Check the name; Harbor lists only projects the account is a member of (or public ones): add "
                "the account to the project with the role Limited Guest",
            )
        self._projects = found
        return found

    def _watched(self, project: Project, wanted: set[str]) -> bool:
        if wanted:
            return project.name in wanted
        if project.proxy_cache and not self.options.include_proxy_cache:
            return False
        member = bool(project.roles) or (self.robot and not project.public)
        return member or self.options.include_public or self._robot_project(project.name)

    def _robot_project(self, name: str) -> bool:
        credentials = self.config.credentials
        return bool(credentials and credentials.username.startswith(f"robot${name}+"))

    async def _project_repositories(self, project: Project) -> AsyncIterator[str]:
        path = f"projects/{quote(project.name, safe='')}/repositories"
        try:
            async for item in self.api.numbered_pages(path, page_size=PAGE_SIZE, size_param="page_size"):
                name = item.get("name")
                if isinstance(name, str) and name:
                    yield name
        except RegistryError as error:
            raise self._project_error(project.name, error) from None

    def _project_error(self, project: str, error: RegistryError) -> RegistryError:
        if error.http_status in (401, 403):
            return AccessDeniedError(
                f"project {project} not found, or the account is not a member",
                url=error.url,
                http_status=error.http_status,
                reason="project_not_found",
                hint="Harbor answers alike for both: check the project name and add the account as a member "
                "with the role Limited Guest",
            )
        return error

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for name in self.options.repositories:
                yield name
            return
        for project in await self.projects():
            async for name in self._project_repositories(project):
                yield name

    async def list_tags(self, repository: str) -> list[TagRef]:
        project, _, name = repository.partition("/")
        # a repository name with '/' goes into the path encoded twice (Harbor decodes path parameters again)
        path = f"projects/{quote(project, safe='')}/repositories/{quote(quote(name, safe=''), safe='')}/artifacts"
        refs: list[TagRef] = []
        try:
            async for item in self.api.numbered_pages(path, {"with_tag": "true"}, page_size=PAGE_SIZE,
                                                      size_param="page_size"):  # fmt: skip
                artifact = Artifact.from_api(item)
                if artifact is None:
                    continue
                for tag in item.get("tags") or []:
                    tag_name = tag.get("name") if isinstance(tag, dict) else None
                    if isinstance(tag_name, str) and tag_name:
                        pushed = parse_time(tag.get("push_time")) or artifact.pushed
                        self._artifacts[(repository, tag_name)] = artifact
                        refs.append(TagRef(tag_name, artifact.digest, pushed))
        except RegistryError as error:
            raise self._project_error(project, error) from None
        return refs

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """From the artifact list; the manifests only for a tag the list did not describe."""
        artifact = self._artifacts.get((repository, ref.name))
        if artifact is None or not artifact.platforms:
            return await super().describe(repository, ref)
        pushed = ref.pushed or artifact.pushed
        created = artifact.created or pushed
        source: Literal["build", "push"] | None = "build" if artifact.created else ("push" if pushed else None)
        return TagInfo(
            repository, ref.name, artifact.digest, artifact.media_type, artifact.platforms, created, source, pushed
        )
