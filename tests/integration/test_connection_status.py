"""Connection test and rights report against the real registry in each auth mode."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights
from regscout.registries.errors import ConnectionStatus
from regscout.registries.generic import GenericRegistry
from regscout.secrets import Secret
from regscout.services.audit import SYSTEM
from regscout.services.integrations import ConnectionTestFailed, IntegrationInput, IntegrationService
from tests.harness.faults import FaultProxy, Status
from tests.harness.images import Pusher, small_image
from tests.harness.registry import RunningRegistry, start_registry

from .conftest import FAST

pytestmark = pytest.mark.anyio


def creds(registry: RunningRegistry, user: str, password: str | None = None) -> Credentials:
    return Credentials(user, Secret(password or registry.accounts[user].password))


async def check(url: str, credentials: Credentials | None = None, tls: TlsSettings | None = None, **options: object):  # type: ignore[no-untyped-def]
    config = RegistryConfig("docker-registry", url, credentials, tls or TlsSettings(), dict(options))
    async with GenericRegistry(config, FAST) as adapter:
        return await adapter.test()


@pytest.fixture(scope="module")
def seeded(
    registry_htpasswd: RunningRegistry,
    registry_token: RunningRegistry,
    registry_tls: RunningRegistry,
    registry_anonymous: RunningRegistry,
) -> None:
    """One image in every registry, so probes have a repository to read."""
    for registry in (registry_htpasswd, registry_token, registry_tls, registry_anonymous):
        with Pusher(registry) as pusher:
            pusher.push("team/app", "1.0", small_image("status"))


async def test_htpasswd_connected_and_rights_can_write(registry_htpasswd: RunningRegistry, seeded: None) -> None:
    result = await check(registry_htpasswd.url, creds(registry_htpasswd, "alice"))
    assert result.status is ConnectionStatus.CONNECTED, result
    assert re.fullmatch(r"read [1-9]\d* tag\(s\) of \S+", result.message), result.message
    assert result.rights is not None and result.rights.verdict is Rights.CAN_WRITE
    assert "read-only account" in result.rights.recommendation or "pull-only" in result.rights.recommendation


async def test_htpasswd_wrong_password_is_authorization_failed(registry_htpasswd: RunningRegistry) -> None:
    result = await check(registry_htpasswd.url, creds(registry_htpasswd, "alice", "wrong-password"))
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert "wrong-password" not in result.message + result.hint


async def test_htpasswd_without_credentials_says_they_are_required(registry_htpasswd: RunningRegistry) -> None:
    result = await check(registry_htpasswd.url)
    assert result.status is ConnectionStatus.AUTHORIZATION_FAILED
    assert "requires credentials" in result.message


async def test_token_reader_is_connected_and_read_only(registry_token: RunningRegistry, seeded: None) -> None:
    result = await check(registry_token.url, creds(registry_token, "reader"))
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result.rights
    assert "pull" in result.rights.detail


async def test_token_writer_can_write(registry_token: RunningRegistry, seeded: None) -> None:
    result = await check(registry_token.url, creds(registry_token, "writer"))
    assert result.status is ConnectionStatus.CONNECTED
    assert result.rights is not None and result.rights.verdict is Rights.CAN_WRITE
    assert "push" in result.rights.detail and "delete" in result.rights.detail


async def test_token_wrong_password_fails_at_the_token_service(registry_token: RunningRegistry) -> None:
    result = await check(registry_token.url, creds(registry_token, "reader", "nope-nope"))
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert "reader" in result.message


async def test_not_a_registry_path_is_not_found(registry_htpasswd: RunningRegistry) -> None:
    result = await check(registry_htpasswd.url + "/not/a/registry", creds(registry_htpasswd, "alice"))
    assert (result.status, result.reason) == (ConnectionStatus.NOT_FOUND, "not_a_registry")
    assert result.url is not None and result.url.endswith("/not/a/registry/v2/")


async def test_self_signed_without_ca_is_ssl_error_then_connected(registry_tls: RunningRegistry, seeded: None) -> None:
    alice = creds(registry_tls, "alice")
    result = await check(registry_tls.url, alice)
    assert (result.status, result.reason) == (ConnectionStatus.SSL_HANDSHAKE_ERROR, "untrusted_ca")
    assert "--ca-file" in result.hint
    assert registry_tls.ca_file is not None
    with_ca = await check(registry_tls.url, alice, TlsSettings(ca_pem=Path(registry_tls.ca_file).read_text()))
    assert with_ca.status is ConnectionStatus.CONNECTED, with_ca
    insecure = await check(registry_tls.url, alice, TlsSettings(verify=False))
    assert insecure.status is ConnectionStatus.CONNECTED


async def test_https_to_a_plain_http_port_says_so(registry_htpasswd: RunningRegistry) -> None:
    result = await check(registry_htpasswd.url.replace("http://", "https://"), creds(registry_htpasswd, "alice"))
    assert (result.status, result.reason) == (ConnectionStatus.SSL_HANDSHAKE_ERROR, "plain_http")


async def test_nothing_listening_is_unknown_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await check(f"http://127.0.0.1:{port}")
    assert (result.status, result.reason) == (ConnectionStatus.UNKNOWN, "unreachable")


async def test_rate_limited_registry(registry_anonymous: RunningRegistry, seeded: None) -> None:
    proxy = FaultProxy(registry_anonymous.url)
    try:
        proxy.add_fault(
            r"^/v2/_catalog", Status(429, {"Retry-After": "0"}, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}'), times=None
        )
        result = await check(proxy.url)
    finally:
        proxy.close()
    assert (result.status, result.reason) == (ConnectionStatus.RATE_LIMITED, "rate_limited")


async def test_anonymous_registry_is_read_anonymously(registry_anonymous: RunningRegistry, seeded: None) -> None:
    result = await check(registry_anonymous.url)
    assert result.status is ConnectionStatus.CONNECTED
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN


async def test_anonymous_pull_on_a_token_registry(tmp_path: Path) -> None:
    registry = start_registry("token", tmp_path, anonymous_pull=True)
    try:
        with Pusher(registry, auth=registry.admin_auth()) as pusher:
            pusher.push("public/app", "1", small_image("anon"))
        result = await check(registry.url, repositories=["public/app"])
        assert result.status is ConnectionStatus.CONNECTED, result
        assert "public/app" in result.message
        config = RegistryConfig("docker-registry", registry.url, None, TlsSettings(), {"repositories": ["public/app"]})
        async with GenericRegistry(config, FAST) as adapter:
            [listing] = await adapter.browse(with_tags=True)
        assert listing.tags is not None and [t.tag for t in listing.tags] == ["1"]
        assert listing.tags[0].digest and listing.tags[0].digest.startswith("sha256:")
    finally:
        registry.stop()


async def test_add_refuses_to_save_a_failing_connection(
    service: IntegrationService, registry_htpasswd: RunningRegistry
) -> None:
    data = IntegrationInput(
        name="r", type="docker-registry", url=registry_htpasswd.url, username="alice", secret=Secret("wrong-password-x")
    )
    with pytest.raises(ConnectionTestFailed, match="Authorization failed") as failure:
        await service.add(data, actor=SYSTEM)
    assert "wrong-password-x" not in str(failure.value)
    assert service.list_all() == []
    view, result = await service.add(data, test=False, actor=SYSTEM)
    assert result is None and view.connection is None
