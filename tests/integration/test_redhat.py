"""redhat: the harness token registry stands in for registry.redhat.io, the anonymous one for
registry.access.redhat.com."""

from __future__ import annotations

from typing import Any

import pytest

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights
from regscout.registries.errors import ConnectionStatus, RegistryError
from regscout.registries.redhat import RedHatRegistry
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.faults import FaultProxy
from tests.harness.fixtures import FaultProxyFactory
from tests.harness.images import Image, Pusher, small_image
from tests.harness.registry import RunningRegistry

from .conftest import FAST

pytestmark = pytest.mark.anyio

# A Registry Service Account's user name has the form "<account number>|<name>".
SERVICE_ACCOUNT = "11009103|regscout"


@pytest.fixture(scope="module")
def ubi(registry_token: RunningRegistry, registry_anonymous: RunningRegistry) -> Image:
    image = small_image("redhat-ubi9", created="2024-03-04T05:06:07Z")
    for registry in (registry_token, registry_anonymous):
        with Pusher(registry) as pusher:
            pusher.push("ubi9/ubi", "9.4", image)
            pusher.push("ubi9/ubi", "latest", image)
    return image


def make(url: str, credentials: Credentials | None = None, **options: Any) -> RedHatRegistry:
    return RedHatRegistry(RegistryConfig("redhat", url, credentials, TlsSettings(), options), FAST)


def reader(registry: RunningRegistry, password: str | None = None) -> Credentials:
    return Credentials("reader", Secret(password or registry.accounts["reader"].password))


def test_registered_in_the_type_table() -> None:
    assert adapter_class("redhat") is RedHatRegistry
    assert RedHatRegistry.default_url == "https://registry.redhat.io"


async def test_probe_uses_the_challenge_token_and_one_short_tag_page(
    registry_token: RunningRegistry, fault_proxy_factory: FaultProxyFactory, ubi: Image
) -> None:
    proxy: FaultProxy = fault_proxy_factory(registry_token)
    assert registry_token.token_issuer is not None
    registry_token.token_issuer.clear_requests()
    async with make(proxy.url, reader(registry_token)) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "ubi9/ubi" in result.message  # no repositories configured: the probe reads ubi9/ubi
    tag_pages = [r.path for r in proxy.requests if "/tags/list" in r.path]
    assert tag_pages == ["/v2/ubi9/ubi/tags/list?n=1"]
    assert any(r.user == "reader" and r.status == 200 for r in registry_token.token_issuer.requests)
    assert result.rights is not None
    assert (result.rights.verdict, result.rights.detail) == (
        Rights.READ_ONLY,
        "registry.redhat.io is read-only for every account",
    )


async def test_service_account_user_name_with_a_bar_is_sent_as_is(registry_token: RunningRegistry, ubi: Image) -> None:
    registry_token.accounts[SERVICE_ACCOUNT] = registry_token.accounts["reader"]
    try:
        credentials = Credentials(SERVICE_ACCOUNT, Secret(registry_token.accounts["reader"].password))
        async with make(registry_token.url, credentials, repositories=["ubi9/ubi"]) as adapter:
            result = await adapter.test()
    finally:
        del registry_token.accounts[SERVICE_ACCOUNT]
    assert result.status is ConnectionStatus.CONNECTED, result
    assert registry_token.token_issuer is not None
    assert any(r.user == SERVICE_ACCOUNT for r in registry_token.token_issuer.requests)


async def test_anonymous_registry_connects_without_credentials(registry_anonymous: RunningRegistry, ubi: Image) -> None:
    async with make(registry_anonymous.url, repositories=["ubi9/ubi"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY


async def test_rights_are_read_only_even_for_an_account_that_could_push(
    registry_token: RunningRegistry, ubi: Image
) -> None:
    writer = Credentials("writer", Secret(registry_token.accounts["writer"].password))
    async with make(registry_token.url, writer) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY


async def test_wrong_password_is_authorization_failed(registry_token: RunningRegistry) -> None:
    async with make(registry_token.url, reader(registry_token, "wrong-token-value")) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert "wrong-token-value" not in f"{result.message} {result.hint}"


async def test_unknown_repository_is_not_found(registry_token: RunningRegistry, ubi: Image) -> None:
    async with make(registry_token.url, reader(registry_token), repositories=["rhel9/no-such-image"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.NOT_FOUND, result
    assert "rhel9/no-such-image does not exist" in result.message
    assert "ubi9/ubi" in result.hint


async def test_listing_without_repositories_asks_for_them(registry_token: RunningRegistry) -> None:
    async with make(registry_token.url, reader(registry_token)) as adapter:
        with pytest.raises(RegistryError) as raised:
            await adapter.browse()
    assert raised.value.reason == "repositories_required"
    assert "no catalog" in raised.value.message and "ubi9/ubi" in raised.value.hint


async def test_browse_configured_repositories(registry_token: RunningRegistry, ubi: Image) -> None:
    async with make(registry_token.url, reader(registry_token), repositories=["ubi9/ubi"]) as adapter:
        [listing] = await adapter.browse()
    tags = {info.tag: info for info in listing.tags or []}
    assert set(tags) == {"9.4", "latest"}
    assert tags["9.4"].digest == ubi.digest
    assert tags["9.4"].created is not None and tags["9.4"].created.isoformat() == "2024-03-04T05:06:07+00:00"
    assert tags["9.4"].created_source == "build"
