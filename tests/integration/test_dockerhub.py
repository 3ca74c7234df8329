"""docker-hub: the Hub API (a local stand-in) for listing, the harness token registry for /v2/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights, TagRef
from regscout.registries.dockerhub import DockerHubRegistry
from regscout.registries.errors import ConnectionStatus, RegistryError
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.faults import FaultProxy, Status
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry
from tests.harness.vendors.dockerhub_api import DockerHubAPI, HubAccount

from .conftest import FAST

pytestmark = pytest.mark.anyio

NS = "hubtest"


@dataclass(frozen=True)
class Pushed:
    single: Image
    multi: Index
    web: Image


class Sleeps(list[float]):
    """Stands in for asyncio.sleep: records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def pushed(registry_token: RunningRegistry) -> Pushed:
    arm = build_image([base_layer()], architecture="arm64", variant="v8", labels={"seed": "hub-arm64"})
    images = Pushed(small_image("hub-app-1"), build_index([small_image("hub-app-2"), arm]), small_image("hub-web"))
    with Pusher(registry_token) as pusher:
        pusher.push(f"{NS}/app", "1.0", images.single)
        pusher.push(f"{NS}/app", "2.0", images.multi)
        pusher.push(f"{NS}/web", "latest", images.web)
    return images


@pytest.fixture
def hub(registry_token: RunningRegistry, pushed: Pushed) -> Iterator[DockerHubAPI]:
    accounts = {
        user: HubAccount(registry_token.accounts[user].password, frozenset({NS})) for user in ("reader", "writer")
    }
    accounts[NS] = HubAccount("dckr_oat_org-token", frozenset({NS}))  # an organisation access token
    with DockerHubAPI(accounts) as api:
        api.add_tag(NS, "app", "1.0", pushed.single, "2024-05-06T07:08:09Z")
        api.add_tag(NS, "app", "2.0", pushed.multi, "2024-06-01T10:00:00Z")
        api.add_tag(NS, "web", "latest", pushed.web, "2024-04-01T00:00:00Z")
        api.add_repository(NS, "vault", private=True)
        api.add_tag(NS, "vault", "1", pushed.web, "2024-04-02T00:00:00Z")
        yield api


@pytest.fixture
def proxy(registry_token: RunningRegistry, fault_proxy_factory: FaultProxyFactory) -> FaultProxy:
    """The registry behind a recording proxy, to count what reaches /v2/."""
    return fault_proxy_factory(registry_token)


def make(
    url: str, hub: DockerHubAPI, user: str | None = "reader", password: str | None = None, **options: Any
) -> DockerHubRegistry:
    credentials = None
    if user is not None:
        credentials = Credentials(user, Secret(password or f"{user}-secret-pw"))
    config = RegistryConfig("docker-hub", url, credentials, TlsSettings(), {"hub_url": hub.url, **options})
    return DockerHubRegistry(config, FAST)


def manifest_gets(proxy: FaultProxy) -> list[str]:
    return [r.path for r in proxy.requests if r.method == "GET" and "/manifests/" in r.path]


def test_registered_in_the_type_table() -> None:
    assert adapter_class("docker-hub") is DockerHubRegistry
    assert DockerHubRegistry.default_url == "https://registry-1.docker.io"


async def test_browse_uses_hub_data_and_sends_no_manifest_get(
    hub: DockerHubAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, hub, namespace=NS) as adapter:
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert set(listings) == {f"{NS}/app", f"{NS}/web", f"{NS}/vault"}
    app = {info.tag: info for info in listings[f"{NS}/app"].tags or []}
    assert app["1.0"].digest == pushed.single.digest
    assert app["1.0"].platforms == ("linux/amd64",)
    assert app["2.0"].digest == pushed.multi.digest
    assert app["2.0"].media_type == pushed.multi.media_type
    assert app["2.0"].platforms == ("linux/amd64", "linux/arm64/v8")
    assert app["2.0"].created == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert (app["2.0"].created_source, app["2.0"].pushed) == ("push", app["2.0"].created)
    assert all(info.error is None for info in app.values())
    assert manifest_gets(proxy) == []
    tag_pages = [r for r in hub.requests if r.path.endswith("/tags")]
    assert tag_pages and all(r.query["page_size"] == ["100"] for r in tag_pages)
    assert all(r.authorization and r.authorization.startswith("Bearer ") for r in hub.requests[1:])


async def test_describe_without_listing_reads_the_hub_tag_not_the_manifest(
    hub: DockerHubAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    async with make(proxy.url, hub, namespace=NS) as adapter:
        info = await adapter.describe(f"{NS}/web", TagRef("latest"))
    assert (info.digest, info.platforms, info.created_source) == (pushed.web.digest, ("linux/amd64",), "push")
    assert any(r.path == f"/v2/namespaces/{NS}/repositories/web/tags/latest" for r in hub.requests)
    assert manifest_gets(proxy) == []


async def test_listing_follows_next_pages(hub: DockerHubAPI, registry_token: RunningRegistry, pushed: Pushed) -> None:
    for number in range(103):
        hub.add_tag(NS, "many", f"v{number}", pushed.web, f"2024-03-01T00:{number // 60:02d}:{number % 60:02d}Z")
    async with make(registry_token.url, hub, namespace=NS) as adapter:
        names = [name async for name in adapter.list_repositories(page_size=2)]
        tags = await adapter.list_tags(f"{NS}/many")
    assert names == [f"{NS}/app", f"{NS}/many", f"{NS}/vault", f"{NS}/web"]
    assert len({t.name for t in tags}) == 103 and all(t.digest == pushed.web.digest for t in tags)
    pages = [r.query.get("page", ["1"])[0] for r in hub.requests if r.path.endswith("/many/tags")]
    assert pages == ["1", "2"]


async def test_anonymous_sees_public_repositories_without_a_token(
    hub: DockerHubAPI, registry_token: RunningRegistry
) -> None:
    async with make(registry_token.url, hub, user=None, namespace=NS) as adapter:
        names = [name async for name in adapter.list_repositories()]
    assert names == [f"{NS}/app", f"{NS}/web"]
    assert all(r.authorization is None for r in hub.requests)


async def test_organisation_access_token_lists_its_namespace_by_default(
    hub: DockerHubAPI, registry_token: RunningRegistry
) -> None:
    adapter = make(registry_token.url, hub, user=NS, password="dckr_oat_org-token")
    async with adapter:
        assert adapter.namespace == NS
        names = [name async for name in adapter.list_repositories()]
    assert f"{NS}/vault" in names
    logins = [r for r in hub.requests if r.path == "/v2/auth/token"]
    assert [r.status for r in logins] == [200]


async def test_reader_is_connected_and_read_only(hub: DockerHubAPI, proxy: FaultProxy) -> None:
    async with make(proxy.url, hub, namespace=NS) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert f"namespace {NS}: 3 repositories visible" in result.message
    assert f"{NS}/app:2.0" in result.message
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result.rights
    assert f"{NS}/app" in result.rights.detail
    assert [r.method for r in proxy.requests if "/manifests/" in r.path] == ["HEAD"]
    assert [r.path for r in hub.requests].count("/v2/auth/token") == 1  # the Hub token is cached


async def test_writer_can_write(hub: DockerHubAPI, registry_token: RunningRegistry) -> None:
    async with make(registry_token.url, hub, user="writer", namespace=NS) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.CAN_WRITE
    assert "push" in result.rights.detail


async def test_wrong_password_is_authorization_failed(hub: DockerHubAPI, registry_token: RunningRegistry) -> None:
    async with make(registry_token.url, hub, password="not-the-password", namespace=NS) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert "Docker Hub rejected the credentials of 'reader'" in result.message
    assert "not-the-password" not in f"{result.message} {result.hint} {result!r}"


async def test_unknown_namespace_is_not_found(hub: DockerHubAPI, registry_token: RunningRegistry) -> None:
    async with make(registry_token.url, hub, namespace="nobody-here") as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.NOT_FOUND, result
    assert "namespace nobody-here does not exist or is not visible" in result.message


async def test_anonymous_without_namespace_says_to_set_one(hub: DockerHubAPI, registry_token: RunningRegistry) -> None:
    async with make(registry_token.url, hub, user=None) as adapter:
        with pytest.raises(RegistryError) as raised:
            _ = [name async for name in adapter.list_repositories()]
    assert raised.value.reason == "namespace_required" and "namespace" in raised.value.hint


@pytest.mark.parametrize("header", ["Retry-After", "X-Retry-After"])
async def test_hub_rate_limit_waits_as_told_and_succeeds(
    hub: DockerHubAPI, registry_token: RunningRegistry, header: str
) -> None:
    if header == "Retry-After":
        hub.throttle(retry_after="7", path_regex="/repositories$")
    else:
        hub.throttle(x_retry_after=str(int(time.time()) + 30), path_regex="/repositories$")
    sleeps = Sleeps()
    async with make(registry_token.url, hub, namespace=NS) as adapter:
        adapter.client._sleep = sleeps
        names = [name async for name in adapter.list_repositories()]
    assert names == [f"{NS}/app", f"{NS}/vault", f"{NS}/web"]
    statuses = [r.status for r in hub.requests if r.path.endswith("/repositories")]
    assert statuses == [429, 200]
    assert len(sleeps) == 1
    if header == "Retry-After":
        assert sleeps[0] == 7.0
    else:
        assert 25.0 <= sleeps[0] <= 30.0


async def test_registry_pull_limit_is_shown_in_the_test_result(
    hub: DockerHubAPI, proxy: FaultProxy, pushed: Pushed
) -> None:
    proxy.add_fault(
        r"/manifests/",
        Status(
            200,
            {
                "ratelimit-limit": "100;w=21600",
                "ratelimit-remaining": "76;w=21600",
                "docker-ratelimit-source": "203.0.113.7",
                "Docker-Content-Digest": pushed.multi.digest,
                "Content-Type": pushed.multi.media_type,
            },
        ),
        method="HEAD",
    )
    async with make(proxy.url, hub, namespace=NS) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "pull rate limit remaining: 76;w=21600" in result.message
