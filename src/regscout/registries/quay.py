"""Quay (quay.io and self-hosted Red Hat Quay): listing through the Quay API, /v2/ through the shared client.

Quay's API (`/api/v1`) reads only OAuth tokens (Bearer) and browser sessions; it ignores Basic credentials, so
a robot account or a user password reaches it as an anonymous caller (quay/quay `auth/decorators.py`,
`process_oauth`). What each credential can do therefore decides the path:

* an OAuth application token (user name `$oauthtoken` at the registry) and anonymous access list through the
  API: repositories per namespace (`next_page` tokens), tags with `manifest_digest` and `start_ts` (the push
  time), 100 per page, so browsing sends no manifest GET except for manifest lists, whose platforms the API
  does not report;
* a robot (`<namespace>+<name>`) or a user password can only use the registry: the catalog filtered to the
  namespaces, `tags/list`, and manifests and configs for digests and build times.

Rights come from the API for an OAuth token (`can_write`, `can_admin`, organisation `is_admin`, the user
and superuser views) and from Quay's token service for robots. Quay's token service parses only `pull`,
`push` and `*` (quay/quay `endpoints/v2/v2auth.py`), so the probe asks for `pull,push,*`, never `delete`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Self
from urllib.parse import quote

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .auth import Credentials, granted_actions
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
    with_username,
)
from .distribution import ClientOptions
from .errors import (
    AccessDeniedError,
    AuthenticationError,
    NotFoundError,
    ProtocolError,
    RegistryError,
    ServerError,
)
from .manifest import ImageIndex
from .vendor_api import VendorApi

OAUTH_USERNAME = "$oauthtoken"
TAG_PAGE_SIZE = 100  # the most endpoints/api/tag.py returns per page
NEXT_PAGE = "next_page"  # the opaque page token of endpoints/api/__init__.py page_support
PROBE_ACTIONS = "pull,push,*"  # the actions Quay's token service accepts; "*" is admin
_NAMESPACE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")  # quay/quay util/validation.py VALID_USERNAME_REGEX


class CredentialKind(enum.StrEnum):
    ANONYMOUS = "anonymous"
    OAUTH = "oauth"
    ROBOT = "robot"
    USER = "user"


def credential_kind(credentials: Credentials | None) -> CredentialKind:
    if credentials is None:
        return CredentialKind.ANONYMOUS
    if credentials.username == OAUTH_USERNAME:
        return CredentialKind.OAUTH
    return CredentialKind.ROBOT if "+" in credentials.username else CredentialKind.USER


_LOGIN_HINTS = {
    CredentialKind.OAUTH: (
        "Check the OAuth application token (Organisation → Applications → Generate Token) and that it is not "
        "revoked; the user name must be $oauthtoken (or empty with --auth token)"
    ),
    CredentialKind.ROBOT: (
        "Check the robot's full name (<namespace>+<robot>, e.g. acme+scanner) and its token; regenerating a "
        "robot token in Quay invalidates the old one"
    ),
    CredentialKind.USER: (
        "Check the user name and password; Quay takes account passwords only with database authentication. "
        "Prefer a robot account with Read permission"
    ),
}


class QuayOptions(AdapterOptions):
    api_url: str | None = Field(default=None, description="Quay API root (default: https://<registry host>/api/v1)")
    namespaces: list[str] = Field(
        default_factory=list,
        description="Organisations or users whose repositories to list; required for an OAuth token or anonymous "
        "access unless repositories are given (a robot defaults to its own namespace, a user to every repository "
        "the registry catalog shows it)",
    )
    include_public: bool = Field(
        default=False,
        description="Also list the namespaces' public repositories that the credentials have no permission on",
    )

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str | None) -> str | None:
        return http_url(value, "https://quay.example.com/api/v1")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("namespaces")
    @classmethod
    def _valid_namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            if not (_NAMESPACE.fullmatch(name) and 2 <= len(name) <= 255):
                raise ValueError(f"{name!r} is not a Quay organisation or user name (lower case, 2 to 255 characters)")
        return value

    @model_validator(mode="after")
    def _something_to_list(self, info: ValidationInfo) -> Self:
        username = (info.context or {}).get("username")
        # A robot or a user lists through the registry catalog, which shows only what it may read.
        lists_itself = bool(username) and username != OAUTH_USERNAME
        if not self.namespaces and not self.repositories and not lists_itself:
            raise ValueError(
                "an OAuth token or anonymous access lists through the Quay API: give the organisations or users "
                "to list (-o namespaces=acme,team) or the repositories (-o repositories=acme/app)"
            )
        return self


@dataclass(frozen=True)
class QuayTag:
    """A live tag as the Quay API describes it."""

    name: str
    digest: str
    is_list: bool
    pushed: datetime | None

    @classmethod
    def from_api(cls, item: dict[str, Any], now: float) -> QuayTag | None:
        """None for entries without a name or digest, and for expired ones (tag history)."""
        name, digest = item.get("name"), item.get("manifest_digest")
        if not isinstance(name, str) or not name or not isinstance(digest, str) or not digest:
            return None
        end = item.get("end_ts")
        if isinstance(end, int | float) and end <= now:
            return None
        start = item.get("start_ts")
        pushed = datetime.fromtimestamp(start, UTC) if isinstance(start, int | float) and start > 0 else None
        return cls(name, digest, item.get("is_manifest_list") is True, pushed)


class QuayRegistry(RegistryAdapter):
    type_name = "quay"
    label = "Quay (quay.io, Red Hat Quay)"
    default_url = "https://quay.io"
    auth_kinds = ("anonymous", "password", "token")
    options_model = QuayOptions
    has_catalog = False
    least_rights = (
        "A robot account (`<namespace>+<name>`) with the `Read` permission on the repositories to watch (not "
        "`Write` or `Admin`), or an OAuth application token generated with only `repo:read` (View all visible "
        "repositories) by a user who can read them. Robots list through the registry: Quay's API does not "
        "accept them."
    )
    options: QuayOptions

    def __init__(self, config: RegistryConfig, client_options: ClientOptions | None = None) -> None:
        config = with_username(config, OAUTH_USERNAME)
        super().__init__(config, client_options)
        self.kind = credential_kind(config.credentials)
        self.namespaces = self.options.namespaces
        if not self.namespaces and self.kind is CredentialKind.ROBOT and config.credentials is not None:
            self.namespaces = [config.credentials.username.split("+", 1)[0]]
        self.api_url = self.options.api_url or f"{self.client.base_url}/api/v1"
        self.api = VendorApi(self.client, self.api_url, self._api_headers, name="Quay")
        self._tags: dict[tuple[str, str], QuayTag] = {}
        self._organizations: dict[str, dict[str, Any] | None] = {}
        self._probed: str | None = None

    @property
    def uses_api(self) -> bool:
        return self.kind in (CredentialKind.ANONYMOUS, CredentialKind.OAUTH)

    @property
    def who(self) -> str:
        username = self.config.credentials.username if self.config.credentials else ""
        return {
            CredentialKind.ANONYMOUS: "anonymous access",
            CredentialKind.OAUTH: "the OAuth token",
            CredentialKind.ROBOT: f"robot {username}",
            CredentialKind.USER: f"user {username}",
        }[self.kind]

    # ---- Quay API ---------------------------------------------------------------------------

    async def _api_headers(self) -> dict[str, str]:
        if self.kind is CredentialKind.OAUTH and self.config.credentials is not None:
            return {"Authorization": f"Bearer {self.config.credentials.secret.reveal()}"}
        return {}

    async def _api_get(self, path: str, params: dict[str, Any] | None = None, *, what: str) -> dict[str, Any]:
        try:
            return await self.api.get_object(path, params)
        except RegistryError as error:
            raise self._api_error(error, what) from None

    def _api_error(self, error: RegistryError, what: str) -> RegistryError:
        status = error.http_status
        if status == 401:
            # Quay answers 401 only to callers it takes as anonymous: no token, or one it did not accept.
            if self.kind is CredentialKind.OAUTH:
                return AuthenticationError(
                    f"the Quay API did not accept the OAuth token while trying to {what} (HTTP 401)",
                    url=error.url,
                    http_status=401,
                    hint=_LOGIN_HINTS[CredentialKind.OAUTH],
                )
            return AuthenticationError(
                f"the Quay API requires credentials to {what} (HTTP 401)",
                url=error.url,
                http_status=401,
                hint="Give an OAuth application token with repo:read (user name $oauthtoken), or a robot account",
            )
        if status == 403:
            return AccessDeniedError(
                f"the OAuth token may not {what} (HTTP 403)",
                url=error.url,
                http_status=403,
                hint="The token needs the repo:read scope, and the user who generated it read permission here",
            )
        if status == 404:
            return NotFoundError(
                f"the Quay API could not {what}: not found (HTTP 404)", url=error.url, http_status=404, hint=""
            )
        return error

    def _api_missing(self, error: RegistryError) -> NotFoundError:
        return NotFoundError(
            f"no Quay API at {self.api_url}: it answered HTTP 404",
            url=error.url,
            http_status=404,
            reason="api_not_found",
            hint="Set api_url to the Quay API root (https://<quay host>/api/v1); it defaults to the registry URL",
        )

    def _list_params(self, namespace: str) -> dict[str, str | None]:
        # An anonymous caller sees nothing without public=true (get_visible_repositories).
        public = self.kind is CredentialKind.ANONYMOUS or self.options.include_public
        return {"namespace": namespace, "public": "true" if public else None}

    async def _namespace_repositories(self, namespace: str) -> AsyncIterator[str]:
        """The namespace's repositories as Quay lists them, following `next_page` tokens."""
        pages = self.api.token_pages(
            "repository",
            self._list_params(namespace),
            items_field="repositories",
            token_field=NEXT_PAGE,
            token_param=NEXT_PAGE,
        )
        try:
            async for item in pages:
                name, owner = item.get("name"), item.get("namespace")
                if isinstance(name, str) and name:
                    yield f"{owner if isinstance(owner, str) and owner else namespace}/{name}"
        except RegistryError as error:
            if error.http_status == 404:
                raise self._api_missing(error) from None
            raise self._api_error(error, f"list the repositories of {namespace}") from None

    async def _organization(self, namespace: str) -> dict[str, Any] | None:
        """The organisation as the caller sees it (`is_admin`, `is_member`); None when it is no organisation."""
        if namespace not in self._organizations:
            try:
                view: dict[str, Any] | None = await self.api.get_object(f"organization/{quote(namespace, safe='')}")
            except RegistryError as error:
                if error.http_status != 404:
                    raise self._api_error(error, f"read organisation {namespace}") from None
                view = None
            self._organizations[namespace] = view
        return self._organizations[namespace]

    async def _require_namespace(self, namespace: str) -> None:
        """Raise Not found when Quay knows neither an organisation nor a user of this name; both endpoints
        answer anyone, so no credentials are needed (a robot's never go to the API)."""
        if await self._organization(namespace) is not None:
            return
        try:
            await self.api.get_object(f"users/{quote(namespace, safe='')}")
        except RegistryError as error:
            if error.http_status != 404:
                raise self._api_error(error, f"look up user {namespace}") from None
            raise NotFoundError(
                f"namespace {namespace} does not exist: the Quay API knows no organisation or user of that name",
                url=error.url,
                http_status=404,
                reason="namespace_not_found",
                hint="Check the namespaces option (organisation or user names, lower case) and api_url",
            ) from None

    async def _tag_page(
        self, repository: str, page: int, limit: int = TAG_PAGE_SIZE, specific: str | None = None
    ) -> dict[str, Any]:
        params = {"onlyActiveTags": "true", "limit": limit, "page": page, "specificTag": specific}
        try:
            return await self.api.get_object(f"repository/{quote(repository, safe='/')}/tag/", params)
        except RegistryError as error:
            if error.http_status == 404:
                raise NotFoundError(
                    f"repository {repository} does not exist on Quay",
                    url=error.url,
                    http_status=404,
                    hint="Check the repository name (namespace/name)",
                ) from None
            raise self._api_error(error, f"read the tags of {repository}") from None

    async def _api_tags(self, repository: str) -> list[TagRef]:
        """Every live tag, one request per 100; `has_additional` says whether another page follows (a page
        is never checked for being short)."""
        refs: list[TagRef] = []
        seen: set[str] = set()
        page = 1
        while True:
            data = await self._tag_page(repository, page)
            entries = [entry for entry in data.get("tags") or [] if isinstance(entry, dict)]
            now = datetime.now(UTC).timestamp()
            for entry in entries:
                tag = QuayTag.from_api(entry, now)
                if tag is not None and tag.name not in seen:
                    seen.add(tag.name)
                    self._tags[(repository, tag.name)] = tag
                    refs.append(TagRef(tag.name, tag.digest, tag.pushed))
            if data.get("has_additional") is not True:
                return refs
            if not entries:
                raise ProtocolError(f"the Quay API announced more tags of {repository} but sent an empty page")
            page += 1

    async def _fetch_tag(self, repository: str, name: str) -> QuayTag:
        data = await self._tag_page(repository, 1, specific=name)
        now = datetime.now(UTC).timestamp()
        for entry in data.get("tags") or []:
            tag = QuayTag.from_api(entry, now) if isinstance(entry, dict) else None
            if tag is not None and tag.name == name:
                self._tags[(repository, name)] = tag
                return tag
        raise NotFoundError(f"tag {repository}:{name} does not exist on Quay or has expired", hint="")

    # ---- connection test --------------------------------------------------------------------

    async def authenticate(self) -> None:
        if self.config.credentials is None:
            return  # Quay's token service refuses an anonymous login without scopes; pulls get their own tokens
        try:
            await super().authenticate()
        except AuthenticationError as error:
            raise AuthenticationError(
                f"Quay refused the credentials of {self.who} (HTTP {error.http_status})",
                url=error.url,
                http_status=error.http_status,
                hint=_LOGIN_HINTS[self.kind],
            ) from None

    async def read_probe(self) -> str:
        return await (self._api_read_probe() if self.uses_api else self._registry_read_probe())

    async def _api_read_probe(self) -> str:
        seen: list[str] = []
        first: str | None = self.options.repositories[0] if self.options.repositories else None
        if first is None:
            for namespace in self.namespaces:
                names = [name async for name in _first_page(self._namespace_repositories(namespace))]
                if not names:
                    await self._require_namespace(namespace)
                seen.append(f"namespace {namespace}: {len(names)}{'+' if len(names) >= 100 else ''} repositories")
                first = first or (names[0] if names else None)
        text = f"{self.who}: " + ("; ".join(seen) if seen else f"repository {first}")
        if first is None:
            scope = "public repositories only" if self.kind is CredentialKind.ANONYMOUS else "none readable yet"
            return f"{text} ({scope})"
        try:
            data = await self._tag_page(first, 1, limit=1)
        except AccessDeniedError as error:
            raise self._no_repo_read(first, error) from None
        self._probed = first
        now = datetime.now(UTC).timestamp()
        entries = [entry for entry in data.get("tags") or [] if isinstance(entry, dict)]
        tags = [tag for tag in (QuayTag.from_api(entry, now) for entry in entries) if tag is not None]
        if not tags:
            return f"{text}; {first} has no tags yet"
        await self.client.head_manifest(first, tags[0].name)
        return f"{text}; read {first}:{tags[0].name} from the API and the registry"

    def _no_repo_read(self, repository: str, error: RegistryError) -> AccessDeniedError:
        listed = not self.options.repositories
        if self.kind is CredentialKind.OAUTH and listed:
            # Quay lists what the token's user may see whatever the token's scopes; reading it needs repo:read.
            return AccessDeniedError(
                f"the OAuth token lists {repository} but may not read it (HTTP {error.http_status})",
                url=error.url,
                http_status=error.http_status,
                reason="token_lacks_repo_read",
                hint="Generate a new token in the OAuth application with the repo:read scope "
                "(View all visible repositories)",
            )
        return AccessDeniedError(
            f"{self.who} may not read {repository} (HTTP {error.http_status})",
            url=error.url,
            http_status=error.http_status,
            hint="An OAuth token needs repo:read and its user read permission on the repository",
        )

    async def _registry_read_probe(self) -> str:
        via = "through the registry (Quay's API does not accept robot or password credentials)"
        repository = await self.first_repository()
        if repository is None:
            for namespace in self.namespaces:
                try:
                    await self._require_namespace(namespace)
                except RegistryError as error:
                    # The registry answered; an API this robot does not otherwise need must not fail the test.
                    if error.reason == "namespace_not_found":
                        raise
            return (
                f"{self.who} sees no repositories in {', '.join(self.namespaces) or 'the catalog'} {via}; "
                "it sees only the repositories it has a permission on"
            )
        tags = [tag async for tag in _first_page(self.client.tags(repository, page_size=10))]
        self._probed = repository
        return f"{self.who}: read {len(tags)} tag(s) of {repository} {via}"

    async def first_repository(self) -> str | None:
        if self.options.repositories:
            return self.options.repositories[0]
        async for name in _first_page(self.list_repositories(page_size=100), 1):
            return name
        return None

    async def rights(self) -> RightsReport:
        if self.kind is CredentialKind.ANONYMOUS:
            return RightsReport(
                Rights.READ_ONLY,
                "anonymous access: Quay's token service grants push only to a signed-in user, robot or token",
            )
        if self.kind is CredentialKind.OAUTH:
            return await self._token_rights()
        return await self._registry_rights()

    async def _registry_rights(self) -> RightsReport:
        """Ask Quay's token service for pull, push and admin on a repository that exists (push on a missing
        one would create it) and read what it grants; nothing is written."""
        repository = self._probed or await self.first_repository()
        if repository is None:
            return RightsReport(Rights.UNKNOWN, "no repository exists to check rights against")
        token = await self.client.token([f"repository:{repository}:{PROBE_ACTIONS}"], force=True)
        claims = token.claims()
        if not claims:
            return RightsReport(Rights.UNKNOWN, "the registry's tokens are opaque; rights cannot be read")
        actions = granted_actions(claims, "repository", repository)
        named = {"push": "push (Write)", "*": "admin (Admin)"}
        excess = [named[action] for action in ("push", "*") if action in actions]
        if not excess:
            return RightsReport(
                Rights.READ_ONLY,
                f"Quay's token service grants only {', '.join(sorted(actions)) or 'nothing'} on {repository} "
                f"(asked for {PROBE_ACTIONS})",
            )
        fix = (
            "Set the robot's permission on its repositories to Read (Organisation → Robot Accounts → permissions)"
            if self.kind is CredentialKind.ROBOT
            else "Use a robot account with Read permission instead of a user's password"
        )
        return RightsReport(Rights.CAN_WRITE, f"Quay's token service grants {', '.join(excess)} on {repository}", fix)

    async def _token_rights(self) -> RightsReport:
        """What the OAuth token may do beyond reading, as the API itself answers (Quay has no token
        introspection): every answer below is already capped by the token's scopes."""
        excess: list[str] = []
        repository = self._probed
        if repository is not None:
            repo = await self._api_get(
                f"repository/{quote(repository, safe='/')}", {"includeTags": "false"}, what=f"read {repository}"
            )
            if repo.get("can_admin") is True:
                excess.append(f"administer {repository} (can_admin: repo:admin)")
            elif repo.get("can_write") is True:
                excess.append(f"push to {repository} (can_write: repo:write)")
        namespaces = dict.fromkeys(self.namespaces)
        if repository is not None:
            namespaces[repository.split("/", 1)[0]] = None
        for namespace in namespaces:
            organization = await self._organization(namespace)
            if organization is None:
                continue
            if organization.get("is_admin") is True:
                excess.append(f"administer organisation {namespace} (org:admin)")
            elif organization.get("is_member") is True:
                # Quay shows membership only to tokens whose scopes reach a team role: repo:create or org:admin.
                excess.append(f"create repositories in {namespace} (repo:create)")
        excess.extend(await self._account_rights())
        if excess:
            return RightsReport(
                Rights.CAN_WRITE,
                "the OAuth token may " + "; ".join(excess),
                "regscout only reads: generate a token with only repo:read (View all visible repositories) "
                "in the OAuth application and revoke this one",
            )
        if repository is None:
            return RightsReport(
                Rights.UNKNOWN,
                "no repository to read can_write and can_admin from; no organisation, user or superuser "
                "administration seen",
            )
        return RightsReport(
            Rights.READ_ONLY,
            f"Quay reports neither can_write nor can_admin on {repository}, no organisation administration, "
            "and no user:admin or super:user scope",
        )

    async def _account_rights(self) -> list[str]:
        """user:admin and super:user: the user view shows `is_me` only with user:admin and `super_user` only
        with super:user; without a user scope it answers 401, and the superuser list tells instead."""
        try:
            user: dict[str, Any] | None = await self.api.get_object("user/")
        except RegistryError as error:
            if error.http_status != 401:
                raise self._api_error(error, "read the token's user") from None
            user = None
        found: list[str] = []
        if user is not None and user.get("is_me") is True:
            found.append(f"administer the account {user.get('username')} (user:admin)")
        if user is not None:
            superuser = user.get("super_user") is True
        else:
            superuser = await self._superuser()
        if superuser:
            found.append("administer the whole Quay installation (super:user)")
        return found

    async def _superuser(self) -> bool:
        try:
            await self.api.get_object("superuser/organizations/", {"limit": 1})
        except RegistryError as error:
            # 404: no superusers here (quay.io, or FEATURE_SUPER_USERS off); 401/403: not a superuser token.
            if error.http_status in (401, 403, 404):
                return False
            raise self._api_error(error, "check for superuser access") from None
        return True

    # ---- listing ----------------------------------------------------------------------------

    async def list_repositories(self, page_size: int = 1000) -> AsyncIterator[str]:
        if self.options.repositories:
            for name in self.options.repositories:
                yield name
            return
        if self.uses_api:
            for namespace in self.namespaces:
                found = False
                async for name in self._namespace_repositories(namespace):
                    found = True
                    yield name
                if not found:
                    await self._require_namespace(namespace)
            return
        prefixes = tuple(f"{namespace}/" for namespace in self.namespaces)
        async for name in self._catalog(page_size):
            if not prefixes or name.startswith(prefixes):
                yield name

    async def _catalog(self, page_size: int) -> AsyncIterator[str]:
        """The registry catalog for a robot or user. Quay's token service answers `registry:catalog:*` with
        400 (it parses repository scopes only, openshift/oc-mirror#204); its catalog takes any login token."""
        yielded = 0
        try:
            async for name in self.client.catalog(page_size):
                yielded += 1
                yield name
            return
        except ServerError as error:
            if error.http_status != 400 or yielded:
                raise
        except (AccessDeniedError, AuthenticationError) as error:
            raise self._catalog_refused(error) from None
        try:
            async for name in self.client._paginate("/v2/_catalog", "repositories", [], page_size):
                yield name
        except (AccessDeniedError, AuthenticationError) as error:
            raise self._catalog_refused(error) from None

    def _catalog_refused(self, error: RegistryError) -> AccessDeniedError:
        return AccessDeniedError(
            f"{self.who} cannot list through Quay's API (it accepts only OAuth tokens), and the registry "
            f"catalog refused it (HTTP {error.http_status})",
            url=error.url,
            http_status=error.http_status,
            reason=f"{self.kind.value}_not_for_api",
            hint="Name the repositories (-o repositories=acme/app,acme/web), or use an OAuth application token "
            "with repo:read (user name $oauthtoken) to list through the API",
        )

    async def list_tags(self, repository: str) -> list[TagRef]:
        if not self.uses_api:
            return await super().list_tags(repository)
        return await self._api_tags(repository)

    async def describe(self, repository: str, ref: TagRef) -> TagInfo:
        """From the API's tag data; only a manifest list's index is fetched (by digest, once per digest),
        because the API does not report platforms. Quay keeps no build time: the push time stands in."""
        if not self.uses_api:
            return await super().describe(repository, ref)
        try:
            tag = self._tags.get((repository, ref.name)) or await self._fetch_tag(repository, ref.name)
            media_type: str | None = None
            platforms: tuple[str, ...] = ()
            if tag.is_list:
                index = await self._manifest(repository, tag.digest)
                media_type = index.media_type
                if isinstance(index, ImageIndex):
                    platforms = tuple(str(platform) for platform in index.platforms())
        except RegistryError as error:
            return TagInfo(repository, ref.name, ref.digest, pushed=ref.pushed, error=error.describe())
        source: Literal["push"] | None = "push" if tag.pushed else None
        return TagInfo(repository, ref.name, tag.digest, media_type, platforms, tag.pushed, source, tag.pushed)


async def _first_page(names: AsyncIterator[str], count: int = 100) -> AsyncIterator[str]:
    """At most `count` names (one API page), closing the source so that no further page is asked for."""
    taken = 0
    try:
        async for name in names:
            yield name
            taken += 1
            if taken >= count:
                break
    finally:
        if isinstance(names, AsyncGenerator):
            await names.aclose()
