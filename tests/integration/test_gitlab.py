"""gitlab: a GitLab REST and GraphQL API stand-in for listing and rights, a real token-auth registry for every
/v2/ call.

The registry's token service (the harness issuer) plays GitLab's /jwt/auth: each credential below is one
registry account whose actions match what GitLab would grant its scopes and role. Tags are listed through
GraphQL unless the stand-in is told to refuse it; `keyset_tags` (the metadata database) decides what its tag
times mean, as on a real GitLab.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights
from regscout.registries.errors import ConnectionStatus, RateLimitedError, RegistryError
from regscout.registries.gitlab import GRAPHQL_PAGE_SIZE, TAGS_QUERY, GitLabRegistry, default_api_url
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.faults import FaultProxy
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.httpserver import free_port
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.gitlab_api import (
    DEVELOPER,
    GRAPHQL_PATH,
    GUEST,
    REPORTER,
    TAG_FIELDS,
    GitLabAPI,
    GitLabToken,
    GraphQLFault,
)

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

MANY = 150  # tags in acme/many: two REST pages of 100, eight GraphQL pages of 20
BIG = 1010  # tags in acme/big (GraphQL tests only; not in the registry: nothing may be read there)
# What GitLab reports for each tag: the build time (createdAt without the metadata database; the stand-in is
# given the image config's created) and the last push (publishedAt, with the metadata database).
PUSHED = {
    "1.0": datetime(2024, 7, 1, 8, 0, tzinfo=UTC),
    "2.0": datetime(2024, 7, 2, 8, 0, tzinfo=UTC),
    "latest": datetime(2024, 7, 3, 8, 0, tzinfo=UTC),
    "v1": datetime(2024, 7, 4, 8, 0, tzinfo=UTC),
    "many": datetime(2024, 7, 5, 8, 0, tzinfo=UTC),
}


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


def iso(moment: datetime) -> str:
    return moment.isoformat()


def build_gitlab(world: World, registry_host: str | None = None, **flags: Any) -> GitLabAPI:
    api = GitLabAPI(registry_host or world.registry.host, **flags)
    api.add_group("acme")
    api.add_group("acme/platform")
    api.add_project("acme/app")
    api.add_project("acme/platform/tools")
    api.add_project("acme/dark", registry="disabled")
    api.add_project("acme/many")

    def tag(project: str, repository: str, name: str, image: Image | Index, built: str, pushed: datetime) -> None:
        api.add_tag(
            project, repository, name, image.digest, created_at=built, published_at=iso(pushed),
            media_type=image.media_type,
        )  # fmt: skip

    tag("acme/app", "", "1.0", world.single, "2024-03-01T10:00:00+00:00", PUSHED["1.0"])
    tag("acme/app", "", "2.0", world.multi, "2024-04-01T00:00:00+00:00", PUSHED["2.0"])
    tag("acme/app", "worker", "latest", world.worker, "2024-05-01T00:00:00+00:00", PUSHED["latest"])
    api.add_repository("acme/app", "old", status="delete_scheduled")
    tag("acme/platform/tools", "cli", "v1", world.cli, "2024-06-01T00:00:00+00:00", PUSHED["v1"])
    for number in range(MANY):
        tag("acme/many", "", f"v{number:03d}", world.worker, "2024-05-01T00:00:00+00:00", PUSHED["many"])
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


def graphql_requests(api: GitLabAPI) -> list[dict[str, Any]]:
    """The variables of every GraphQL request (id, first, after)."""
    return [r.body["variables"] for r in api.requests if r.path == GRAPHQL_PATH]


def v2_reads(proxy: FaultProxy) -> tuple[list[str], list[str]]:
    """The manifest and blob requests that reached the registry."""
    manifests = [r.target_path for r in proxy.requests if "/manifests/" in r.path]
    return manifests, [r.target_path for r in proxy.requests if "/blobs/" in r.path]


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


# What browsing `acme` yields per registry kind: (metadata database, tag -> (created, created_source, pushed),
# manifest GETs, blob GETs). With the metadata database GraphQL gives the push time and the media type, so only
# the index is read (for its platforms); without it, the build time, and no media type: the index, which then
# has no createdAt either, is read the registry's way (index, chosen manifest, config).
Times = dict[str, tuple[datetime, str, datetime | None]]
LISTING_CASES: dict[str, tuple[bool, Times, int, int]] = {
    "metadata database": (
        True,
        {tag: (PUSHED[tag], "push", PUSHED[tag]) for tag in ("1.0", "2.0")},
        1,
        0,
    ),
    "no metadata database": (
        False,
        {
            "1.0": (datetime(2024, 3, 1, 10, 0, tzinfo=UTC), "build", None),
            "2.0": (datetime(2024, 4, 1, tzinfo=UTC), "build", None),
        },
        2,
        1,
    ),
}


@pytest.mark.parametrize("case", list(LISTING_CASES))
async def test_group_browse_lists_tags_through_graphql_with_digests_and_times(
    world: World, proxy: FaultProxy, case: str
) -> None:
    metadata, times, manifest_gets, blob_gets = LISTING_CASES[case]
    with build_gitlab(world, keyset_tags=metadata) as gitlab:
        async with make(proxy.url, gitlab.url, groups=["acme/platform", "acme"]) as adapter:
            listings = {listing.name: listing for listing in await adapter.browse()}
        requests = gitlab.requests

    assert set(listings) == {"acme/platform/tools/cli", "acme/app", "acme/app/worker", "acme/many"}  # old: deleting
    app = {info.tag: info for info in listings["acme/app"].tags or []}
    assert app["1.0"].digest == world.single.digest and app["1.0"].platforms == ()  # a single image: not read
    assert app["2.0"].digest == world.multi.digest and app["2.0"].media_type == world.multi.media_type
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    for name, (created, source, pushed) in times.items():
        assert (app[name].created, app[name].created_source, app[name].pushed) == (created, source, pushed), name
    assert [i.digest for i in listings["acme/platform/tools/cli"].tags or []] == [world.cli.digest]
    assert {i.digest for i in listings["acme/many"].tags or []} == {world.worker.digest}
    assert len(listings["acme/many"].tags or []) == MANY
    assert all(info.error is None for listing in listings.values() for info in listing.tags or [])

    assert [r.path for r in requests if r.path.endswith("/registry/repositories")] == [
        "/api/v4/groups/acme%2Fplatform/registry/repositories",
        "/api/v4/groups/acme/registry/repositories",
    ]
    assert tag_requests(gitlab) == [] and detail_requests(gitlab) == []  # no REST tag list, nothing per tag
    graphql = [r for r in requests if r.method == "POST"]
    assert {r.path for r in graphql} == {GRAPHQL_PATH} and {r.method for r in requests} == {"GET", "POST"}
    assert len(graphql) == 3 + math.ceil(MANY / GRAPHQL_PAGE_SIZE)  # one page each for app, worker, cli
    assert {r.private_token for r in requests} == {CREDENTIALS["reader"].token}
    assert all(r.authorization is None for r in requests)
    manifests, blobs = v2_reads(proxy)
    assert len(manifests) == manifest_gets and len(blobs) == blob_gets
    assert manifests[0].endswith(f"/manifests/{world.multi.digest}")  # by digest, as GraphQL named it
    assert not any(r.target_path.endswith(("/_catalog", "/tags/list")) for r in proxy.requests)


async def test_project_paths_are_url_encoded(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, projects=["acme/platform/tools"]) as adapter:
        names = [name async for name in adapter.list_repositories()]
        tags = await adapter.list_tags("acme/platform/tools/cli")
    assert names == ["acme/platform/tools/cli"]
    assert [(t.name, t.digest, t.pushed) for t in tags] == [("v1", world.cli.digest, PUSHED["v1"])]
    assert gitlab.requests[0].path == "/api/v4/projects/acme%2Fplatform%2Ftools/registry/repositories"


async def test_without_groups_or_projects_the_member_projects_are_listed(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url) as adapter:
        names = [name async for name in adapter.list_repositories()]
    assert names == ["acme/app", "acme/app/worker", "acme/platform/tools/cli", "acme/many"]
    [listing] = [r for r in gitlab.requests if r.path == "/api/v4/projects"]
    assert (listing.query["membership"], listing.query["min_access_level"]) == (["true"], ["20"])
    listed = [r.path for r in gitlab.requests if r.path.endswith("/registry/repositories")]
    assert len(listed) == 3  # acme/dark has its registry turned off and is not asked


@pytest.mark.parametrize("metadata", [True, False], ids=["metadata database", "no metadata database"])
async def test_a_thousand_tags_cost_a_graphql_request_per_20_and_nothing_at_the_registry(
    world: World, proxy: FaultProxy, metadata: bool
) -> None:
    """acme/big exists only in GitLab's answers: any /v2/ read for it would fail, and is counted."""
    with build_gitlab(world, keyset_tags=metadata) as gitlab:
        gitlab.add_project("acme/big")
        start = datetime(2025, 1, 1, tzinfo=UTC)
        for n in range(BIG):
            built, pushed = start + timedelta(minutes=n), start + timedelta(days=1, minutes=n)
            gitlab.add_tag("acme/big", "", f"t{n:04d}", f"sha256:{n:064x}", created_at=iso(built),
                           published_at=iso(pushed))  # fmt: skip
        async with make(proxy.url, gitlab.url, projects=["acme/big"]) as adapter:
            [listing] = await adapter.browse()
        pages = graphql_requests(gitlab)
        rest_tags = tag_requests(gitlab)

    infos = {info.tag: info for info in listing.tags or []}
    assert len(infos) == BIG and all(info.error is None for info in infos.values())
    for n in (0, 19, 20, 537, BIG - 1):
        info = infos[f"t{n:04d}"]
        built, pushed = start + timedelta(minutes=n), start + timedelta(days=1, minutes=n)
        assert info.digest == f"sha256:{n:064x}"
        if metadata:
            assert (info.created, info.created_source, info.pushed) == (pushed, "push", pushed)
        else:
            assert (info.created, info.created_source, info.pushed) == (built, "build", None)
    # GitLab pages this connection by 20 at most (asking more loses tags, see the stand-in test below).
    assert len(pages) == math.ceil(BIG / GRAPHQL_PAGE_SIZE) == 51
    assert {page["first"] for page in pages} == {GRAPHQL_PAGE_SIZE}
    assert pages[0]["after"] is None and len({page["after"] for page in pages}) == len(pages)
    assert rest_tags == []
    assert v2_reads(proxy) == ([], [])  # zero manifest and blob GETs


async def test_the_rest_path_pages_tags_by_100_and_reads_each_manifest(world: World, proxy: FaultProxy) -> None:
    with build_gitlab(world, graphql=False) as gitlab:
        async with make(proxy.url, gitlab.url, projects=["acme/many"]) as adapter:
            [listing] = await adapter.browse()
        requests = gitlab.requests

    assert len(listing.tags or []) == MANY and {i.digest for i in listing.tags or []} == {world.worker.digest}
    assert {i.created_source for i in listing.tags or []} == {"build"}
    assert [r.query["pagination"] for r in requests if r.path.endswith("/tags")] == [["keyset"]] * 2
    assert [r.query["per_page"] for r in requests if r.path.endswith("/tags")] == [["100"]] * 2
    # one page of repositories, one refused GraphQL request (which decides for the session), two pages of tags
    assert [(r.path, r.status) for r in requests if r.path == GRAPHQL_PATH] == [(GRAPHQL_PATH, 404)]
    assert len(requests) == 4
    assert detail_requests(gitlab) == []
    manifests, blobs = v2_reads(proxy)
    # What /v2/ needs: each tag's manifest and the one config (the base class fetches a config once per digest,
    # but describes running side by side may each start that first fetch).
    assert len(manifests) == MANY and len(set(blobs)) == 1
    assert len(blobs) <= FAST.max_connections


async def test_offset_pages_where_the_registry_has_no_metadata_database(world: World) -> None:
    with build_gitlab(world, keyset_tags=False, graphql=False) as api:
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


# How GraphQL fails, and what regscout then does: (stand-in settings, fault, GraphQL requests for a browse of
# acme: "session" = one, after which the session uses REST; "each" = one per repository, each then listed by
# REST; a number: exactly that many).
FALLBACK_CASES: dict[str, tuple[dict[str, Any], GraphQLFault | None, str | int]] = {
    "no /api/graphql (404)": ({"graphql": False}, None, "session"),
    "an older GitLab without mediaType": ({"tag_fields": TAG_FIELDS - {"mediaType"}}, None, "session"),
    "the query is refused (errors, no data)": ({}, "refused", "session"),
    "GraphQL does not take the token (401)": ({}, "unauthorized", "session"),
    "tags null with an error (200)": ({}, "field_error", "each"),
    "the repository is null": ({}, "no_repository", "each"),
    "HTTP 500": ({}, "server_error", FAST.attempts * 4),  # retried like any 5xx, then REST for that repository
}


@pytest.mark.parametrize("case", list(FALLBACK_CASES))
async def test_when_graphql_fails_tags_come_from_rest_and_the_registry(
    world: World, proxy: FaultProxy, case: str
) -> None:
    flags, fault, expected = FALLBACK_CASES[case]
    with build_gitlab(world, **flags) as gitlab:
        if fault is not None:
            gitlab.graphql_fault(fault)
        async with make(proxy.url, gitlab.url, groups=["acme"]) as adapter:
            adapter.client._sleep = Sleeps()
            listings = {listing.name: listing for listing in await adapter.browse()}
        graphql = graphql_requests(gitlab)
        rest = tag_requests(gitlab)

    assert all(listing.error is None for listing in listings.values()), listings
    app = {info.tag: info for info in listings["acme/app"].tags or []}
    assert (app["1.0"].digest, app["1.0"].platforms) == (world.single.digest, ("linux/amd64",))
    assert (app["1.0"].created, app["1.0"].created_source) == (datetime(2024, 3, 1, 10, 0, tzinfo=UTC), "build")
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    assert len(listings["acme/many"].tags or []) == MANY
    assert all(info.error is None for listing in listings.values() for info in listing.tags or [])
    count = {"session": 1, "each": len(listings)}.get(str(expected), expected)
    assert len(graphql) == count
    assert len(rest) == len(listings) + 1  # every repository by REST; acme/many in two pages
    manifests, _ = v2_reads(proxy)
    assert len(manifests) >= MANY  # each tag's manifest from the registry


async def test_a_page_shorter_than_asked_that_is_not_the_last_switches_to_rest(world: World) -> None:
    """Were GitLab to cap the connection below 20, its cursor could skip tags (see the stand-in test below)."""
    with build_gitlab(world, tags_max_page_size=10) as gitlab:
        async with make(world.registry.url, gitlab.url, projects=["acme/many", "acme/app"]) as adapter:
            _ = [name async for name in adapter.list_repositories()]
            many = await adapter.list_tags("acme/many")
            app = await adapter.list_tags("acme/app")
        graphql = graphql_requests(gitlab)
    assert sorted(t.name for t in many) == [f"v{n:03d}" for n in range(MANY)] and {t.digest for t in many} == {None}
    assert [t.name for t in app] == ["1.0", "2.0"] and {t.digest for t in app} == {None}  # REST for the session
    assert len(graphql) == 1 and graphql[0]["first"] == GRAPHQL_PAGE_SIZE


@pytest.mark.parametrize(
    ("flags", "fault", "words"),
    [
        ({}, None, "tags are listed through GitLab's GraphQL API, with digests and times, 20 a request"),
        ({"graphql": False}, None, "through the REST API, digests and times read from the registry (GitLab's "
                                   "GraphQL API answered HTTP 404)"),
        ({}, "refused", "through the REST API, digests and times read from the registry (GitLab's GraphQL API "
                        "refused the query: Query has complexity of 301"),
        ({}, "no_repository", "through the REST API, digests and times read from the registry (GitLab's GraphQL "
                              "API gave no repository for acme/app)"),
    ],
)  # fmt: skip
async def test_the_connection_test_says_how_tags_are_listed(
    world: World, flags: dict[str, Any], fault: GraphQLFault | None, words: str
) -> None:
    with build_gitlab(world, **flags) as gitlab:
        if fault is not None:
            gitlab.graphql_fault(fault)
        async with make(world.registry.url, gitlab.url, projects=["acme/app"]) as adapter:
            result = await adapter.test()
        graphql = graphql_requests(gitlab)
    assert result.status is ConnectionStatus.CONNECTED, result
    assert words in result.message and "read 2 tag(s) of acme/app from the registry" in result.message
    assert [page["first"] for page in graphql] == [1]  # one tag is enough to know


async def test_a_token_without_read_api_is_refused_before_any_graphql(world: World, gitlab: GitLabAPI) -> None:
    """GraphQL needs api or read_api as the REST API does (it answers 401 Invalid token without, see the
    stand-in test below); the REST listing says why first."""
    async with make(world.registry.url, gitlab.url, "puller", projects=["acme/app"]) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "missing_read_api"), result
    assert graphql_requests(gitlab) == []


async def test_graphql_can_be_turned_off(world: World, gitlab: GitLabAPI) -> None:
    async with make(world.registry.url, gitlab.url, projects=["acme/app"], graphql=False) as adapter:
        result = await adapter.test()
        tags = await adapter.list_tags("acme/app")
    assert sorted(t.name for t in tags) == ["1.0", "2.0"] and {t.digest for t in tags} == {None}
    assert graphql_requests(gitlab) == []
    assert "through the REST API" in result.message and "-o graphql=false" in result.message


async def test_graphql_rate_limit_is_not_a_fallback(world: World, gitlab: GitLabAPI) -> None:
    gitlab.throttle(times=FAST.attempts, retry_after="2", path_regex=f"^{GRAPHQL_PATH}$")
    async with make(world.registry.url, gitlab.url, projects=["acme/app"]) as adapter:
        adapter.client._sleep = Sleeps()
        _ = [name async for name in adapter.list_repositories()]
        with pytest.raises(RateLimitedError) as raised:
            await adapter.list_tags("acme/app")
    assert "GitLab's API is rate limiting" in raised.value.message
    assert tag_requests(gitlab) == []  # REST is limited by the same counter: not tried


@pytest.mark.parametrize(
    ("who", "header", "status", "visible"),
    [
        ("reader", "private-token", 200, True),
        ("reader", "bearer", 200, True),
        ("oauth", "bearer", 200, True),
        ("oauth", "private-token", 401, False),  # not a personal access token
        ("puller", "private-token", 401, False),  # read_registry only: GraphQL needs api or read_api
        ("deploy", "private-token", 401, False),  # deploy tokens are not for GraphQL
        (None, None, 200, False),  # anonymous: public data only, and acme/app is private
    ],
)
def test_stand_in_graphql_takes_tokens_as_gitlab_does(
    gitlab: GitLabAPI, who: str | None, header: str | None, status: int, visible: bool
) -> None:
    repository = next(r for r in gitlab._projects["acme/app"].repositories.values() if r.name == "")
    headers = {}
    if who is not None:
        token = CREDENTIALS[who].token
        headers = {"PRIVATE-TOKEN": token} if header == "private-token" else {"Authorization": f"Bearer {token}"}
    variables = {"id": f"gid://gitlab/ContainerRepository/{repository.id}", "first": 20, "after": None}
    answer = httpx.post(
        gitlab.web_url + GRAPHQL_PATH, json={"query": TAGS_QUERY, "variables": variables}, headers=headers
    )
    assert answer.status_code == status
    body = answer.json()
    if status == 401:
        assert body == {"errors": [{"message": "Invalid token"}]}
    elif visible:
        assert [n["name"] for n in body["data"]["containerRepository"]["tags"]["nodes"]] == ["1.0", "2.0"]
    else:
        assert body == {"data": {"containerRepository": None}}


@pytest.mark.parametrize("metadata", [True, False], ids=["metadata database", "no metadata database"])
def test_stand_in_cuts_pages_to_20_as_gitlab_does(world: World, metadata: bool) -> None:
    """Why regscout asks for 20: GitLab cuts `first` to the connection's max_page_size without an error, and with
    the metadata database its cursor is the registry's, past all that was asked for: tags 21-100 are lost."""
    with build_gitlab(world, keyset_tags=metadata) as gitlab:
        repository = next(r for r in gitlab._projects["acme/many"].repositories.values())
        variables = {"id": f"gid://gitlab/ContainerRepository/{repository.id}", "first": 100}
        answer = httpx.post(
            gitlab.web_url + GRAPHQL_PATH,
            json={"query": TAGS_QUERY, "variables": variables},
            headers={"PRIVATE-TOKEN": CREDENTIALS["reader"].token},
        ).json()
    tags = answer["data"]["containerRepository"]["tags"]
    assert [n["name"] for n in tags["nodes"]] == [f"v{n:03d}" for n in range(20)]
    assert tags["pageInfo"] == {"hasNextPage": True, "endCursor": "v099" if metadata else "MjA"}


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
    assert app["1.0"]["digest"] == world.single.digest and app["1.0"]["created_source"] == "push"
    assert app["2.0"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert all(reader.token not in text for text in cli.transcript)
