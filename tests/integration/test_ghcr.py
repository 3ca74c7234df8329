"""ghcr: a GitHub REST API stand-in for packages, versions and scopes; a real token-auth registry
(repositories named <owner>/<package>) for every /v2/ call."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights, TagRef
from regscout.registries.errors import ConnectionStatus, RegistryError
from regscout.registries.ghcr import GhcrRegistry, default_api_url
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.faults import FaultProxy, Status
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.github_api import GitHubAPI, GitHubToken

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

MANY = 250
PULL = frozenset({"pull"})
PUSH = frozenset({"pull", "push"})


@dataclass(frozen=True)
class User:
    """A GitHub token and the registry account (user name, password = the token) behind it."""

    name: str
    token: str
    github: GitHubToken
    registry_actions: frozenset[str] = PULL


USERS = {
    u.name: u
    for u in (
        User(
            "writer", "ghp_writer0000000000000000000000000000", GitHubToken("writer", scopes=("write:packages",)), PUSH
        ),
        User("reader", "ghp_reader0000000000000000000000000000", GitHubToken("reader")),
        User(
            "deleter",
            "ghp_delete0000000000000000000000000000",
            GitHubToken("deleter", scopes=("delete:packages", "read:packages")),
            frozenset({"pull", "push", "delete"}),
        ),
        User("repo", "ghp_repo000000000000000000000000000000", GitHubToken("repo", scopes=("read:packages", "repo"))),
        User("noscope", "ghp_noscope000000000000000000000000000", GitHubToken("noscope", scopes=("gist",))),
        User("fine", "github_pat_11AAAAAA0fine0000000000000000", GitHubToken("fine", kind="fine-grained")),
        User(
            "ci",
            "ghs_ci000000000000000000000000000000000",
            GitHubToken("ci", kind="installation", packages=frozenset({"acme/app", "acme/tool"})),
        ),
        User(
            "builder",
            "ghs_builder00000000000000000000000000000",
            GitHubToken("builder", kind="installation", packages=frozenset({"acme/app"})),
            PUSH,
        ),
        User("alice", "ghp_alice00000000000000000000000000000", GitHubToken("alice")),
        User("regscout", "ghp_tokenonly000000000000000000000000", GitHubToken("reader")),
    )
}


@dataclass(frozen=True)
class World:
    registry: RunningRegistry
    old: Image
    single: Image
    multi: Index
    nested: Image
    tool: Image
    vault: Image
    cli: Image
    many: tuple[Image, ...]
    unlisted: Image


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    accounts = {u.name: Account(u.token, u.registry_actions) for u in USERS.values()}
    registry = start_registry("token", Path(tmp_path_factory.mktemp("ghcr-registry")), accounts=accounts)
    arm = build_image([base_layer()], architecture="arm64", labels={"seed": "ghcr-arm64"})
    many = tuple(small_image(f"ghcr-many-{n}") for n in range(MANY))
    pushed = World(
        registry,
        small_image("ghcr-app-old"),
        small_image("ghcr-app-1", created="2024-05-01T00:00:00Z"),
        build_index([small_image("ghcr-app-2"), arm]),
        small_image("ghcr-team-app"),
        small_image("ghcr-tool"),
        small_image("ghcr-vault"),
        small_image("ghcr-cli"),
        many,
        small_image("ghcr-unlisted", created="2023-03-04T05:06:07Z"),
    )
    try:
        with Pusher(registry) as pusher:
            pusher.push("acme/app", "1.0", pushed.old)
            pusher.push("acme/app", "1.0", pushed.single)
            pusher.push("acme/app", "2.0", pushed.multi)
            pusher.push("acme/app", "registry-only", pushed.unlisted)
            pusher.push("acme/team/app", "latest", pushed.nested)
            pusher.push("acme/tool", "v1", pushed.tool)
            pusher.push("secure/vault", "1", pushed.vault)
            pusher.push("alice/cli", "0.1", pushed.cli)
            pusher.push_many(("acme/many", f"v{n}", image) for n, image in enumerate(many))
        yield pushed
    finally:
        registry.stop()


@pytest.fixture
def github(world: World) -> Iterator[GitHubAPI]:
    with GitHubAPI({u.token: u.github for u in USERS.values()}) as api:
        members = ("reader", "writer", "deleter", "repo", "noscope", "fine", "regscout")
        api.add_owner("acme", members=members)
        api.add_owner("secure", members=("reader",), sso=True)
        for login in ("alice", "reader"):
            api.add_owner(login, "User")
        api.add_version("acme", "app", world.old.digest, "2024-04-01T00:00:00Z", ("1.0",))
        api.add_version("acme", "app", world.single.digest, "2024-05-02T03:04:05Z", ("1.0",))
        for child in world.multi.images:
            api.add_version("acme", "app", child.digest, "2024-06-01T10:00:00Z")
        api.add_version("acme", "app", world.multi.digest, "2024-06-01T10:00:01Z", ("2.0", "stable"))
        api.add_version("acme", "team/app", world.nested.digest, "2024-06-02T00:00:00Z", ("latest",))
        api.add_package("acme", "tool", visibility="public")
        api.add_version("acme", "tool", world.tool.digest, "2024-06-03T00:00:00Z", ("v1",))
        for n, image in enumerate(world.many):
            api.add_version("acme", "many", image.digest, f"2024-07-01T00:{n // 60:02d}:{n % 60:02d}Z", (f"v{n}",))
        api.add_version("secure", "vault", world.vault.digest, "2024-06-04T00:00:00Z", ("1",))
        api.add_version("alice", "cli", world.cli.digest, "2024-06-05T00:00:00Z", ("0.1",))
        yield api


@pytest.fixture
def proxy(world: World, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    """The registry behind a recording proxy, to count what reaches /v2/."""
    return fault_proxy_factory(world.registry)


class Sleeps(list[float]):
    """Stands in for asyncio.sleep: records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(
    url: str,
    github: GitHubAPI | None,
    user: str = "reader",
    *,
    username: str | None = None,
    secret: str | None = None,
    **options: Any,
) -> GhcrRegistry:
    """An adapter for `user` (its token, unless `secret` is given); `github` None = no api_url."""
    if github is not None:
        options = {"api_url": github.url, **options}
    options.setdefault("owner", "acme")
    token = USERS[user].token if secret is None else secret
    credentials = Credentials(user if username is None else username, Secret(token))
    return GhcrRegistry(RegistryConfig("ghcr", url, credentials, TlsSettings(), options), FAST)


def manifest_gets(proxy: FaultProxy) -> list[str]:
    return [r.path for r in proxy.requests if r.method == "GET" and "/manifests/" in r.path]


def api_paths(github: GitHubAPI) -> list[str]:
    return [r.raw_path for r in github.requests]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# ---- options -------------------------------------------------------------------------------


def test_registered_and_options_validated() -> None:
    assert adapter_class("ghcr") is GhcrRegistry
    assert GhcrRegistry.default_url == "https://ghcr.io"
    options = GhcrRegistry.validate_options(
        {
            "owner": "Acme-Corp",
            "owner_type": "org",
            "api_url": "https://ghe.example/api/v3/",
            "packages": "app, team/app",
        }
    )
    assert options == {
        "owner": "Acme-Corp",
        "owner_type": "org",
        "api_url": "https://ghe.example/api/v3",
        "packages": ["app", "team/app"],
    }
    for bad in (
        {"owner": "-acme"},
        {"owner_type": "team"},
        {"api_url": "api.github.com"},
        {"packages": ["Team/App"]},
        {"owner": "acme", "repositories": ["other/app"]},
        {"namespace": "acme"},
    ):
        with pytest.raises(ValidationError):
            GhcrRegistry.validate_options(bad)
    assert default_api_url("https://ghcr.io") == "https://api.github.com"
    assert default_api_url("https://containers.ghe.example") == "https://ghe.example/api/v3"
    assert default_api_url("http://127.0.0.1:5000") is None


# ---- listing -------------------------------------------------------------------------------


async def test_browse_lists_packages_with_digests_and_push_times_and_no_manifest_get(
    world: World, github: GitHubAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, github) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert set(listings) == {"acme/app", "acme/many", "acme/team/app", "acme/tool"}
    assert all(listing.error is None for listing in listings.values())
    app = {info.tag: info for info in listings["acme/app"].tags or []}
    assert set(app) == {"1.0", "2.0", "stable"}  # untagged versions (the index's children, the old 1.0) are no tags
    assert app["1.0"].digest == world.single.digest
    assert (app["1.0"].pushed, app["1.0"].created, app["1.0"].created_source) == (
        at("2024-05-02T03:04:05Z"),
        at("2024-05-02T03:04:05Z"),
        "push",
    )
    assert app["2.0"].digest == app["stable"].digest == world.multi.digest
    assert [i.digest for i in listings["acme/team/app"].tags or []] == [world.nested.digest]
    assert len(listings["acme/many"].tags or []) == MANY
    assert manifest_gets(proxy) == []

    paths = api_paths(github)
    assert paths.count("/users/acme") == 1 and paths.count("/orgs/acme/packages") == 1
    assert "/orgs/acme/packages/container/team%2Fapp/versions" in paths  # the "/" of a package name is encoded
    many = [r for r in github.requests if r.raw_path == "/orgs/acme/packages/container/many/versions"]
    assert len(many) == math.ceil(MANY / 100) == 3  # one request per page of 100 versions
    assert [r.query.get("page", "1") for r in many] == ["1", "2", "3"]
    assert all(r.query["per_page"] == "100" for r in github.requests if r.raw_path.endswith(("/packages", "/versions")))
    assert {r.authorization for r in github.requests} == {f"Bearer {USERS['reader'].token}"}


async def test_a_full_last_page_costs_no_extra_request(world: World, github: GitHubAPI) -> None:
    async with make(world.registry.url, github, owner_type="org") as adapter:
        names = [name async for name in adapter.list_repositories(page_size=2)]
    assert names == ["acme/app", "acme/many", "acme/team/app", "acme/tool"]
    pages = [r.query.get("page", "1") for r in github.requests if r.raw_path == "/orgs/acme/packages"]
    assert pages == ["1", "2"]  # 4 packages, 2 a page: the second page has no rel="next"
    assert "/users/acme" not in api_paths(github)  # owner_type given: no lookup


async def test_own_packages_come_from_user_packages_which_shows_private_ones(world: World, github: GitHubAPI) -> None:
    async with make(world.registry.url, github, "alice", owner="alice") as adapter:
        listings = await adapter.browse()
    assert [(listing.name, [t.tag for t in listing.tags or []]) for listing in listings] == [("alice/cli", ["0.1"])]
    assert listings[0].tags and listings[0].tags[0].digest == world.cli.digest
    assert api_paths(github) == ["/users/alice", "/user/packages", "/user/packages/container/cli/versions"]

    github.clear_requests()
    async with make(world.registry.url, github, "reader", owner="alice") as adapter:
        assert [name async for name in adapter.list_repositories()] == []  # someone else's private package
    assert api_paths(github) == ["/users/alice", "/users/alice/packages"]


async def test_packages_option_lists_only_those_without_the_package_list(world: World, github: GitHubAPI) -> None:
    async with make(world.registry.url, github, packages="tool,team/app") as adapter:
        listings = await adapter.browse()
    assert [listing.name for listing in listings] == ["acme/tool", "acme/team/app"]
    assert all(listing.error is None and listing.tags for listing in listings)
    assert "/orgs/acme/packages" not in api_paths(github)
    assert api_paths(github).count("/users/acme") == 1  # the owner is looked up once, not per package


async def test_the_probe_reads_one_page_of_versions_however_many_are_untagged(
    world: World, github: GitHubAPI, proxy: FaultProxy
) -> None:
    for image in world.many[:12]:
        github.add_version("acme", "scratch", image.digest, "2024-08-01T00:00:00Z")
    async with make(proxy.url, github, packages=["scratch"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert (
        result.message
        == "package scratch of acme (organisation); acme/scratch has no tag among its 10 newest version(s)"
    )
    scratch = [r for r in github.requests if r.raw_path.endswith("/scratch/versions")]
    assert [r.query["per_page"] for r in scratch] == ["10"]
    assert not [r for r in proxy.requests if "/manifests/" in r.path]


async def test_describe_without_listing_reads_the_versions_not_the_manifest(
    world: World, github: GitHubAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, github) as adapter:
        info = await adapter.describe("acme/app", TagRef("1.0"))
    assert (info.digest, info.created_source, info.error) == (world.single.digest, "push", None)
    assert manifest_gets(proxy) == []


async def test_a_tag_the_api_does_not_know_is_read_from_the_registry(
    world: World, github: GitHubAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, github) as adapter:
        info = await adapter.describe("acme/app", TagRef("registry-only"))
    assert info.error is None, info.error
    assert (info.digest, info.created, info.created_source) == (
        world.unlisted.digest,
        at("2023-03-04T05:06:07Z"),
        "build",
    )
    assert manifest_gets(proxy) == ["/v2/acme/app/manifests/registry-only"]


# ---- connection statuses -------------------------------------------------------------------


async def test_reader_is_connected_and_read_only(world: World, github: GitHubAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, github) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.message == (
        "acme (organisation): 4 container package(s) visible; read acme/app:2.0 from the registry (HEAD)"
    )
    assert [r.method for r in proxy.requests if "/manifests/" in r.path] == ["HEAD"]
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result.rights
    assert result.rights.detail == "reader's personal access token (classic) holds only read:packages"


STATUS_CASES = [
    # (id, user, options, status, reason, words in the message or hint)
    (
        "bad-token",
        "reader",
        {"secret": "ghp_wrong0000000000000000000000000000"},
        ConnectionStatus.AUTHORIZATION_FAILED,
        "bad_credentials",
        "GitHub rejected the token",
    ),
    (
        "unknown-owner",
        "reader",
        {"owner": "nobody"},
        ConnectionStatus.NOT_FOUND,
        "owner_not_found",
        "GitHub owner nobody does not exist",
    ),
    (
        "user-taken-for-org",
        "reader",
        {"owner": "alice", "owner_type": "org"},
        ConnectionStatus.NOT_FOUND,
        "owner_not_found",
        "owner_type",
    ),
    ("no-read-packages", "noscope", {}, ConnectionStatus.AUTHORIZATION_FAILED, "missing_scope", "read:packages"),
    (
        "fine-grained",
        "fine",
        {},
        ConnectionStatus.AUTHORIZATION_FAILED,
        "token_not_accepted",
        "Resource not accessible by personal access token",
    ),
    ("github-token-listing", "ci", {}, ConnectionStatus.AUTHORIZATION_FAILED, "token_not_accepted", "-o packages="),
    (
        "sso",
        "reader",
        {"owner": "secure"},
        ConnectionStatus.AUTHORIZATION_FAILED,
        "sso_required",
        "Configure SSO → Authorize (https://github.com/orgs/secure/sso)",
    ),
    (
        "unknown-package",
        "reader",
        {"packages": ["nope"]},
        ConnectionStatus.NOT_FOUND,
        "package_not_found",
        "package nope of acme does not exist",
    ),
    ("no-api-url", "reader", {"github": None}, ConnectionStatus.UNKNOWN, "api_url_required", "-o api_url="),
]


@pytest.mark.parametrize(
    ("user", "options", "status", "reason", "words"), [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES]
)
async def test_connection_status_names_the_github_cause(
    world: World,
    github: GitHubAPI,
    user: str,
    options: dict[str, Any],
    status: ConnectionStatus,
    reason: str,
    words: str,
) -> None:
    options = {"github": github, **options}
    async with make(world.registry.url, user=user, **options) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (status, reason), result
    assert words in f"{result.message} {result.hint}"
    text = f"{result.message} {result.hint} {result!r}"
    assert all(secret not in text for secret in (USERS[user].token, options.get("secret")) if secret)
    assert "authorization_request" not in text  # the one-hour SSO link is not repeated


async def test_primary_rate_limit_is_rate_limited_with_the_wait_and_not_retried(
    world: World, github: GitHubAPI
) -> None:
    github.rate_limit(status=403, reset_in=900)
    async with make(world.registry.url, github) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.RATE_LIMITED, "rate_limited"), result
    seconds = int(re.search(r"takes requests again in (\d+) s", result.message).group(1))  # type: ignore[union-attr]
    assert 890 <= seconds <= 900
    assert "x-ratelimit-reset" in result.hint
    assert [r.status for r in github.requests] == [403]


async def test_a_429_without_retry_after_is_retried_then_reported_with_the_reset(
    world: World, github: GitHubAPI
) -> None:
    github.rate_limit(times=10, status=429, reset_in=600)
    sleeps = Sleeps()
    async with make(world.registry.url, github) as adapter:
        adapter.client._sleep = sleeps
        with pytest.raises(RegistryError) as raised:
            await adapter.owner_type()
    assert raised.value.status is ConnectionStatus.RATE_LIMITED
    assert 590 <= (getattr(raised.value, "retry_after", None) or 0) <= 600
    assert [r.status for r in github.requests] == [429] * FAST.attempts
    assert len(sleeps) == FAST.attempts - 1


async def test_secondary_rate_limit_waits_as_told_and_succeeds(world: World, github: GitHubAPI) -> None:
    github.rate_limit(status=429, secondary=True, retry_after="7")
    sleeps = Sleeps()
    async with make(world.registry.url, github) as adapter:
        adapter.client._sleep = sleeps
        names = [name async for name in adapter.list_repositories()]
    assert "acme/app" in names
    assert sleeps == [7.0]
    assert [r.status for r in github.requests][:2] == [429, 200]


# ---- rights --------------------------------------------------------------------------------

RIGHTS_CASES = [
    ("read-packages", "reader", {}, Rights.READ_ONLY, "holds only read:packages"),
    ("write-packages", "writer", {}, Rights.CAN_WRITE, "holds write:packages"),
    ("delete-packages", "deleter", {}, Rights.CAN_WRITE, "holds delete:packages"),
    ("repo", "repo", {}, Rights.CAN_WRITE, "holds repo"),
    ("github-token-pull", "ci", {"packages": ["app"]}, Rights.READ_ONLY, "the registry grants only pull on acme/app"),
    ("github-token-push", "builder", {"packages": ["app"]}, Rights.CAN_WRITE, "the registry grants pull, push"),
]


@pytest.mark.parametrize(
    ("user", "options", "verdict", "words"), [c[1:] for c in RIGHTS_CASES], ids=[c[0] for c in RIGHTS_CASES]
)
async def test_rights_from_scopes_or_the_registry(
    world: World, github: GitHubAPI, user: str, options: dict[str, Any], verdict: Rights, words: str
) -> None:
    async with make(world.registry.url, github, user, **options) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is verdict, result.rights
    assert words in result.rights.detail
    if verdict is Rights.CAN_WRITE:
        assert "read:packages" in result.rights.recommendation or "packages: read" in result.rights.recommendation
    if USERS[user].github.kind == "installation":
        assert "GITHUB_TOKEN" in result.rights.detail and "no scopes" in result.rights.detail
        assert "/user" in api_paths(github)  # asked who the token is; an installation token may not say


@pytest.fixture
def token_proxies(world: World, fault_proxy_factory: FaultProxyFactory) -> tuple[FaultProxy, FaultProxy]:
    """(registry proxy whose /v2/ challenge names the token proxy, token-service proxy): lets a test
    change what the token service answers for push/delete while pull tokens stay real."""
    assert world.registry.token_issuer is not None
    tokens = fault_proxy_factory(world.registry.token_issuer.base_url)
    registry = fault_proxy_factory(world.registry)
    challenge = f'Bearer realm="{tokens.url}/token",service="regscout-test"'
    body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
    registry.add_fault(r"^/v2/$", Status(401, {"WWW-Authenticate": challenge}, body), times=None, method="GET")
    return registry, tokens


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            Status(200, {"Content-Type": "application/json"}, b'{"token":"djE6YWNtZS9hcHA6MTcxNzAwMDAwMA=="}'),
            "the registry's tokens are opaque",
        ),
        (
            Status(403, {"Content-Type": "application/json"}, b'{"errors":[{"code":"DENIED","message":"denied"}]}'),
            "the registry refused a push/delete token for acme/app",
        ),
    ],
    ids=["opaque", "refused"],
)
async def test_rights_unknown_when_the_registry_tells_nothing(
    github: GitHubAPI, token_proxies: tuple[FaultProxy, FaultProxy], answer: Status, words: str
) -> None:
    registry, tokens = token_proxies
    tokens.add_fault(r"push", answer, times=None)
    async with make(registry.url, github, "ci", packages=["app"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN, result.rights
    assert words in result.rights.detail and "GitHub reports no scopes" in result.rights.detail
    assert "permissions: packages: read" in result.rights.recommendation
    assert [r.fault for r in tokens.requests if "push" in r.path] == [type(answer).__name__]
    assert any(r.method == "HEAD" and "/manifests/" in r.path for r in registry.requests)  # pulls still worked


async def test_a_token_without_user_name_uses_a_default_one(world: World, github: GitHubAPI) -> None:
    async with make(world.registry.url, github, "regscout", username="") as adapter:
        assert adapter.client.credentials is not None and adapter.client.credentials.username == "regscout"
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result


async def test_owner_is_required_without_a_user_name(world: World, github: GitHubAPI) -> None:
    config = RegistryConfig(
        "ghcr",
        world.registry.url,
        Credentials("", Secret(USERS["regscout"].token)),
        TlsSettings(),
        {"api_url": github.url},
    )
    async with GhcrRegistry(config, FAST) as adapter:
        result = await adapter.test()
    assert result.reason == "owner_required" and "-o owner=" in result.hint


# ---- the command line ----------------------------------------------------------------------


def test_cli_add_test_and_list_tags(world: World, github: GitHubAPI, tmp_path: Path) -> None:
    cli = CliEnv(tmp_path / "home")
    token = USERS["reader"].token
    added = cli.run(
        "registry",
        "add",
        "--name",
        "gh",
        "--type",
        "ghcr",
        "--url",
        world.registry.url,
        "--username",
        "reader",
        "--password-stdin",
        "-o",
        "owner=acme",
        "-o",
        f"api_url={github.url}",
        "-o",
        "packages=app,team/app",
        "--json",
        stdin=token + "\n",
    )
    assert json.loads(added.stdout)["test"]["status"] == "Connected"

    tested = json.loads(cli.run("registry", "test", "gh", "--json").stdout)
    assert tested["status"] == "Connected"
    assert tested["rights"]["verdict"] == "read-only"
    assert "read:packages" in tested["rights"]["detail"]

    listing = json.loads(cli.run("registry", "repos", "gh", "--tags", "--json").stdout)
    tags = {(repo["name"], tag["tag"]): tag for repo in listing for tag in repo["tags"]}
    assert set(tags) == {("acme/app", "1.0"), ("acme/app", "2.0"), ("acme/app", "stable"), ("acme/team/app", "latest")}
    assert tags[("acme/app", "2.0")]["digest"] == world.multi.digest
    assert tags[("acme/app", "1.0")]["created"].startswith("2024-05-02T03:04:05")
    assert tags[("acme/app", "1.0")]["created_source"] == "push"

    failed = cli.run(
        "registry",
        "add",
        "--name",
        "gh2",
        "--type",
        "ghcr",
        "--url",
        world.registry.url,
        "--username",
        "noscope",
        "--password-stdin",
        "-o",
        "owner=acme",
        "-o",
        f"api_url={github.url}",
        stdin=USERS["noscope"].token + "\n",
        check_code=4,
    )
    assert "Authorization failed" in failed.stderr + failed.stdout and "read:packages" in failed.stderr + failed.stdout
    assert all(token not in text and USERS["noscope"].token not in text for text in cli.transcript)
