"""gitlab: a GitLab REST API stand-in for listing and rights, a real token-auth registry for every /v2/ call.

The registry's token service (the harness issuer) plays GitLab's /jwt/auth: each credential below is one
registry account whose actions match what GitLab would grant its scopes and role.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights
from regscout.registries.errors import ConnectionStatus, RegistryError
from regscout.registries.gitlab import GitLabRegistry, default_api_url
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.faults import FaultProxy
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.httpserver import free_port
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.gitlab_api import DEVELOPER, GUEST, REPORTER, GitLabAPI, GitLabToken

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

MANY = 150  # tags in acme/many: two pages of 100


@dataclass(frozen=True)
class Credential:
    username: str  # the registry account (GitLab ignores it for access tokens)
    token: str
    gitlab: GitLabToken
    actions: frozenset[str]


PULL = frozenset({"pull"})
CREDENTIALS = {
    "reader": Credential(
        "reader", "glpat-reader-0123456789", GitLabToken("personal", "reader", memberships={"acme": REPORTER}), PULL
    ),
    "writer": Credential(
        "writer",
        "glpat-writer-0123456789",
        GitLabToken("personal", "writer", ("api", "read_registry", "write_registry"), {"acme": DEVELOPER}),
        frozenset({"pull", "push", "delete"}),
    ),
    "developer": Credential(
        "acme-bot",
        "glpat-groupbot-012345678",
        GitLabToken("group", "group_2_bot", memberships={"acme": DEVELOPER}),
        PULL,
    ),
    "auditor": Credential(
        "auditor",
        "glpat-auditor-012345678",
        GitLabToken(
            "personal", "auditor", ("read_api", "read_registry", "read_repository"), {"acme": REPORTER}, is_admin=True
        ),
        PULL,
    ),
    "puller": Credential(
        "puller",
        "glpat-puller-0123456789",
        GitLabToken("personal", "puller", ("read_registry",), {"acme": REPORTER}),
        PULL,
    ),
    "guest": Credential(
        "guest",
        "glpat-guest-01234567890",
        GitLabToken("personal", "guest", memberships={"acme/app": GUEST}),
        frozenset(),
    ),
    "oauth": Credential(
        "oauth2", "oauth-access-token-0123", GitLabToken("oauth", "reader", memberships={"acme": REPORTER}), PULL
    ),
    "deploy": Credential(
        "gitlab+deploy-token-7",
        "gldt-deploy-0123456789",
        GitLabToken("deploy", "gitlab+deploy-token-7", ("read_registry",)),
        PULL,
    ),
    "deploy-writer": Credential(
        "gitlab+deploy-token-8",
        "gldt-deploy-w-01234567",
        GitLabToken("deploy", "gitlab+deploy-token-8", ("read_registry", "write_registry")),
        frozenset({"pull", "push"}),
    ),
}


@dataclass(frozen=True)
class World:
    registry: RunningRegistry
    single: Image
    multi: Index
    worker: Image
    cli: Image


class Sleeps(list[float]):
    """Stands in for asyncio.sleep: records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    accounts = {c.username: Account(c.token, c.actions) for c in CREDENTIALS.values()}
    accounts["pusher"] = Account("pusher-secret-pw", frozenset({"pull", "push", "delete"}))
    registry = start_registry("token", Path(tmp_path_factory.mktemp("gitlab-registry")), accounts=accounts)
    arm = build_image([base_layer()], architecture="arm64", created="2024-04-02T00:00:00Z", labels={"seed": "gl-arm"})
    made = World(
        registry,
        small_image("gitlab-app", created="2024-03-01T10:00:00Z"),
        build_index([small_image("gitlab-app-2", created="2024-04-01T00:00:00Z"), arm]),
        small_image("gitlab-worker", created="2024-05-01T00:00:00Z"),
        small_image("gitlab-cli", created="2024-06-01T00:00:00Z"),
    )
    try:
        with Pusher(registry, auth=("pusher", "pusher-secret-pw")) as pusher:
            pusher.push("acme/app", "1.0", made.single)
            pusher.push("acme/app", "2.0", made.multi)
            pusher.push("acme/app/worker", "latest", made.worker)
            pusher.push("acme/platform/tools/cli", "v1", made.cli)
            pusher.push_many((("acme/many", f"v{n:03d}", made.worker) for n in range(MANY)), workers=8)
        yield made
    finally:
        registry.stop()


def build_gitlab(world: World, registry_host: str | None = None, **flags: bool) -> GitLabAPI:
    api = GitLabAPI(registry_host or world.registry.host, **flags)
    api.add_group("acme")
    api.add_group("acme/platform")
    api.add_project("acme/app")
    api.add_project("acme/platform/tools")
    api.add_project("acme/dark", registry="disabled")
    api.add_project("acme/many")
    api.add_tag("acme/app", "", "1.0", world.single.digest)
    api.add_tag("acme/app", "", "2.0", world.multi.digest)
    api.add_tag("acme/app", "worker", "latest", world.worker.digest)
    api.add_repository("acme/app", "old", status="delete_scheduled")
    api.add_tag("acme/platform/tools", "cli", "v1", world.cli.digest)
    for number in range(MANY):
        api.add_tag("acme/many", "", f"v{number:03d}", world.worker.digest)
    for credential in CREDENTIALS.values():
        api.add_token(credential.token, credential.gitlab)
    return api


@pytest.fixture
def gitlab(world: World) -> Iterator[GitLabAPI]:
    with build_gitlab(world) as api:
        yield api


@pytest.fixture
def proxy(world: World, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    """The registry behind a recording proxy, to count what reaches /v2/."""
    return fault_proxy_factory(world.registry)


def make(
    url: str, api_url: str, who: str | None = "reader", *, token: str | None = None, **options: Any
) -> GitLabRegistry:
    credentials = None
    if who is not None:
        credential = CREDENTIALS[who]
        credentials = Credentials(credential.username, Secret(token or credential.token))
    config = RegistryConfig("gitlab", url, credentials, TlsSettings(), {"api_url": api_url, **options})
    return GitLabRegistry(config, FAST)


def tag_requests(api: GitLabAPI) -> list[str]:
    return [r.path for r in api.requests if r.path.endswith("/tags")]


def detail_requests(api: GitLabAPI) -> list[str]:
    return [r.path for r in api.requests if "/tags/" in r.path]


# ---- the type, its options ------------------------------------------------------------------


def test_registered_and_options_validated() -> None:
    assert adapter_class("gitlab") is GitLabRegistry
    assert GitLabRegistry.default_url == "https://registry.gitlab.com"
    options = GitLabRegistry.validate_options(
        {"api_url": "https://gitlab.example.com/", "groups": "acme, acme/platform", "projects": ["acme/app", "42"]}
    )
    assert options == {
        "api_url": "https://gitlab.example.com/api/v4",
        "groups": ["acme", "acme/platform"],
        "projects": ["acme/app", "42"],
    }
    for bad in ({"projects": ["app"]}, {"groups": ["acme//x"]}, {"api_url": "gitlab.example.com"}, {"api_auth": "x"}):
        with pytest.raises(ValidationError):
            GitLabRegistry.validate_options(bad)


@pytest.mark.parametrize(
    ("registry_url", "realm", "expected"),
    [
        ("https://registry.gitlab.com", "https://gitlab.com/jwt/auth", "https://gitlab.com/api/v4"),
        ("https://registry.gitlab.com", None, "https://gitlab.com/api/v4"),
        ("https://registry.example.com", "https://gitlab.example.com/jwt/auth", "https://gitlab.example.com/api/v4"),
        ("https://example.com:5050", "https://example.com/gitlab/jwt/auth", "https://example.com/gitlab/api/v4"),
        ("https://gitlab.example.com:5050", "https://auth.example.com/token", "https://gitlab.example.com/api/v4"),
    ],
)
def test_api_url_is_derived_from_the_token_realm_or_the_registry_host(
    registry_url: str, realm: str | None, expected: str
) -> None:
    assert default_api_url(registry_url, realm) == expected


# ---- listing --------------------------------------------------------------------------------


async def test_group_browse_lists_repositories_tags_digests_and_build_times(
    world: World, gitlab: GitLabAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, gitlab.url, groups=["acme/platform", "acme"]) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert set(listings) == {"acme/platform/tools/cli", "acme/app", "acme/app/worker", "acme/many"}  # old: deleting
    app = {info.tag: info for info in listings["acme/app"].tags or []}
    assert (app["1.0"].digest, app["1.0"].platforms) == (world.single.digest, ("linux/amd64",))
    assert (app["1.0"].created, app["1.0"].created_source) == (datetime(2024, 3, 1, 10, 0, tzinfo=UTC), "build")
    assert app["2.0"].digest == world.multi.digest and app["2.0"].media_type == world.multi.media_type
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    assert app["2.0"].created == datetime(2024, 4, 1, tzinfo=UTC)
    assert [i.digest for i in listings["acme/platform/tools/cli"].tags or []] == [world.cli.digest]
    assert all(info.error is None for listing in listings.values() for info in listing.tags or [])

    assert [r.path for r in gitlab.requests if r.path.endswith("/registry/repositories")] == [
        "/api/v4/groups/acme%2Fplatform/registry/repositories",
        "/api/v4/groups/acme/registry/repositories",
    ]
    assert detail_requests(gitlab) == []  # no per-tag REST call: digests and times come from /v2/
    assert {r.method for r in gitlab.requests} == {"GET"}
    assert {r.private_token for r in gitlab.requests} == {CREDENTIALS["reader"].token}
    assert all(r.authorization is None for r in gitlab.requests)
    assert not any(r.target_path.endswith(("/_catalog", "/tags/list")) for r in proxy.requests)


async def test_project_paths_are_url_encoded(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, projects=["acme/platform/tools"]) as adapter:
        names = [name async for name in adapter.list_repositories()]
        tags = await adapter.list_tags("acme/platform/tools/cli")
    assert names == ["acme/platform/tools/cli"]
    assert [t.name for t in tags] == ["v1"]
    assert gitlab.requests[0].path == "/api/v4/projects/acme%2Fplatform%2Ftools/registry/repositories"


async def test_without_groups_or_projects_the_member_projects_are_listed(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url) as adapter:
        names = [name async for name in adapter.list_repositories()]
    assert names == ["acme/app", "acme/app/worker", "acme/platform/tools/cli", "acme/many"]
    [listing] = [r for r in gitlab.requests if r.path == "/api/v4/projects"]
    assert (listing.query["membership"], listing.query["min_access_level"]) == (["true"], ["20"])
    listed = [r.path for r in gitlab.requests if r.path.endswith("/registry/repositories")]
    assert len(listed) == 3  # acme/dark has its registry turned off and is not asked


async def test_tags_come_one_request_per_hundred_and_nothing_per_tag(
    world: World, gitlab: GitLabAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, gitlab.url, projects=["acme/many"]) as adapter:
        [listing] = await adapter.browse()

    assert len(listing.tags or []) == MANY and {i.digest for i in listing.tags or []} == {world.worker.digest}
    assert [r.query["pagination"] for r in gitlab.requests if r.path.endswith("/tags")] == [["keyset"]] * 2
    assert [r.query["per_page"] for r in gitlab.requests if r.path.endswith("/tags")] == [["100"]] * 2
    assert len(gitlab.requests) == 3  # one page of repositories, two pages of tags
    assert detail_requests(gitlab) == []
    manifests = [r for r in proxy.requests if "/manifests/" in r.path]
    blobs = [r for r in proxy.requests if "/blobs/" in r.path]
    # What /v2/ needs: each tag's manifest and the one config (the base class fetches a config once per digest,
    # but describes running side by side may each start that first fetch).
    assert len(manifests) == MANY and len({r.target_path for r in blobs}) == 1
    assert len(blobs) <= FAST.max_connections


async def test_offset_pages_where_the_registry_has_no_metadata_database(world: World) -> None:
    with build_gitlab(world, keyset_tags=False) as api:
        async with make(world.registry.url, api.url, projects=["acme/many", "acme/app"]) as adapter:
            _ = [name async for name in adapter.list_repositories()]
            many = await adapter.list_tags("acme/many")
            app = await adapter.list_tags("acme/app")
        pages = [
            (r.query.get("pagination"), r.query.get("page"), r.status) for r in api.requests if r.path.endswith("/tags")
        ]
    assert len({t.name for t in many}) == MANY and [t.name for t in app] == ["1.0", "2.0"]
    assert pages == [
        (["keyset"], None, 405),  # asked once; the answer holds for the session
        (None, ["1"], 200),
        (None, ["2"], 200),
        (None, ["1"], 200),
    ]


async def test_configured_repositories_read_tags_from_the_registry(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, repositories=["acme/app"]) as adapter:
        names = [name async for name in adapter.list_repositories()]
        tags = await adapter.list_tags("acme/app")
    assert names == ["acme/app"] and sorted(t.name for t in tags) == ["1.0", "2.0"]
    assert gitlab.requests == []


async def test_anonymous_needs_groups_or_projects(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, who=None) as adapter:
        with pytest.raises(RegistryError) as raised:
            _ = [name async for name in adapter.list_repositories()]
    assert raised.value.reason == "groups_or_projects_required" and "-o groups=" in raised.value.hint


# ---- connection statuses --------------------------------------------------------------------


async def test_reader_is_connected_and_read_only(gitlab: GitLabAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, gitlab.url, groups=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "container registry of group acme" in result.message and "2 tag(s) of acme/app" in result.message
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result.rights
    assert "scopes are read_api, read_registry" in result.rights.detail
    assert "at most Reporter" in result.rights.detail and "grants pull on acme/app" in result.rights.detail
    assert result.rights.recommendation == ""
    paths = [r.path for r in gitlab.requests]
    assert paths.count("/api/v4/personal_access_tokens/self") == 1
    [associations] = [r for r in gitlab.requests if r.path.endswith("/self/associations")]
    assert associations.query["min_access_level"] == ["30"]


@pytest.mark.parametrize(
    ("options", "reason", "words"),
    [
        ({"groups": ["nobody"]}, "group_not_found", "group nobody does not exist"),
        ({"groups": ["acme", "acme/missing"]}, "group_not_found", "group acme/missing does not exist"),
        ({"projects": ["acme/nothing"]}, "project_not_found", "project acme/nothing does not exist"),
    ],
)
async def test_unknown_group_or_project_is_not_found(
    world: World, gitlab: GitLabAPI, options: dict[str, Any], reason: str, words: str
) -> None:
    async with make(world.registry.url, gitlab.url, **options) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.NOT_FOUND, reason), result
    assert words in result.message and "visible only to its members" in result.hint


@pytest.mark.parametrize(
    ("who", "options", "reason", "words"),
    [
        ("puller", {"groups": ["acme"]}, "missing_read_api", "lacks the read_api scope"),
        ("guest", {"projects": ["acme/app"]}, "insufficient_role", "role on project acme/app is Guest"),
        ("reader", {"projects": ["acme/dark"]}, "registry_disabled", "registry of project acme/dark is turned off"),
        ("deploy", {"groups": ["acme"]}, "deploy_token_for_api", "a deploy token"),
    ],
)
async def test_vendor_causes_of_authorization_failed(
    world: World, gitlab: GitLabAPI, who: str, options: dict[str, Any], reason: str, words: str
) -> None:
    async with make(world.registry.url, gitlab.url, who, **options) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, reason), result
    assert words in result.message
    assert CREDENTIALS[who].token not in f"{result.message} {result.hint} {result!r}"


async def test_wrong_token_is_refused_by_the_token_service(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, token="glpat-not-the-token", groups=["acme"]) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert "gitlab+deploy-token-N" in result.hint
    assert "glpat-not-the-token" not in f"{result.message} {result.hint} {result!r}"
    assert gitlab.requests == []


async def test_api_rate_limit_is_rate_limited(world: World, gitlab: GitLabAPI) -> None:
    gitlab.throttle(times=FAST.attempts, retry_after="7", path_regex="/registry/repositories$")
    sleeps = Sleeps()
    async with make(world.registry.url, gitlab.url, groups=["acme"]) as adapter:
        adapter.client._sleep = sleeps
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.RATE_LIMITED, "rate_limited"), result
    assert "GitLab's API is rate limiting" in result.message and "GitLab limits API requests" in result.hint
    assert sleeps == [7.0] * (FAST.attempts - 1)


async def test_https_to_the_plain_http_api_is_an_ssl_handshake_error(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url.replace("http://", "https://"), groups=["acme"]) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.SSL_HANDSHAKE_ERROR, "plain_http"), result
    assert result.message.startswith("GitLab's API: ") and "api_url" in result.hint


async def test_unreachable_api_is_unknown(world: World) -> None:
    sleeps = Sleeps()
    async with make(world.registry.url, f"http://127.0.0.1:{free_port()}/api/v4", groups=["acme"]) as adapter:
        adapter.client._sleep = sleeps
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.UNKNOWN, "unreachable"), result
    assert "api_url" in result.hint and len(sleeps) == FAST.attempts - 1


# ---- rights ---------------------------------------------------------------------------------


async def test_write_scopes_are_can_write(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, "writer", groups=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.CAN_WRITE, rights
    assert rights.detail.startswith("scope(s) api, write_registry beyond read_api and read_registry")
    assert "Developer on group acme" in rights.detail and "grants delete, pull, push on acme/app" in rights.detail
    assert rights.recommendation == (
        "Create a new token with only read_api and read_registry (drop api, write_registry); "
        "give it the Reporter role instead"
    )


async def test_a_role_above_reporter_is_named_though_read_scopes_keep_it_read_only(
    world: World, gitlab: GitLabAPI
) -> None:
    async with make(world.registry.url, gitlab.url, "developer", groups=["acme"]) as adapter:
        result = await adapter.test()
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.READ_ONLY, result
    assert "Developer on group acme" in rights.detail and "grants pull on acme/app" in rights.detail
    assert "on project" not in rights.detail  # the projects inside acme inherit the group's role
    assert rights.recommendation.startswith("Lower the role to Reporter")


async def test_an_administrator_with_an_extra_scope_is_told_to_trim_both(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, "auditor", groups=["acme"]) as adapter:
        result = await adapter.test()
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.READ_ONLY, result
    assert "GitLab administrator" in rights.detail
    assert rights.recommendation == (
        "Drop the unneeded scope(s) read_repository; use a token of a non-administrator user"
    )


@pytest.mark.parametrize(
    ("who", "verdict", "words"),
    [
        ("deploy", Rights.UNKNOWN, "grants pull on acme/app, so it cannot push or delete images there"),
        ("deploy-writer", Rights.CAN_WRITE, "grants pull, push on acme/app"),
    ],
)
async def test_deploy_tokens_work_with_named_repositories_and_rights_come_from_the_registry(
    world: World, gitlab: GitLabAPI, who: str, verdict: Rights, words: str
) -> None:
    async with make(world.registry.url, gitlab.url, who, repositories=["acme/app"]) as adapter:
        result = await adapter.test()
        tags = await adapter.list_tags("acme/app")
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is verdict, result.rights
    assert "deploy token" in result.rights.detail and words in result.rights.detail
    assert sorted(t.name for t in tags) == ["1.0", "2.0"]
    assert [r.path for r in gitlab.requests] == ["/api/v4/personal_access_tokens/self"]


async def test_oauth_tokens_go_to_the_api_as_bearer_and_leave_scopes_unknown(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, "oauth", groups=["acme"], api_auth="bearer") as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN
    assert "OAuth" in result.rights.detail and "grants pull on acme/app" in result.rights.detail
    assert {r.authorization for r in gitlab.requests} == {f"Bearer {CREDENTIALS['oauth'].token}"}
    assert all(r.private_token is None for r in gitlab.requests)


async def test_an_oauth_token_sent_as_private_token_is_told_to_use_bearer(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, "oauth", groups=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.AUTHORIZATION_FAILED and "api_auth=bearer" in result.hint


async def test_gitlab_before_15_5_leaves_scopes_unknown(world: World) -> None:
    with build_gitlab(world, self_endpoint=False, associations=False) as api:
        async with make(world.registry.url, api.url, groups=["acme"]) as adapter:
            result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN
    assert "before 15.5" in result.rights.detail and "grants pull on acme/app" in result.rights.detail


async def test_without_associations_roles_come_from_project_permissions(world: World) -> None:
    with build_gitlab(world, associations=False) as api:
        async with make(world.registry.url, api.url, "developer", projects=["acme/app"]) as adapter:
            result = await adapter.test()
        project_reads = [
            r.path for r in api.requests if r.path.count("/") == 4 and r.path.startswith("/api/v4/projects/")
        ]
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result
    assert "Developer on project acme/app" in result.rights.detail
    assert len(project_reads) == 1


# ---- the command line -----------------------------------------------------------------------


def test_cli_add_test_and_repos(world: World, gitlab: GitLabAPI, tmp_path: Path) -> None:
    cli = CliEnv(tmp_path / "home")
    reader = CREDENTIALS["reader"]
    added = cli.run(
        "registry",
        "add",
        "--name",
        "gl",
        "--type",
        "gitlab",
        "--url",
        world.registry.url,
        "--username",
        reader.username,
        "--password-stdin",
        "-o",
        f"api_url={gitlab.url}",
        "-o",
        "projects=acme/app",
        stdin=reader.token + "\n",
    )
    assert "Connected" in added.stdout
    tested = json.loads(cli.run("registry", "test", "gl", "--json").stdout)
    assert tested["status"] == "Connected" and tested["rights"]["verdict"] == "read-only"
    listing = json.loads(cli.run("registry", "repos", "gl", "--tags", "--json").stdout)
    by_name = {entry["name"]: entry["tags"] for entry in listing}
    assert set(by_name) == {"acme/app", "acme/app/worker"}
    app = {tag["tag"]: tag for tag in by_name["acme/app"]}
    assert app["1.0"]["digest"] == world.single.digest and app["1.0"]["created_source"] == "build"
    assert app["2.0"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert all(reader.token not in text for text in cli.transcript)
