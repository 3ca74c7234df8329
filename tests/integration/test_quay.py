"""quay: a Quay API stand-in (tests/harness/vendors/quay_api.py) for /api/v1, and a real token-auth registry
for every /v2/ call, whose accounts are Quay's: robots (`<namespace>+<name>`), `$oauthtoken` with the OAuth
token as password, a database user, and anonymous pulls."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights, TagRef
from regscout.registries.errors import ConnectionStatus
from regscout.registries.manifest import OCI_INDEX
from regscout.registries.quay import OAUTH_USERNAME, QuayRegistry
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.faults import FaultProxy
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.quay_api import QuayAPI, QuayUser

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

READER_TOKEN = "quay-oauth-reader-0123456789abcdef"
ROBOTS = {
    "acme+builder": Account("builder-robot-token-0123456789", frozenset({"pull", "push", "*"})),
    "acme+reader": Account("reader-robot-token-0123456789", frozenset({"pull"})),
    "acme+writer": Account("writer-robot-token-0123456789", frozenset({"pull", "push"})),
    "acme+nolist": Account("nolist-robot-token-0123456789", frozenset({"pull"}), catalog=False),
}
ALICE_PASSWORD = "alice-quay-password-0123"
BULK_TAGS = 200


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@dataclass(frozen=True)
class World:
    registry: RunningRegistry
    app: Image
    multi: Index
    web: Image
    vault: Image
    bulk: Image


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    accounts = {
        **ROBOTS,
        "alice": Account(ALICE_PASSWORD, frozenset({"pull", "push"})),
        OAUTH_USERNAME: Account(READER_TOKEN, frozenset({"pull"})),
    }
    registry = start_registry(
        "token", Path(tmp_path_factory.mktemp("quay-registry")), accounts=accounts, anonymous_pull=True
    )
    arm = build_image([base_layer()], architecture="arm64", labels={"seed": "quay-arm64"})
    made = World(
        registry,
        small_image("quay-app", created="2024-06-30T12:00:00Z"),
        build_index([small_image("quay-app-2"), arm]),
        small_image("quay-web"),
        small_image("quay-vault"),
        small_image("quay-bulk"),
    )
    try:
        with Pusher(registry, auth=("acme+builder", ROBOTS["acme+builder"].password)) as pusher:
            pusher.push("acme/vault", "1", made.vault)
            pusher.push("acme/app", "1.0", made.app)
            pusher.push("acme/app", "2.0", made.multi)
            pusher.push("acme/app", "soon", made.web)
            pusher.push("acme/web", "latest", made.web)
            pusher.push_many(("bulk/many", f"v{n:03d}", made.bulk) for n in range(BULK_TAGS))
        yield made
    finally:
        registry.stop()


@pytest.fixture
def api(world: World) -> Iterator[QuayAPI]:
    """acme: vault (private, created first), app and web (public); alice reads all three. The tag data holds
    what Quay's API would: an expired tag, an older lifetime of 1.0, a tag that expires tomorrow."""
    now = int(time.time())
    with QuayAPI() as server:
        for org in ("acme", "bulk", "empty"):
            server.add_organization(org)
        server.add_user("alice", QuayUser(repo_roles={f"acme/{r}": "read" for r in ("vault", "app", "web")}))
        server.add_token(READER_TOKEN, "alice", {"repo:read"})
        server.add_repository("acme", "vault")
        server.add_repository("acme", "app", public=True)
        server.add_repository("acme", "web", public=True)
        server.add_tag("acme", "vault", "1", world.vault, ts("2024-06-01T00:00:00Z"))
        server.add_tag("acme", "app", "1.0", world.web, ts("2024-05-01T00:00:00Z"), end_ts=ts("2024-07-01T08:00:00Z"))
        server.add_tag("acme", "app", "1.0", world.app, ts("2024-07-01T08:00:00Z"))
        server.add_tag("acme", "app", "2.0", world.multi, ts("2024-07-02T09:00:00Z"))
        server.add_tag("acme", "app", "gone", world.web, ts("2024-04-01T00:00:00Z"), end_ts=ts("2024-04-02T00:00:00Z"))
        server.add_tag("acme", "app", "soon", world.web, ts("2024-03-01T00:00:00Z"), end_ts=now + 86400)
        server.add_tag("acme", "app", "$temp-build", world.web, ts("2024-07-03T00:00:00Z"), hidden=True)
        server.add_tag("acme", "web", "latest", world.web, ts("2024-04-01T00:00:00Z"))
        server.add_repository("bulk", "many", public=True)
        for n in range(BULK_TAGS):
            server.add_tag("bulk", "many", f"v{n:03d}", world.bulk, ts("2024-01-01T00:00:00Z") + n)
        yield server


@pytest.fixture
def oauth(world: World) -> Iterator[Callable[..., None]]:
    """Switch the registry's `$oauthtoken` login to another OAuth token (one password per user name)."""

    def use(token: str, actions: frozenset[str] = frozenset({"pull"})) -> None:
        world.registry.accounts[OAUTH_USERNAME] = Account(token, actions)

    yield use
    world.registry.accounts[OAUTH_USERNAME] = Account(READER_TOKEN, frozenset({"pull"}))


@pytest.fixture
def proxy(world: World, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    return fault_proxy_factory(world.registry)


def make(url: str, api: QuayAPI, user: str | None = None, secret: str | None = None, **options: Any) -> QuayRegistry:
    credentials = Credentials(user or "", Secret(secret)) if secret is not None else None
    config = RegistryConfig("quay", url, credentials, TlsSettings(), {"api_url": api.api_url, **options})
    return QuayRegistry(config, FAST)


def robot(world: World, api: QuayAPI, name: str, **options: Any) -> QuayRegistry:
    return make(world.registry.url, api, name, ROBOTS[name].password, **options)


def manifest_gets(proxy: FaultProxy) -> list[str]:
    return [r.target_path for r in proxy.requests if r.method == "GET" and "/manifests/" in r.path]


def tag_requests(api: QuayAPI, repository: str) -> list[dict[str, list[str]]]:
    return [r.query for r in api.requests if r.path == f"/api/v1/repository/{repository}/tag/"]


# ---- configuration ------------------------------------------------------------------------------


def test_registered_and_options_validated() -> None:
    assert adapter_class("quay") is QuayRegistry
    assert QuayRegistry.default_url == "https://quay.io"
    options = QuayRegistry.validate_options({"api_url": "https://quay.example/api/v1/", "namespaces": "acme, team"})
    assert options == {"api_url": "https://quay.example/api/v1", "namespaces": ["acme", "team"]}
    assert QuayRegistry.validate_options({"repositories": ["acme/app"]}) == {"repositories": ["acme/app"]}
    for anonymous_or_oauth in (None, "$oauthtoken"):
        with pytest.raises(ValidationError, match="namespaces=acme"):
            QuayRegistry.validate_options({}, anonymous_or_oauth)
    # a robot defaults to its namespace and a user to its catalog, so neither needs the option
    assert QuayRegistry.validate_options({}, "acme+ci") == QuayRegistry.validate_options({}, "alice") == {}
    with pytest.raises(ValidationError, match="not a Quay organisation"):
        QuayRegistry.validate_options({"namespaces": ["Acme"]})
    with pytest.raises(ValidationError, match="http"):
        QuayRegistry.validate_options({"namespaces": ["acme"], "api_url": "quay.example/api/v1"})


def test_api_url_defaults_to_the_registry_host() -> None:
    config = RegistryConfig("quay", "https://quay.example:8443/", None, TlsSettings(), {"namespaces": ["acme"]})
    assert QuayRegistry(config).api_url == "https://quay.example:8443/api/v1"


# ---- listing through the API --------------------------------------------------------------------


async def test_browse_uses_api_digests_and_push_times(world: World, api: QuayAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"]) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert list(listings) == ["acme/vault", "acme/app", "acme/web"]
    app = {info.tag: info for info in listings["acme/app"].tags or []}
    assert set(app) == {"1.0", "2.0", "soon"}  # no expired tag, no hidden one
    assert app["1.0"].digest == world.app.digest  # the live lifetime, not the older one
    assert app["1.0"].pushed == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    assert (app["1.0"].created, app["1.0"].created_source) == (app["1.0"].pushed, "push")
    assert (app["2.0"].digest, app["2.0"].media_type) == (world.multi.digest, OCI_INDEX)
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    assert all(info.error is None for listing in listings.values() for info in listing.tags or [])
    # Only the manifest list's index is read, by digest: the API has no platforms. Nothing else reaches /v2/.
    assert manifest_gets(proxy) == [f"/v2/acme/app/manifests/{world.multi.digest}"]
    assert not [r for r in proxy.requests if "/blobs/" in r.path or r.method == "HEAD"]
    for repository in ("acme/vault", "acme/app", "acme/web"):
        [query] = tag_requests(api, repository)
        assert (query["limit"], query["onlyActiveTags"], query["page"]) == (["100"], ["true"], ["1"])
    assert {r.authorization for r in api.requests} == {f"Bearer {READER_TOKEN}"}


async def test_tags_of_200_take_two_api_pages_and_no_registry_request(
    world: World, api: QuayAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, api, OAUTH_USERNAME, READER_TOKEN, repositories=["bulk/many"]) as adapter:
        [listing] = await adapter.browse()
    tags = listing.tags or []
    assert len(tags) == BULK_TAGS and {t.digest for t in tags} == {world.bulk.digest}
    assert tags[0].pushed == datetime(2024, 1, 1, tzinfo=UTC)
    # has_additional ends the walk: 200 tags are two requests, not a third empty page.
    assert [q["page"] for q in tag_requests(api, "bulk/many")] == [["1"], ["2"]]
    assert proxy.requests == []


async def test_repository_pages_follow_next_page(world: World, api: QuayAPI) -> None:
    for n in range(149):
        api.add_repository("bulk", f"r{n:03d}", public=True)
    options = {"namespaces": ["bulk"], "include_public": True}  # alice has no permission in bulk
    async with make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, **options) as adapter:
        names = [name async for name in adapter.list_repositories()]
    assert len(names) == 150 and names[0] == "bulk/many" and len(set(names)) == 150
    pages = [r.query for r in api.requests if r.path == "/api/v1/repository"]
    assert len(pages) == 2 and "next_page" not in pages[0] and pages[1]["next_page"][0]
    assert all(q["namespace"] == ["bulk"] and q["public"] == ["true"] for q in pages)


async def test_expired_tags_are_dropped_even_where_quay_ignores_only_active(world: World, api: QuayAPI) -> None:
    api.honour_active_filter = False  # the API now returns the whole history, expired lifetimes included
    async with make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"]) as adapter:
        tags = {t.name: t for t in await adapter.list_tags("acme/app")}
    assert set(tags) == {"1.0", "2.0", "soon"}
    assert tags["1.0"].digest == world.app.digest


async def test_describe_without_listing_reads_one_tag_from_the_api(
    world: World, api: QuayAPI, proxy: FaultProxy
) -> None:
    async with make(proxy.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"]) as adapter:
        info = await adapter.describe("acme/web", TagRef("latest"))
        missing = await adapter.describe("acme/web", TagRef("nope"))
    assert (info.digest, info.created_source, info.error) == (world.web.digest, "push", None)
    assert [q["specificTag"] for q in tag_requests(api, "acme/web")] == [["latest"], ["nope"]]
    assert missing.error is not None and "acme/web:nope does not exist" in missing.error
    assert proxy.requests == []


async def test_anonymous_lists_public_repositories_without_credentials(world: World, api: QuayAPI) -> None:
    issuer = world.registry.token_issuer
    assert issuer is not None
    issuer.clear_requests()
    async with make(world.registry.url, api, namespaces=["acme"]) as adapter:
        result = await adapter.test()
        names = [name async for name in adapter.list_repositories()]
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "anonymous access: namespace acme: 2 repositories" in result.message
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY
    assert names == ["acme/app", "acme/web"]
    assert all(r.authorization is None for r in api.requests)
    assert all(r.query["public"] == ["true"] for r in api.requests if r.path == "/api/v1/repository")
    # Quay's token service refuses an anonymous login without scopes: only scoped pull tokens are asked for.
    assert issuer.requests and all(r.user is None and r.scopes for r in issuer.requests)


async def test_oauth_token_with_an_empty_user_name_logs_in_as_oauthtoken(world: World, api: QuayAPI) -> None:
    assert world.registry.token_issuer is not None
    world.registry.token_issuer.clear_requests()
    async with make(world.registry.url, api, "", READER_TOKEN, namespaces=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert {r.user for r in world.registry.token_issuer.requests} == {OAUTH_USERNAME}


# ---- rights: OAuth tokens -----------------------------------------------------------------------


async def test_oauth_reader_is_connected_and_read_only(world: World, api: QuayAPI) -> None:
    async with make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.message == (
        "the OAuth token: namespace acme: 3 repositories; read acme/vault:1 from the API and the registry"
    )
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result.rights
    assert "neither can_write nor can_admin on acme/vault" in result.rights.detail
    asked = [(r.path, r.status) for r in api.requests][-4:]
    assert asked == [
        ("/api/v1/repository/acme/vault", 200),
        ("/api/v1/organization/acme", 200),
        ("/api/v1/user/", 401),
        ("/api/v1/superuser/organizations/", 403),
    ]
    assert READER_TOKEN not in f"{result.message} {result.hint} {result.rights} {result!r}"


@pytest.mark.parametrize(
    ("scopes", "user", "verdict", "excess"),
    [
        ({"repo:write"}, QuayUser(repo_roles={"acme/vault": "write"}), Rights.CAN_WRITE, "push to acme/vault"),
        ({"repo:admin"}, QuayUser(repo_roles={"acme/vault": "admin"}), Rights.CAN_WRITE, "administer acme/vault"),
        (
            {"repo:read", "org:admin"},
            QuayUser(org_roles={"acme": "admin"}),
            Rights.CAN_WRITE,
            "administer organisation acme (org:admin)",
        ),
        (
            {"repo:read", "repo:create"},
            QuayUser(repo_roles={"acme/vault": "read"}, org_roles={"acme": "creator"}),
            Rights.CAN_WRITE,
            "create repositories in acme (repo:create)",
        ),
        (
            {"repo:read", "user:admin"},
            QuayUser(repo_roles={"acme/vault": "read"}),
            Rights.CAN_WRITE,
            "administer the account carol (user:admin)",
        ),
        (
            {"repo:read", "super:user"},
            QuayUser(superuser=True, repo_roles={"acme/vault": "read"}),
            Rights.CAN_WRITE,
            "administer the whole Quay installation (super:user)",
        ),
        (
            {"repo:read", "user:read", "super:user"},
            QuayUser(superuser=True, repo_roles={"acme/vault": "read"}),
            Rights.CAN_WRITE,
            "(super:user)",
        ),
        # A superuser's token without super:user, and a write scope where the user may only read: no excess.
        ({"repo:read", "user:read"}, QuayUser(superuser=True, repo_roles={"acme/vault": "read"}), Rights.READ_ONLY, ""),
        ({"repo:write"}, QuayUser(repo_roles={"acme/vault": "read"}), Rights.READ_ONLY, ""),
    ],
)
async def test_oauth_excess_rights(
    world: World,
    api: QuayAPI,
    oauth: Callable[..., None],
    scopes: set[str],
    user: QuayUser,
    verdict: Rights,
    excess: str,
) -> None:
    token = "quay-oauth-" + "-".join(sorted(scopes)).replace(":", "_")
    api.add_user("carol", user)
    api.add_token(token, "carol", scopes)
    oauth(token)
    async with make(world.registry.url, api, OAUTH_USERNAME, token, namespaces=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is verdict, result.rights
    assert excess in result.rights.detail
    if verdict is Rights.CAN_WRITE:
        assert "only repo:read" in result.rights.recommendation
    superuser_asked = any(r.path == "/api/v1/superuser/organizations/" for r in api.requests)
    assert superuser_asked is ("user:read" not in scopes and "user:admin" not in scopes)


async def test_oauth_rights_are_unknown_without_a_repository(world: World, api: QuayAPI) -> None:
    async with make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["empty"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "namespace empty: 0 repositories" in result.message
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN
    assert "no repository to read can_write and can_admin from" in result.rights.detail


# ---- robots and passwords: the registry only ----------------------------------------------------


@pytest.mark.parametrize("options", [{"namespaces": ["acme"]}, {}], ids=["namespaces given", "robot's namespace"])
async def test_robot_lists_through_the_registry_and_never_calls_the_api(
    world: World, api: QuayAPI, proxy: FaultProxy, options: dict[str, Any]
) -> None:
    # Without namespaces a robot lists its own (acme of acme+reader): the catalog's bulk/many is left out.
    async with make(proxy.url, api, "acme+reader", ROBOTS["acme+reader"].password, **options) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}
    assert list(listings) == ["acme/app", "acme/vault", "acme/web"]
    app = {info.tag: info for info in listings["acme/app"].tags or []}
    assert set(app) == {"1.0", "2.0", "soon"}
    assert (app["1.0"].digest, app["1.0"].created_source) == (world.app.digest, "build")
    assert app["1.0"].created == datetime(2024, 6, 30, 12, 0, tzinfo=UTC)
    assert "linux/arm64" in app["2.0"].platforms
    assert any(r.target_path == "/v2/_catalog" for r in proxy.requests)
    assert api.requests == []


@pytest.mark.parametrize(
    ("name", "verdict", "detail"),
    [
        ("acme+reader", Rights.READ_ONLY, "grants only pull on acme/app (asked for pull,push,*)"),
        ("acme+writer", Rights.CAN_WRITE, "grants push (Write) on acme/app"),
        ("acme+builder", Rights.CAN_WRITE, "grants push (Write), admin (Admin) on acme/app"),
    ],
)
async def test_robot_rights_from_the_token_service(
    world: World, api: QuayAPI, name: str, verdict: Rights, detail: str
) -> None:
    assert world.registry.token_issuer is not None
    world.registry.token_issuer.clear_requests()
    async with robot(world, api, name, namespaces=["acme"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert f"robot {name}: read 3 tag(s) of acme/app through the registry" in result.message
    assert result.rights is not None and result.rights.verdict is verdict, result.rights
    assert detail in result.rights.detail
    if verdict is Rights.CAN_WRITE:
        assert "Robot Accounts" in result.rights.recommendation
    scopes = [scope for r in world.registry.token_issuer.requests for scope in r.scopes]
    # Quay's token service refuses "delete" (its scope grammar is pull, push and *).
    assert "repository:acme/app:pull,push,*" in scopes and not any("delete" in s for s in scopes)
    assert api.requests == []


async def test_user_password_can_write_and_is_told_to_use_a_robot(world: World, api: QuayAPI) -> None:
    async with make(world.registry.url, api, "alice", ALICE_PASSWORD, repositories=["acme/web"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.message.startswith("user alice: read 1 tag(s) of acme/web through the registry")
    assert result.rights is not None and result.rights.verdict is Rights.CAN_WRITE
    assert "robot account" in result.rights.recommendation


# ---- connection failures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    credentials: tuple[str, str] | None
    options: dict[str, Any]
    status: ConnectionStatus
    reason: str
    words: str


FAILURES = {
    "robot with a wrong token": Failure(
        ("acme+reader", "wrong-robot-token"),
        {"namespaces": ["acme"]},
        ConnectionStatus.AUTHORIZATION_FAILED,
        "bad_credentials",
        "<namespace>+<robot>",
    ),
    "OAuth token the registry refuses": Failure(
        (OAUTH_USERNAME, "quay-oauth-revoked"),
        {"namespaces": ["acme"]},
        ConnectionStatus.AUTHORIZATION_FAILED,
        "bad_credentials",
        "OAuth application token",
    ),
    "robot whose catalog is refused": Failure(
        ("acme+nolist", ROBOTS["acme+nolist"].password),
        {"namespaces": ["acme"]},
        ConnectionStatus.AUTHORIZATION_FAILED,
        "robot_not_for_api",
        "-o repositories=",
    ),
    "anonymous on a private repository": Failure(
        None, {"repositories": ["acme/vault"]}, ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials", "OAuth"
    ),
    "namespace unknown to the API": Failure(
        (OAUTH_USERNAME, READER_TOKEN),
        {"namespaces": ["nobody"]},
        ConnectionStatus.NOT_FOUND,
        "namespace_not_found",
        "namespaces option",
    ),
    "robot in a namespace unknown to the API": Failure(
        ("acme+reader", ROBOTS["acme+reader"].password),
        {"namespaces": ["nobody"]},
        ConnectionStatus.NOT_FOUND,
        "namespace_not_found",
        "namespaces option",
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
async def test_connection_failures_name_their_cause(world: World, api: QuayAPI, case: str) -> None:
    failure = FAILURES[case]
    user, secret = failure.credentials or (None, None)
    async with make(world.registry.url, api, user, secret, **failure.options) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (failure.status, failure.reason), result
    assert failure.words in result.hint, result.hint
    if secret:
        assert secret not in f"{result.message} {result.hint} {result!r}"
    if user and "+" in user:
        assert all(r.authorization is None for r in api.requests)  # a robot's token never goes to the API


async def test_token_without_repo_read_is_named(world: World, api: QuayAPI, oauth: Callable[..., None]) -> None:
    api.add_token("quay-oauth-user-read-only", "alice", {"user:read"})
    oauth("quay-oauth-user-read-only", frozenset())
    async with make(world.registry.url, api, OAUTH_USERNAME, "quay-oauth-user-read-only", namespaces=["acme"]) as a:
        result = await a.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "token_lacks_repo_read")
    assert "lists acme/vault but may not read it (HTTP 403)" in result.message
    assert "repo:read" in result.hint


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [(429, ConnectionStatus.RATE_LIMITED, "rate_limited"), (503, ConnectionStatus.UNKNOWN, "server_error")],
)
async def test_api_throttling_and_outages(
    world: World, api: QuayAPI, fault: int, status: ConnectionStatus, reason: str
) -> None:
    api.fail(r"^/api/v1/repository$", fault, times=10, headers={"Retry-After": "0"})
    async with make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"]) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (status, reason), result
    assert [r.status for r in api.requests] == [fault] * FAST.attempts


async def test_wrong_api_url_and_plain_http_api(world: World, api: QuayAPI) -> None:
    wrong = make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"], api_url=f"{api.url}/quay")
    plain = api.api_url.replace("http://", "https://")
    tls = make(world.registry.url, api, OAUTH_USERNAME, READER_TOKEN, namespaces=["acme"], api_url=plain)
    async with wrong, tls:
        missing, handshake = await wrong.test(), await tls.test()
    assert (missing.status, missing.reason) == (ConnectionStatus.NOT_FOUND, "api_not_found"), missing
    assert "api_url" in missing.hint and f"{api.url}/quay" in missing.message
    assert (handshake.status, handshake.reason) == (ConnectionStatus.SSL_HANDSHAKE_ERROR, "plain_http"), handshake


# ---- the command line -----------------------------------------------------------------------------


def test_cli_add_test_and_repos_with_an_oauth_token(world: World, api: QuayAPI, tmp_path: Path) -> None:
    cli = CliEnv(tmp_path / "home")
    added = cli.run(
        "registry",
        "add",
        "--name",
        "quay",
        "--type",
        "quay",
        "--url",
        world.registry.url,
        "--username",
        OAUTH_USERNAME,
        "--password-stdin",
        "-o",
        f"api_url={api.api_url}",
        "-o",
        "namespaces=acme",
        "--json",
        stdin=READER_TOKEN + "\n",
    )
    test = json.loads(added.stdout)["test"]
    assert (test["status"], test["rights"]["verdict"]) == ("Connected", "read-only"), test
    tested = json.loads(cli.run("registry", "test", "quay", "--json").stdout)
    assert tested["status"] == "Connected"
    listing = {r["name"]: r for r in json.loads(cli.run("registry", "repos", "quay", "--tags", "--json").stdout)}
    assert set(listing) == {"acme/app", "acme/vault", "acme/web"}
    app = {tag["tag"]: tag for tag in listing["acme/app"]["tags"]}
    assert set(app) == {"1.0", "2.0", "soon"}
    assert app["1.0"]["digest"] == world.app.digest
    assert app["1.0"]["created"].startswith("2024-07-01T08:00:00") and app["1.0"]["created_source"] == "push"
    assert app["2.0"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert READER_TOKEN not in "".join(cli.transcript)
