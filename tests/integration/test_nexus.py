"""nexus: a Nexus REST API stand-in for listing and rights, a real token-auth registry for every /v2/ call
(standing in for the repository's Docker connector, whose token service Nexus itself runs)."""

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
from regscout.registries.nexus import NexusRegistry
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.faults import FaultProxy, Status
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.httpserver import free_port
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import TOKEN_SERVICE, RunningRegistry, start_registry
from tests.harness.vendors.nexus_api import NexusAPI, NexusUser

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

HOSTED = "nexus-hosted"
MANY = "docker-many"
PATHS = "docker-paths"
GHOST = "docker-ghost"
MANY_TAGS = 250
USERS = {
    "reader": ["docker-reader"],
    "auditor": ["docker-reader", "security-reader"],
    "adder": ["docker-reader", "security-reader", "docker-add"],
    "editor": ["docker-reader", "security-reader", "docker-edit"],
    "deleter": ["docker-reader", "security-reader", "docker-delete"],
    "admin": ["nx-admin"],
    "repoadmin": ["docker-reader", "repository-admin-reader"],
    "custom": ["docker-reader", "users-and-roles-reader", "team-pushers"],
    "outsider": ["maven-reader"],
}


def password(user: str) -> str:
    return f"{user}-secret-pw"


@dataclass(frozen=True)
class World:
    registry: RunningRegistry
    app: Image
    multi: Index
    web: Image
    tool: Image
    many: Image


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One token registry for every connector: each Nexus user (plus "stranger", whom the REST API does not
    know) may pull; "ci" pushes the images."""
    accounts = {"ci": Account("ci-secret-pw", frozenset({"pull", "push", "delete"}))}
    accounts |= {user: Account(password(user)) for user in [*USERS, "stranger"]}
    registry = start_registry(
        "token", Path(tmp_path_factory.mktemp("nexus-registry")), accounts=accounts, anonymous_pull=True
    )
    arm = build_image([base_layer()], architecture="arm64", labels={"seed": "nexus-arm64"})
    images = World(
        registry,
        small_image("nexus-app-1", created="2024-06-30T12:00:00Z"),
        build_index([small_image("nexus-app-2"), arm]),
        small_image("nexus-web"),
        small_image("nexus-tool"),
        small_image("nexus-many"),
    )
    try:
        with Pusher(registry) as pusher:
            pusher.push("team/app", "1.0", images.app)
            pusher.push("team/app", "2.0", images.multi)
            pusher.push("team/web", "latest", images.web)
            pusher.push(f"{PATHS}/tools/cli", "3.1", images.tool)
            pusher.push_many(("many/app", f"v{n}", images.many) for n in range(MANY_TAGS))
        yield images
    finally:
        registry.stop()


@pytest.fixture
def nexus(world: World) -> Iterator[NexusAPI]:
    users = {user: NexusUser(password(user), roles) for user, roles in USERS.items()}
    with NexusAPI(users, anonymous=True) as api:
        for name in (PATHS, HOSTED, MANY, GHOST):  # path routing probes the first: the one pushed with its prefix
            api.add_repository(name, http_port=8082)
        api.add_repository("docker-group", kind="group")
        api.add_repository("docker-proxy", kind="proxy")
        api.add_repository("maven-releases", fmt="maven2")
        api.add_component(HOSTED, "team/app", "1.0", world.app, "2024-07-01T08:00:00Z")
        api.add_component(HOSTED, "team/app", "2.0", world.multi, "2024-07-02T09:00:00Z")
        api.add_component(HOSTED, "team/web", "latest", world.web, "2024-07-03T10:00:00Z")
        api.add_component(PATHS, "tools/cli", "3.1", world.tool, "2024-07-04T11:00:00Z")
        api.add_component(GHOST, "ghost/app", "1", world.web, "2024-07-05T00:00:00Z")
        for n in range(MANY_TAGS):
            api.add_component(MANY, "many/app", f"v{n}", world.many, f"2024-03-01T00:{n // 60:02d}:{n % 60:02d}Z")
        api.add_role("docker-reader", ["nx-repository-view-docker-*-browse", "nx-repository-view-docker-*-read"])
        api.add_role("security-reader", ["nx-users-read", "nx-roles-read", "nx-privileges-read"])
        api.add_role("users-and-roles-reader", ["nx-users-read", "nx-roles-read"])
        for action in ("add", "edit", "delete"):
            api.add_role(f"docker-{action}", [f"nx-repository-view-docker-{HOSTED}-{action}"])
        api.add_role("repository-admin-reader", [f"nx-repository-admin-docker-{HOSTED}-read"])
        api.add_privilege("team-push", "repository-view", format="docker", repository=HOSTED, actions=["ADD"])
        api.add_role("team-pushers", ["team-push"])
        api.add_role("maven-reader", ["nx-repository-view-maven2-*-browse", "nx-repository-view-maven2-*-read"])
        yield api


@pytest.fixture
def proxy(world: World, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    """The registry behind a recording proxy, to count (or fake) what reaches /v2/."""
    return fault_proxy_factory(world.registry)


def make(
    url: str, nexus: NexusAPI | str, user: str | None = "reader", secret: str | None = None, **options: Any
) -> NexusRegistry:
    credentials = Credentials(user, Secret(secret or password(user))) if user else None
    api_url = nexus if isinstance(nexus, str) else nexus.url
    options = {"api_url": api_url, "repository": HOSTED, **options}
    return NexusRegistry(RegistryConfig("nexus", url, credentials, TlsSettings(), options), FAST)


def components_calls(nexus: NexusAPI) -> list[Any]:
    return [r for r in nexus.requests if r.path == "/service/rest/v1/components"]


def manifest_gets(proxy: FaultProxy) -> list[str]:
    return [r.path for r in proxy.requests if r.method == "GET" and "/manifests/" in r.path]


def test_registered_and_options_validated() -> None:
    assert adapter_class("nexus") is NexusRegistry
    options = NexusRegistry.validate_options(
        {"api_url": "https://nexus.example:8081/service/rest/", "repository": "docker-hosted"}
    )
    assert options == {"api_url": "https://nexus.example:8081", "repository": ["docker-hosted"]}
    assert NexusRegistry.validate_options({"connector": "path", "repository": "a,b"})["repository"] == ["a", "b"]
    with pytest.raises(ValidationError, match="exactly one repository"):
        NexusRegistry.validate_options({})
    with pytest.raises(ValidationError, match="must be lower case"):
        NexusRegistry.validate_options({"connector": "path", "repository": "Docker-Hosted"})
    with pytest.raises(ValidationError, match="not a Nexus repository name"):
        NexusRegistry.validate_options({"repository": "docker/hosted"})
    with pytest.raises(ValidationError, match="not an http"):
        NexusRegistry.validate_options({"repository": "x", "api_url": "nexus.example:8081"})


def test_api_url_defaults_follow_the_connector() -> None:
    port = NexusRegistry(RegistryConfig("nexus", "https://docker.example:8443", options={"repository": "x"}))
    path = NexusRegistry(RegistryConfig("nexus", "https://nexus.example", options={"connector": "path"}))
    assert (port.api_base, path.api_base) == ("https://docker.example:8081", "https://nexus.example")


async def test_browse_takes_digests_and_push_times_from_components(
    nexus: NexusAPI, proxy: FaultProxy, world: World
) -> None:
    async with make(proxy.url, nexus) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert set(listings) == {"team/app", "team/web"}
    app = {info.tag: info for info in listings["team/app"].tags or []}
    assert (app["1.0"].digest, app["1.0"].media_type) == (world.app.digest, world.app.media_type)
    assert app["1.0"].pushed == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    assert (app["1.0"].created, app["1.0"].created_source) == (app["1.0"].pushed, "push")
    assert app["1.0"].platforms == ()
    assert (app["2.0"].digest, app["2.0"].media_type) == (world.multi.digest, world.multi.media_type)
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    assert all(info.error is None for listing in listings.values() for info in listing.tags or [])
    # one page of components, no repository list; /v2/ only for the index, whose platforms the API lacks
    assert [r.path for r in nexus.requests] == ["/service/rest/v1/components"]
    assert {r.authorization for r in nexus.requests} == {
        Credentials("reader", Secret(password("reader"))).basic_header()
    }
    assert manifest_gets(proxy) == [f"/v2/team/app/manifests/{world.multi.digest}"]


async def test_components_pages_are_followed_with_one_request_each(
    nexus: NexusAPI, proxy: FaultProxy, world: World
) -> None:
    async with make(proxy.url, nexus, repository=MANY) as adapter:
        [listing] = await adapter.browse()
    tags = listing.tags or []
    assert listing.name == "many/app" and len({t.tag for t in tags}) == MANY_TAGS
    assert all(t.digest == world.many.digest and t.error is None for t in tags)
    assert {t.tag: t.pushed for t in tags}["v249"] == datetime(2024, 3, 1, 0, 4, 9, tzinfo=UTC)
    calls = components_calls(nexus)
    assert len(calls) == 3  # 250 tags: pages of 100, 100 and 50
    tokens = [c.query.get("continuationToken", [None])[0] for c in calls]
    assert tokens[0] is None and None not in tokens[1:] and len(set(tokens)) == 3
    assert proxy.requests == []  # nothing to ask the registry: every digest came from the API


async def test_a_full_last_page_costs_one_empty_page(nexus: NexusAPI, world: World) -> None:
    nexus.add_repository("docker-hundred")
    for n in range(100):
        nexus.add_component("docker-hundred", "hundred/app", f"v{n}", world.many, "2024-03-01T00:00:00Z")
    async with make(world.registry.url, nexus, repository="docker-hundred") as adapter:
        tags = await adapter.list_tags("hundred/app")
    assert len(tags) == 100
    assert len(components_calls(nexus)) == 2


async def test_build_time_option_reads_manifest_and_config(nexus: NexusAPI, proxy: FaultProxy, world: World) -> None:
    async with make(proxy.url, nexus, build_time=True) as adapter:
        [listing] = await adapter.browse(["team/app"])
    app = {info.tag: info for info in listing.tags or []}
    assert (app["1.0"].created, app["1.0"].created_source) == (datetime(2024, 6, 30, 12, 0, tzinfo=UTC), "build")
    assert app["1.0"].pushed == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    assert app["1.0"].platforms == ("linux/amd64",)
    assert f"/v2/team/app/manifests/{world.app.digest}" in manifest_gets(proxy)


async def test_path_routing_prefixes_images_and_marks_groups_and_proxies(
    nexus: NexusAPI, proxy: FaultProxy, world: World
) -> None:
    async with make(proxy.url, nexus, connector="path", repository=[]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "not scanned: docker-group (group), docker-proxy (proxy)" in result.message

    async with make(proxy.url, nexus, connector="path", repository=[PATHS, "docker-group", "docker-proxy"]) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}
    assert set(listings) == {f"{PATHS}/tools/cli", "docker-group", "docker-proxy"}
    [cli] = listings[f"{PATHS}/tools/cli"].tags or []
    assert (cli.tag, cli.digest, cli.error) == ("3.1", world.tool.digest, None)
    assert listings["docker-group"].tags == [] and "group repository: not scanned" in listings["docker-group"].notes[0]
    assert "proxy repository: not scanned" in listings["docker-proxy"].notes[0]


async def test_path_routing_test_reads_through_the_prefixed_name(nexus: NexusAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, nexus, connector="path", repository=PATHS) as adapter:
        result = await adapter.test()
        with pytest.raises(RegistryError) as raised:
            await adapter.list_tags("tools")
    assert result.status is ConnectionStatus.CONNECTED, result
    assert f"read {PATHS}/tools/cli:3.1 from the registry" in result.message
    assert any(r.method == "HEAD" and r.path.startswith(f"/v2/{PATHS}/tools/cli/manifests/") for r in proxy.requests)
    assert raised.value.reason == "image_not_found"


async def test_reader_is_connected_and_its_write_rights_are_unknown(nexus: NexusAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, nexus) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.message == (
        f"Nexus repository {HOSTED}: 3 tag(s) on the first page; read team/app:1.0 from the registry (HEAD)"
    )
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.UNKNOWN, rights
    assert "GET /service/rest/v1/security/users → 403" in rights.detail
    assert f"GET /service/rest/v1/repositories/docker/hosted/{HOSTED} → 404" in rights.detail
    assert f"listed the components of {HOSTED} (browse); read team/app:1.0 through the registry (read)" in rights.detail
    assert f"nx-repository-view-docker-{HOSTED}-add, -edit or -delete" in rights.detail
    assert f"nx-repository-view-docker-{HOSTED}-browse and -read" in rights.recommendation
    assert [r.path for r in nexus.requests] == [
        "/service/rest/v1/repositories",
        "/service/rest/v1/components",
        "/service/rest/v1/security/users",
        "/service/rest/v1/security/roles",
        f"/service/rest/v1/repositories/docker/hosted/{HOSTED}",
    ]


async def test_auditor_with_readable_security_is_read_only(nexus: NexusAPI, world: World) -> None:
    async with make(world.registry.url, nexus, user="auditor") as adapter:
        result = await adapter.test()
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.READ_ONLY, rights
    assert "roles of auditor (docker-reader, security-reader) grant no add, edit or delete" in rights.detail
    assert "nx-users-read, nx-roles-read, nx-privileges-read" in rights.detail


@pytest.mark.parametrize("action", ["add", "edit", "delete"])
async def test_each_content_write_privilege_is_can_write(nexus: NexusAPI, world: World, action: str) -> None:
    user = {"add": "adder", "edit": "editor", "delete": "deleter"}[action]
    async with make(world.registry.url, nexus, user=user) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.CAN_WRITE, rights
    privilege = f"nx-repository-view-docker-{HOSTED}-{action}"
    assert rights.detail.endswith(f"grant {privilege} (role docker-{action})")
    assert f"remove {privilege};" in rights.recommendation


async def test_admin_is_can_write_through_nx_all(nexus: NexusAPI, world: World) -> None:
    async with make(world.registry.url, nexus, user="admin") as adapter:
        result = await adapter.test()
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.CAN_WRITE, rights
    assert rights.detail == "the roles of admin (nx-admin) grant nx-all (role nx-admin)"


async def test_repository_administration_alone_is_admin_level(nexus: NexusAPI, world: World) -> None:
    async with make(world.registry.url, nexus, user="repoadmin") as adapter:
        result = await adapter.test()
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.CAN_WRITE, rights
    assert rights.detail == (
        f"the account holds administrative privileges: GET /service/rest/v1/repositories/docker/hosted/{HOSTED} "
        f"answered 200 (repository administration of {HOSTED})"
    )


async def test_custom_privileges_without_privilege_read_are_unknown(nexus: NexusAPI, world: World) -> None:
    async with make(world.registry.url, nexus, user="custom") as adapter:
        result = await adapter.test()
    rights = result.rights
    assert rights is not None and rights.verdict is Rights.UNKNOWN, rights
    assert "custom privileges whose actions cannot be read: team-push (role team-pushers)" in rights.detail
    assert "nx-privileges-read" in rights.recommendation


async def test_anonymous_access_is_connected_with_unknown_rights(nexus: NexusAPI, world: World) -> None:
    async with make(world.registry.url, nexus, user=None) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN
    assert result.rights.detail.startswith("anonymous access is not an administrator")
    assert all(r.authorization is None for r in nexus.requests)


@pytest.mark.parametrize(
    ("user", "secret", "reason", "text"),
    [
        (
            "reader",
            "not-the-password",
            "bad_credentials",
            "the token service rejected the credentials of user 'reader'",
        ),
        ("stranger", None, "bad_credentials", "Nexus rejected the credentials of 'stranger'"),
        ("outsider", None, "insufficient_rights", f"the account may not browse the components of {HOSTED}"),
    ],
)
async def test_authorization_failures(
    nexus: NexusAPI, world: World, user: str, secret: str | None, reason: str, text: str
) -> None:
    async with make(world.registry.url, nexus, user=user, secret=secret) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, reason), result
    assert text in result.message
    assert "not-the-password" not in f"{result.message} {result.hint} {result!r}"
    if reason == "insufficient_rights":
        assert f"nx-repository-view-docker-{HOSTED}-browse" in result.hint


async def test_inactive_bearer_token_realm(nexus: NexusAPI, world: World, proxy: FaultProxy) -> None:
    """Nexus without the realm: the same challenge, a token is issued, and every request carrying it gets 401."""
    assert world.registry.token_issuer is not None
    challenge = f'Bearer realm="{world.registry.token_issuer.url}",service="{TOKEN_SERVICE}"'
    proxy.add_fault(r"^/v2/$", Status(401, {"WWW-Authenticate": challenge}), times=None, method="GET")
    async with make(proxy.url, nexus) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bearer_realm_inactive")
    assert "Docker Bearer Token Realm" in result.hint
    assert nexus.requests == []


async def test_anonymous_against_a_basic_challenge(nexus: NexusAPI, proxy: FaultProxy) -> None:
    basic = 'Basic realm="Sonatype Nexus Repository Manager"'
    proxy.add_fault(r"^/v2/$", Status(401, {"WWW-Authenticate": basic}), times=None, method="GET")
    async with make(proxy.url, nexus, user=None) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "anonymous_pull_disabled")
    assert "Allow anonymous docker pull" in result.hint


@pytest.mark.parametrize(
    ("user", "repository", "reason", "text"),
    [
        ("reader", "nope", "repository_not_found", "Nexus has no repository named nope"),
        ("outsider", "maven-releases", "not_docker_hosted", "maven-releases is a maven2 repository, not a Docker"),
        ("reader", "docker-group", "not_docker_hosted", "docker-group is a Docker group repository"),
        ("reader", "docker-proxy", "not_docker_hosted", "docker-proxy is a Docker proxy repository"),
        ("reader", GHOST, "connector_mismatch", f"Nexus lists ghost/app:1 in {GHOST}, but the registry URL does not"),
    ],
)
async def test_repository_problems_are_not_found(
    nexus: NexusAPI, world: World, user: str, repository: str, reason: str, text: str
) -> None:
    async with make(world.registry.url, nexus, user=user, repository=repository) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.NOT_FOUND, reason), result
    assert text in result.message


async def test_urls_that_are_no_registry_root(nexus: NexusAPI, world: World) -> None:
    async with make(nexus.url, nexus) as adapter:
        main_port = await adapter.test()
    async with make(f"{world.registry.url}/repository/{HOSTED}", nexus) as adapter:
        repository_path = await adapter.test()
    async with make(world.registry.url, world.registry.url) as adapter:
        wrong_api = await adapter.test()
    assert (main_port.status, main_port.reason) == (ConnectionStatus.NOT_FOUND, "not_a_registry")
    assert "with an HTML page" in main_port.message and "connector" in main_port.hint
    assert (repository_path.status, repository_path.reason) == (ConnectionStatus.NOT_FOUND, "repository_path_url")
    assert (wrong_api.status, wrong_api.reason) == (ConnectionStatus.NOT_FOUND, "api_not_found")
    assert "api_url" in wrong_api.hint


async def test_tls_rate_limit_and_unreachable_api(nexus: NexusAPI, world: World) -> None:
    tls_url = nexus.url.replace("http://", "https://")
    async with make(world.registry.url, tls_url) as adapter:
        tls = await adapter.test()
    nexus.fail(r"/v1/repositories$", 429, times=FAST.attempts, headers={"Retry-After": "0"})
    async with make(world.registry.url, nexus) as adapter:
        limited = await adapter.test()
    async with make(world.registry.url, f"http://127.0.0.1:{free_port()}") as adapter:
        unreachable = await adapter.test()
    assert (tls.status, tls.reason) == (ConnectionStatus.SSL_HANDSHAKE_ERROR, "plain_http")
    assert (limited.status, limited.reason) == (ConnectionStatus.RATE_LIMITED, "rate_limited")
    assert [r.status for r in nexus.requests] == [429] * FAST.attempts
    assert (unreachable.status, unreachable.reason) == (ConnectionStatus.UNKNOWN, "unreachable")


def test_cli_add_test_and_repos(nexus: NexusAPI, world: World, tmp_path: Path) -> None:
    cli = CliEnv(tmp_path / "home")
    added = cli.run(
        "registry", "add", "--name", "nx", "--type", "nexus", "--url", world.registry.url,
        "--username", "reader", "--password-stdin", "-o", f"api_url={nexus.url}", "-o", f"repository={HOSTED}",
        "--json",
        stdin=password("reader") + "\n",
    )  # fmt: skip
    test = json.loads(added.stdout)["test"]
    assert (test["status"], test["reason"]) == ("Connected", "ok")
    tested = json.loads(cli.run("registry", "test", "nx", "--json").stdout)
    assert tested["status"] == "Connected" and tested["rights"]["verdict"] == "unknown"
    listing = json.loads(cli.run("registry", "repos", "nx", "--tags", "--json").stdout)
    tags = {(r["name"], t["tag"]): t for r in listing for t in r["tags"]}
    assert set(tags) == {("team/app", "1.0"), ("team/app", "2.0"), ("team/web", "latest")}
    assert tags[("team/app", "1.0")]["digest"] == world.app.digest
    assert tags[("team/app", "1.0")]["created"].startswith("2024-07-01T08:00:00")
    assert tags[("team/app", "1.0")]["created_source"] == "push"
    assert tags[("team/app", "2.0")]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert password("reader") not in "".join(cli.transcript)
