"""artifactory: the Artifactory REST API (a local stand-in) for listing and rights, the real registry for /v2/.

The real registry holds every image as ``<repoKey>/<image>``: the repository path method reaches it directly (through
a recording proxy), the port and subdomain methods through DockerFront, which maps ``/v2/<image>`` of a repository
onto it as Artifactory's reverse-proxy configurations do.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from regscout.registries.artifactory import ArtifactoryRegistry, manifest_items, token_user
from regscout.registries.auth import Credentials, TlsSettings, jwt_claims
from regscout.registries.base import RegistryConfig, Rights, TagRef
from regscout.registries.errors import ConnectionStatus
from regscout.registries.manifest import OCI_INDEX
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.faults import FaultProxy
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.httpserver import free_port
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.artifactory_api import ArtifactoryAPI, ArtUser, DockerFront, access_token

from .cli_support import CliEnv
from .conftest import FAST

pytestmark = pytest.mark.anyio

API_KEY = "AKCp8harnessapikeyvalue0123456789"
UPSTREAM = "https://registry-1.docker.io/"
CREATED = "2024-05-06T07:08:09.123Z"
MODIFIED = "2024-05-07T08:00:00.000Z"
PUSHED = datetime(2024, 5, 7, 8, 0, tzinfo=UTC)
BULK_TAGS = 250
USERS = {
    "reader": ArtUser("reader-pw"),
    "deployer": ArtUser("deployer-pw", permissions={"*": "rnwd"}),
    "manager": ArtUser("manager-pw", permissions={"*": "r", "docker-local": "rnwdm"}),
    "admin": ArtUser("admin-pw", admin=True),
    "nobody": ArtUser("nobody-pw", permissions={}),
    "noaql": ArtUser("noaql-pw", aql=False),
    "keyuser": ArtUser("keyuser-pw", api_key=API_KEY),
    "svc": ArtUser("svc-pw"),
}


@dataclass(frozen=True)
class Pushed:
    single: Image
    multi: Index
    web: Image
    tool: Image
    alpine: Image
    bulk: Image


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    accounts = {name: Account(user.password) for name, user in USERS.items()}
    accounts["keyuser"] = Account(API_KEY)
    accounts["pusher"] = Account("pusher-pw", frozenset({"*"}))
    running = start_registry("token", tmp_path_factory.mktemp("artifactory-registry"), accounts=accounts)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def pushed(registry: RunningRegistry) -> Pushed:
    arm = build_image([base_layer()], architecture="arm64", created="2024-03-02T00:00:00Z", labels={"seed": "art-arm"})
    images = Pushed(
        small_image("art-app-1", created="2024-01-02T03:04:05Z"),
        build_index([small_image("art-app-2", created="2024-03-01T00:00:00Z"), arm]),
        small_image("art-web"),
        small_image("art-tool"),
        small_image("art-alpine"),
        small_image("art-bulk"),
    )
    content: list[tuple[str, str, Image | Index]] = []
    for key in ("docker-local", "docker-virtual"):
        content += [(f"{key}/app", "1.0", images.single), (f"{key}/app", "2.0", images.multi)]
        content += [(f"{key}/team/web", "latest", images.web)]
    content += [("docker-dev/tool", "0.1", images.tool), ("docker-remote/library/alpine", "3.20", images.alpine)]
    content += [("docker-virtual/library/alpine", "3.20", images.alpine)]
    content += [("docker-bulk/many", f"v{n:03d}", images.bulk) for n in range(BULK_TAGS)]
    with Pusher(registry, auth=("pusher", "pusher-pw")) as pusher:
        pusher.push_many(content)
    return images


@pytest.fixture
def art(pushed: Pushed) -> Iterator[ArtifactoryAPI]:
    with ArtifactoryAPI(USERS) as api:
        api.add_repository("docker-local")
        api.add_repository("docker-dev", prefixed_names=True)
        api.add_repository("docker-remote", "remote", url=UPSTREAM)
        api.add_repository("docker-virtual", "virtual", members=("docker-local", "docker-remote"))
        api.add_tag("docker-local", "app", "1.0", pushed.single, CREATED, MODIFIED)
        api.add_tag("docker-local", "app", "2.0", pushed.multi, "2024-06-01T10:00:00.000Z")
        api.add_tag("docker-local", "team/web", "latest", pushed.web, "2024-04-01T00:00:00.000+02:00")
        api.add_tag("docker-dev", "tool", "0.1", pushed.tool, CREATED)
        api.add_tag("docker-remote", "library/alpine", "3.20", pushed.alpine, "2024-07-01T00:00:00.000Z")
        yield api


@pytest.fixture
def bulk(art: ArtifactoryAPI, pushed: Pushed) -> ArtifactoryAPI:
    art.add_repository("docker-bulk")
    for n in range(BULK_TAGS):
        art.add_tag("docker-bulk", "many", f"v{n:03d}", pushed.bulk, f"2024-02-01T00:{n // 60:02d}:{n % 60:02d}.000Z")
    return art


@pytest.fixture
def proxy(registry: RunningRegistry, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    """The registry behind a recording proxy, to count what reaches /v2/."""
    return fault_proxy_factory(registry)


@pytest.fixture
def fronts(registry: RunningRegistry) -> Iterator[Callable[..., DockerFront]]:
    made: list[DockerFront] = []

    def make(**kwargs: str) -> DockerFront:
        front = DockerFront(registry, **kwargs)
        made.append(front)
        return front

    yield make
    for front in made:
        front.close()


def make(
    url: str, art: ArtifactoryAPI, user: str | None = "reader", password: str | None = None, **options: Any
) -> ArtifactoryRegistry:
    credentials = None
    if user is not None or password is not None:
        secret = password if password is not None else USERS[user or ""].password
        credentials = Credentials(user or "", Secret(secret))
    options.setdefault("api_url", art.url)
    return ArtifactoryRegistry(RegistryConfig("artifactory", url, credentials, TlsSettings(), options), FAST)


def manifest_gets(proxy: FaultProxy) -> list[str]:
    return [r.target_path for r in proxy.requests if r.method == "GET" and "/manifests/" in r.path]


def test_registered_in_the_type_table() -> None:
    assert adapter_class("artifactory") is ArtifactoryRegistry
    assert "Read" in ArtifactoryRegistry.least_rights and "Deploy/Cache" in ArtifactoryRegistry.least_rights


# ---- options and routing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, None),
        ({"access_method": "subdomain", "subdomain_host": "{repo}.art.example.com"}, None),
        ({"access_method": "port", "ports": {"docker-local": 5001, "docker-dev": "5002"}}, None),
        ({"access_method": "port", "port_repository": "docker-local"}, None),
        ({"scan_remote": "docker-remote, docker-virtual"}, None),
        ({"access_method": "ftp"}, "access_method"),
        ({"ports": {"docker-local": 5001}}, "only used with access_method=port"),
        ({"access_method": "port"}, "needs ports"),
        ({"access_method": "port", "ports": {"docker-local": 70000}}, "between 1 and 65535"),
        ({"access_method": "port", "ports": {"a": 5001, "b": 5001}}, "its own port"),
        ({"access_method": "subdomain", "subdomain_host": "art.example.com"}, "must hold {repo} once"),
        ({"access_method": "subdomain", "subdomain_host": "https://{repo}.x/y"}, "not a host name pattern"),
        ({"subdomain_host": "{repo}.art.example.com"}, "only used with access_method=subdomain"),
        ({"api_url": "artifactory.example.com"}, "not an http(s) URL"),
        ({"api_auth": "cookie"}, "api_auth"),
        ({"scan_remote": ["bad key!"]}, "not an Artifactory repository key"),
        ({"repositories": ["app"]}, "must be <repoKey>/<image>"),
    ],
)
def test_options_are_validated_with_clear_messages(options: dict[str, Any], problem: str | None) -> None:
    if problem is None:
        ArtifactoryRegistry.validate_options(options)
        return
    with pytest.raises(ValidationError) as raised:
        ArtifactoryRegistry.validate_options(options)
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("url", "options", "repository", "location"),
    [
        ("https://art.example.com", {}, "docker-local/team/web", ("https://art.example.com", "docker-local/team/web")),
        (
            "https://art.example.com",
            {"access_method": "subdomain"},
            "docker-local/team/web",
            ("https://docker-local.art.example.com", "team/web"),
        ),
        (
            "https://myco.jfrog.io",
            {"access_method": "subdomain", "subdomain_host": "myco-{repo}.jfrog.io"},
            "Docker-Local/app",
            ("https://myco-docker-local.jfrog.io", "app"),
        ),
        (
            "https://art.example.com:8443",
            {"access_method": "subdomain"},
            "docker-local/app",
            ("https://docker-local.art.example.com:8443", "app"),
        ),
        (
            "https://art.example.com",
            {"access_method": "port", "ports": {"docker-local": 5001}},
            "docker-local/app",
            ("https://art.example.com:5001", "app"),
        ),
        (
            "http://art.example.com:5002",
            {"access_method": "port", "port_repository": "docker-dev"},
            "docker-dev/tool",
            ("http://art.example.com:5002", "tool"),
        ),
    ],
)
def test_each_access_method_maps_a_repository_to_its_v2_base_and_path(
    url: str, options: dict[str, Any], repository: str, location: tuple[str, str]
) -> None:
    config = RegistryConfig("artifactory", url, None, TlsSettings(), options)
    adapter = ArtifactoryRegistry(config, FAST)
    assert adapter.image_location(repository) == location
    assert adapter.api_url == f"{url}/artifactory" if ":500" not in url else adapter.api_url.endswith("/artifactory")


def test_manifest_items_skip_index_children_and_take_the_later_time() -> None:
    hexes = ["a" * 64, "b" * 64, "c" * 64]
    rows = [
        {"path": "team/app/1.0", "name": "manifest.json", "sha256": hexes[0], "created": CREATED, "modified": MODIFIED},
        {"path": "team/app/2.0", "name": "list.manifest.json", "sha256": hexes[1], "created": CREATED},
        {"path": "team/app/sha256__" + hexes[2], "name": "manifest.json", "sha256": hexes[2], "created": CREATED},
        {"path": "loose", "name": "manifest.json", "sha256": hexes[2]},
        {"path": "team/app/3.0", "name": "manifest.json", "sha256": "not-a-digest"},
    ]
    items = manifest_items(rows)
    assert set(items) == {("team/app", "1.0"), ("team/app", "2.0")}
    assert items[("team/app", "1.0")].pushed == PUSHED and not items[("team/app", "1.0")].index
    assert items[("team/app", "2.0")].digest == "sha256:" + hexes[1] and items[("team/app", "2.0")].index
    assert token_user(jwt_claims(access_token("svc"))) == "svc"


# ---- listing ----------------------------------------------------------------------------------


async def test_browse_lists_local_repositories_and_marks_remote_and_virtual_ones(
    art: ArtifactoryAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, art) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert set(listings) == {
        "docker-local/app",
        "docker-local/team/web",
        "docker-dev/tool",
        "docker-remote",
        "docker-virtual",
    }
    app = {info.tag: info for info in listings["docker-local/app"].tags or []}
    assert (app["1.0"].digest, app["1.0"].pushed, app["1.0"].created, app["1.0"].created_source) == (
        pushed.single.digest,
        PUSHED,
        PUSHED,
        "push",
    )
    assert app["2.0"].digest == pushed.multi.digest and app["2.0"].media_type == OCI_INDEX
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    assert app["2.0"].created == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    [web] = listings["docker-local/team/web"].tags or []
    assert (web.digest, web.created) == (pushed.web.digest, datetime(2024, 3, 31, 22, 0, tzinfo=UTC))
    [tool] = listings["docker-dev/tool"].tags or []  # the catalog answered "docker-dev/tool"
    assert tool.digest == pushed.tool.digest
    assert all(info.error is None for listing in listings.values() for info in listing.tags or [])

    remote, virtual = listings["docker-remote"], listings["docker-virtual"]
    assert remote.tags == [] and virtual.tags == []
    assert "not scanned" in remote.notes[0] and f"proxies {UPSTREAM}" in remote.notes[0]
    assert "fetch it from upstream" in remote.notes[0]
    assert "not scanned" in virtual.notes[0] and "scan_remote=docker-virtual" in virtual.notes[0]

    # Only the index is read from /v2/ (for its platforms); the images' digests and times came from AQL.
    assert manifest_gets(proxy) == [f"/v2/docker-local/app/manifests/{pushed.multi.digest}"]
    aql = art.calls("/api/search/aql", "POST")
    assert sorted(json.loads(r.body.split("items.find(", 1)[1].split(").include", 1)[0])["repo"] for r in aql) == [
        "docker-dev",
        "docker-local",
    ]
    assert [r.query for r in art.calls("/api/repositories$")] == [{"packageType": ["docker"]}]
    assert {r.auth for r in art.requests} == {"basic:reader"}


async def test_describe_without_listing_reads_aql_not_the_manifest(
    art: ArtifactoryAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, art) as adapter:
        info = await adapter.describe("docker-local/app", TagRef("1.0"))
    assert (info.digest, info.pushed, info.created_source) == (pushed.single.digest, PUSHED, "push")
    assert manifest_gets(proxy) == []


async def test_paging_costs_one_api_request_per_hundred_tags_and_one_aql_query(
    bulk: ArtifactoryAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, bulk, repository_keys="docker-bulk") as adapter:
        [listing] = await adapter.browse()
    tags = listing.tags or []
    assert listing.name == "docker-bulk/many" and len(tags) == BULK_TAGS
    assert {t.digest for t in tags} == {pushed.bulk.digest} and all(t.created_source == "push" for t in tags)
    assert tags[BULK_TAGS - 1].pushed == datetime(2024, 2, 1, 0, 4, 9, tzinfo=UTC)

    pages = bulk.calls("/v2/many/tags/list")
    assert [(p.query["n"], p.query.get("last")) for p in pages] == [
        (["100"], None),
        (["100"], ["v099"]),
        (["100"], ["v199"]),
    ]
    assert len(pages) <= -(-BULK_TAGS // 100)
    assert len(bulk.calls("/api/search/aql", "POST")) == 1
    assert manifest_gets(proxy) == []  # the bench target: nothing more from /v2/ for single-platform tags


async def test_catalog_pages_with_n_and_last(art: ArtifactoryAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, art, repository_keys=["docker-local"]) as adapter:
        names = [name async for name in adapter.list_repositories(page_size=1)]
    assert names == ["docker-local/app", "docker-local/team/web"]
    pages = art.calls("/api/docker/docker-local/v2/_catalog")
    assert [p.query.get("last") for p in pages] == [None, ["app"], ["team/web"]]


async def test_trimmed_aql_results_are_paged_by_offset(bulk: ArtifactoryAPI, proxy: FaultProxy) -> None:
    bulk.aql_user_limit = 100
    async with make(proxy.url, bulk) as adapter:
        refs = await adapter.list_tags("docker-bulk/many")
    assert len(refs) == BULK_TAGS and all(ref.digest for ref in refs)
    offsets = [r.body.rsplit(".offset(", 1)[1].split(")", 1)[0] for r in bulk.calls("/api/search/aql", "POST")]
    assert offsets == ["0", "100", "200"]


async def test_refused_aql_falls_back_to_the_image_config_and_says_so(
    art: ArtifactoryAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, art, user="noaql") as adapter:
        [listing] = await adapter.browse(["docker-local/app"])
    app = {info.tag: info for info in listing.tags or []}
    assert (app["1.0"].digest, app["1.0"].created, app["1.0"].created_source) == (
        pushed.single.digest,
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "build",
    )
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64") and app["2.0"].created_source == "build"
    assert any("refused the AQL query (HTTP 403" in note for note in listing.notes)
    assert len(manifest_gets(proxy)) == 3  # 1.0, the 2.0 index and its linux/amd64 manifest


async def test_scan_remote_lists_the_cache_and_the_virtual_repository_when_asked(
    art: ArtifactoryAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, art, scan_remote=["docker-remote", "docker-virtual"]) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}
    assert "docker-remote" not in listings and "docker-virtual" not in listings
    [alpine] = listings["docker-remote/library/alpine"].tags or []
    assert (alpine.digest, alpine.created) == (pushed.alpine.digest, datetime(2024, 7, 1, tzinfo=UTC))
    assert any("only its cache is listed" in n for n in listings["docker-remote/library/alpine"].notes)
    virtual = {info.tag: info for info in listings["docker-virtual/app"].tags or []}
    assert (virtual["1.0"].digest, virtual["1.0"].created_source) == (pushed.single.digest, "build")
    assert any("virtual repository" in n for n in listings["docker-virtual/app"].notes)
    aql_repos = {
        json.loads(r.body.split("items.find(", 1)[1].split(").include", 1)[0])["repo"]
        for r in art.calls("/api/search/aql", "POST")
    }
    assert aql_repos == {"docker-local", "docker-dev", "docker-remote-cache"}


# ---- access methods -----------------------------------------------------------------------------


async def test_port_method_reaches_each_repository_at_its_port(
    art: ArtifactoryAPI, fronts: Callable[..., DockerFront], pushed: Pushed
) -> None:
    local = fronts(key="docker-local")
    options = {"access_method": "port", "ports": {"docker-local": local.port}}
    async with make(f"http://127.0.0.1:{free_port()}", art, **options) as adapter:
        result = await adapter.test()
        listings = {listing.name: listing for listing in await adapter.browse()}
    assert result.status is ConnectionStatus.CONNECTED, result
    assert f"port method, http://127.0.0.1:{local.port}" in result.message
    assert {"docker-local/app", "docker-local/team/web"} <= set(listings)
    assert listings["docker-dev"].tags == [] and "without a port" in listings["docker-dev"].notes[0]
    app = {info.tag: info for info in listings["docker-local/app"].tags or []}
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64")
    assert local.manifest_gets() == [f"/v2/docker-local/app/manifests/{pushed.multi.digest}"]
    tokens = [r.upstream for r in local.requests if r.path == "/v2/token"]
    assert tokens and all("repository%3Adocker-local%2F" in t for t in tokens)


async def test_one_port_per_integration_serves_the_named_repository(
    art: ArtifactoryAPI, fronts: Callable[..., DockerFront], pushed: Pushed
) -> None:
    dev = fronts(key="docker-dev")
    async with make(dev.url, art, access_method="port", port_repository="docker-dev") as adapter:
        result = await adapter.test()
        listings = {listing.name: listing for listing in await adapter.browse(["docker-dev/tool"])}
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "read docker-dev/tool" in result.message and "first tag 0.1" in result.message
    assert [info.digest for info in listings["docker-dev/tool"].tags or []] == [pushed.tool.digest]


async def test_subdomain_method_reaches_each_repository_on_its_host(
    art: ArtifactoryAPI, fronts: Callable[..., DockerFront], pushed: Pushed, monkeypatch: pytest.MonkeyPatch
) -> None:
    front = fronts(suffix="art.test")
    resolve = socket.getaddrinfo

    def wildcard_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".art.test"):
            host = "127.0.0.1"
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", wildcard_dns)
    async with make(f"http://art.test:{front.port}", art, access_method="subdomain") as adapter:
        result = await adapter.test()
        listings = {listing.name: listing for listing in await adapter.browse()}
    assert result.status is ConnectionStatus.CONNECTED, result
    assert (
        f"read docker-dev/tool through the Docker API (subdomain method, http://docker-dev.art.test:{front.port})"
        in (result.message)
    )
    [tool] = listings["docker-dev/tool"].tags or []
    assert tool.digest == pushed.tool.digest
    assert {r.host.split(":")[0] for r in front.requests} == {"docker-dev.art.test", "docker-local.art.test"}
    assert front.manifest_gets() == [f"/v2/docker-local/app/manifests/{pushed.multi.digest}"]


# ---- connection statuses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    art: ArtifactoryAPI
    proxy: FaultProxy
    fronts: Callable[..., DockerFront]


def _bad_password(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, password="not-the-password")


def _unknown_token(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, user=None, password=access_token("ghost"))


def _no_user_name(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, user=None, password="reader-pw")


def _no_repositories(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, user="nobody")


def _unknown_key(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, repository_keys=["docker-nope"])


def _wrong_api_url(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, api_url=env.art.root)


def _not_a_docker_host(env: Env) -> ArtifactoryRegistry:
    return make(env.art.root, env.art)


def _port_without_docker(env: Env) -> ArtifactoryRegistry:
    port = int(env.art.root.rsplit(":", 1)[1])
    return make("http://127.0.0.1", env.art, access_method="port", ports={"docker-local": port})


def _tls_to_plain_http(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, api_url=env.art.url.replace("http://", "https://"))


def _throttled(env: Env) -> ArtifactoryRegistry:
    env.art.fail("/api/repositories$", 429, times=10, headers={"Retry-After": "0"})
    return make(env.proxy.url, env.art)


def _server_error(env: Env) -> ArtifactoryRegistry:
    env.art.fail("/api/system/version$", 500, times=10)
    return make(env.proxy.url, env.art)


def _unreachable(env: Env) -> ArtifactoryRegistry:
    return make(env.proxy.url, env.art, api_url=f"http://127.0.0.1:{free_port()}/artifactory")


STATUS_CASES = [
    pytest.param(
        _bad_password,
        ConnectionStatus.AUTHORIZATION_FAILED,
        "bad_credentials",
        "rejected user 'reader'",
        id="bad-password",
    ),
    pytest.param(
        _unknown_token, ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials", "access token", id="unknown-token"
    ),
    pytest.param(
        _no_user_name, ConnectionStatus.AUTHORIZATION_FAILED, "username_required", "--username", id="no-user-name"
    ),
    pytest.param(
        _no_repositories,
        ConnectionStatus.AUTHORIZATION_FAILED,
        "no_readable_repositories",
        "grant Read",
        id="no-readable-repositories",
    ),
    pytest.param(_unknown_key, ConnectionStatus.NOT_FOUND, "repository_not_found", "docker-nope", id="unknown-key"),
    pytest.param(_wrong_api_url, ConnectionStatus.NOT_FOUND, "api_not_found", "api_url", id="wrong-api-url"),
    pytest.param(
        _not_a_docker_host,
        ConnectionStatus.NOT_FOUND,
        "access_method",
        "repository path method",
        id="not-a-docker-host",
    ),
    pytest.param(
        _port_without_docker, ConnectionStatus.NOT_FOUND, "access_method", "ports option", id="port-without-docker"
    ),
    pytest.param(_tls_to_plain_http, ConnectionStatus.SSL_HANDSHAKE_ERROR, "plain_http", "plain HTTP", id="tls"),
    pytest.param(_throttled, ConnectionStatus.RATE_LIMITED, "rate_limited", "rate limited", id="rate-limited"),
    pytest.param(_server_error, ConnectionStatus.UNKNOWN, "server_error", "HTTP 500", id="server-error"),
    pytest.param(_unreachable, ConnectionStatus.UNKNOWN, "unreachable", "cannot connect", id="unreachable"),
]


@pytest.mark.parametrize(("setup", "status", "reason", "text"), STATUS_CASES)
async def test_connection_statuses_carry_artifactory_reasons(
    art: ArtifactoryAPI,
    proxy: FaultProxy,
    fronts: Callable[..., DockerFront],
    setup: Callable[[Env], ArtifactoryRegistry],
    status: ConnectionStatus,
    reason: str,
    text: str,
) -> None:
    async with setup(Env(art, proxy, fronts)) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (status, reason), result
    assert text in f"{result.message} {result.hint}"
    for secret in ("not-the-password", "reader-pw"):
        assert secret not in f"{result.message} {result.hint} {result!r}"


async def test_reader_is_connected(art: ArtifactoryAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, art) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "Artifactory 7.77.5: Docker repositories 2 local, 1 remote, 1 virtual" in result.message
    assert "read docker-dev/tool through the Docker API (repository path method" in result.message


# ---- rights ---------------------------------------------------------------------------------------


def _user(name: str) -> Callable[[ArtifactoryAPI, RunningRegistry], tuple[str | None, str, dict[str, Any]]]:
    return lambda art, registry: (name, USERS[name].password, {})


def _token(scope: str) -> Callable[[ArtifactoryAPI, RunningRegistry], tuple[str | None, str, dict[str, Any]]]:
    def issue(art: ArtifactoryAPI, registry: RunningRegistry) -> tuple[str | None, str, dict[str, Any]]:
        token = art.issue_token("svc", scope)
        registry.accounts["svc"] = Account(token)  # docker login with the token as the password
        return None, token, {}

    return issue


def _api_key(art: ArtifactoryAPI, registry: RunningRegistry) -> tuple[str | None, str, dict[str, Any]]:
    return "keyuser", API_KEY, {"api_auth": "api_key"}


RIGHTS_CASES = [
    pytest.param(
        _user("reader"),
        Rights.UNKNOWN,
        ["is not an administrator", "no Manage on docker-dev, docker-local", "cannot be read without writing"],
        "user reader and its groups should hold Read only",
        id="read-only-reader",
    ),
    pytest.param(
        _user("deployer"),
        Rights.UNKNOWN,
        ["Deploy/Cache or Delete/Overwrite cannot be read"],
        "permission targets that include docker-dev, docker-local",
        id="deployer-unseen",
    ),
    pytest.param(
        _user("manager"),
        Rights.CAN_WRITE,
        ["has Manage on docker-local", "manager: Read, Annotate, Deploy/Cache, Delete/Overwrite, Manage"],
        "Remove Manage",
        id="manage",
    ),
    pytest.param(
        _user("admin"),
        Rights.CAN_WRITE,
        ["is an Artifactory administrator", "answered 200"],
        "non-admin user",
        id="admin-user",
    ),
    pytest.param(
        _token("applied-permissions/admin"),
        Rights.CAN_WRITE,
        ["applied-permissions/admin"],
        "applied-permissions/user",
        id="admin-token",
    ),
    pytest.param(
        _token("applied-permissions/groups:readers"),
        Rights.UNKNOWN,
        ["the access token of 'svc'", "group(s) readers"],
        "group(s) readers should hold Read only",
        id="group-token",
    ),
    pytest.param(_api_key, Rights.UNKNOWN, ["the API key of 'keyuser'"], "Read only", id="api-key"),
]


@pytest.mark.parametrize(("credential", "verdict", "details", "recommendation"), RIGHTS_CASES)
async def test_rights_come_from_the_token_scope_admin_probe_and_item_permissions(
    art: ArtifactoryAPI,
    proxy: FaultProxy,
    registry: RunningRegistry,
    credential: Callable[[ArtifactoryAPI, RunningRegistry], tuple[str | None, str, dict[str, Any]]],
    verdict: Rights,
    details: list[str],
    recommendation: str,
) -> None:
    user, secret, options = credential(art, registry)
    async with make(proxy.url, art, user=user, password=secret, **options) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is verdict, result.rights
    for detail in details:
        assert detail in result.rights.detail, result.rights
    assert recommendation in result.rights.recommendation, result.rights


async def test_admin_token_is_judged_by_its_scope_alone(
    art: ArtifactoryAPI, proxy: FaultProxy, registry: RunningRegistry
) -> None:
    _, token, _ = _token("applied-permissions/admin")(art, registry)
    async with make(proxy.url, art, user=None, password=token) as adapter:
        rights = await adapter.rights()
    assert rights.verdict is Rights.CAN_WRITE
    assert art.calls("/api/security/users") == [] and {r.auth for r in art.requests} <= {"bearer"}


async def test_api_key_goes_in_its_header_and_is_called_deprecated(art: ArtifactoryAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, art, user="keyuser", password=API_KEY, api_auth="api_key") as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "API key (X-JFrog-Art-Api), which JFrog has deprecated" in result.message
    assert {r.auth for r in art.requests} == {"api_key"}


async def test_anonymous_rights_are_unknown(pushed: Pushed, proxy: FaultProxy, registry: RunningRegistry) -> None:
    with ArtifactoryAPI(USERS, anonymous="r") as art:
        art.add_repository("docker-local")
        art.add_tag("docker-local", "app", "1.0", pushed.single, CREATED)
        async with make(proxy.url, art, user=None) as adapter:
            repos = await adapter.docker_repositories()
            rights = await adapter.rights()
    assert [repo.key for repo in repos] == ["docker-local"]
    assert rights.verdict is Rights.UNKNOWN and "anonymous user" in rights.detail


# ---- CLI ------------------------------------------------------------------------------------------


def test_cli_add_test_and_browse(tmp_path: Path, art: ArtifactoryAPI, proxy: FaultProxy, pushed: Pushed) -> None:
    cli = CliEnv(tmp_path / "home")
    added = json.loads(
        cli.run(
            "registry",
            "add",
            "--name",
            "art",
            "--type",
            "artifactory",
            "--url",
            proxy.url,
            "--username",
            "reader",
            "--password-stdin",
            "-o",
            f"api_url={art.url}",
            "--json",
            stdin="reader-pw\n",
        ).stdout
    )
    assert added["test"]["status"] == "Connected"
    tested = json.loads(cli.run("registry", "test", "art", "--json").stdout)
    assert tested["status"] == "Connected" and "docker-dev/tool" in tested["message"]
    assert tested["rights"]["verdict"] == "unknown"

    listing = json.loads(cli.run("registry", "repos", "art", "--tags", "--json").stdout)
    by_name = {entry["name"]: entry for entry in listing}
    tags = {tag["tag"]: tag for tag in by_name["docker-local/app"]["tags"]}
    assert tags["1.0"]["digest"] == pushed.single.digest and tags["1.0"]["created_source"] == "push"
    assert tags["1.0"]["created"].startswith("2024-05-07T08:00:00")
    assert tags["2.0"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert "not scanned" in by_name["docker-remote"]["notes"][0]

    table = cli.run("registry", "repos", "art", "--tags").stdout
    assert "docker-dev/tool" in table and pushed.tool.digest[:19] in table
    assert "reader-pw" not in "".join(cli.transcript)
