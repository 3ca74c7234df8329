"""The client against a fault-injecting proxy in front of the real registry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, TagRef
from regscout.registries.distribution import RegistryClient
from regscout.registries.errors import BlobTransferError, DigestMismatchError, UnsupportedManifestError
from regscout.registries.generic import GenericRegistry
from regscout.secrets import Secret
from tests.harness.faults import CorruptBody, FaultProxy, Redirect, ResetMidBody, Status
from tests.harness.images import Image, Pusher, build_image, tar_layer
from tests.harness.registry import RunningRegistry

from .conftest import FAST

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def image(registry_htpasswd: RunningRegistry, registry_anonymous: RunningRegistry) -> Image:
    """An image with a 3 MiB layer, pushed to the htpasswd and the anonymous registry."""
    payload = bytes(range(256)) * (3 * 4096)
    built = build_image([tar_layer({"data/blob.bin": payload}, compression="none")], created="2025-03-04T05:06:07Z")
    with Pusher(registry_htpasswd, auth=registry_htpasswd.admin_auth()) as pusher:
        pusher.push("faults/app", "v1", built)
    with Pusher(registry_anonymous) as pusher:
        pusher.push("faults/app", "v1", built)
    return built


@pytest.fixture
def proxy(registry_htpasswd: RunningRegistry) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(registry_htpasswd.url)
    yield fault_proxy
    fault_proxy.close()


def alice(registry: RunningRegistry) -> Credentials:
    return Credentials("alice", Secret(registry.accounts["alice"].password))


class SleepRecorder:
    """Records the waits the client asks for and yields to the loop instead of blocking."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


async def test_500s_that_stop_are_retried(proxy: FaultProxy, image: Image, registry_htpasswd: RunningRegistry) -> None:
    proxy.add_fault(r"/manifests/v1$", Status(500, body=b"oops"), times=2, method="GET")
    sleeper = SleepRecorder()
    async with RegistryClient(proxy.url, alice(registry_htpasswd), options=FAST, sleep=sleeper) as client:
        manifest = await client.manifest("faults/app", "v1")
    assert manifest.digest == image.digest
    assert client.stats.retries == 2 and len(sleeper.delays) == 2
    manifest_gets = [r for r in proxy.requests if r.method == "GET" and r.path.endswith("/manifests/v1")]
    assert len(manifest_gets) == 3


async def test_429_waits_for_retry_after(proxy: FaultProxy, image: Image, registry_htpasswd: RunningRegistry) -> None:
    proxy.add_fault(
        r"/tags/list", Status(429, {"Retry-After": "3"}, b'{"errors":[{"code":"TOOMANYREQUESTS"}]}'), times=1
    )
    sleeper = SleepRecorder()
    async with RegistryClient(proxy.url, alice(registry_htpasswd), options=FAST, sleep=sleeper) as client:
        tags = [t async for t in client.tags("faults/app")]
    assert tags == ["v1"]
    assert sleeper.delays == [3.0]


async def test_reset_mid_blob_is_a_clear_error_and_nothing_is_kept(
    proxy: FaultProxy, image: Image, registry_htpasswd: RunningRegistry
) -> None:
    layer = image.layers[0]
    proxy.add_fault(rf"/blobs/{layer.digest}$", ResetMidBody(after_bytes=1 << 20), times=1, method="GET")
    async with RegistryClient(proxy.url, alice(registry_htpasswd), options=FAST) as client:
        received = 0
        with pytest.raises(BlobTransferError, match="transfer interrupted") as failure:
            async for chunk in client.stream_blob("faults/app", layer.digest):
                received += len(chunk)
        assert 0 < received < layer.size
        assert failure.value.hint.endswith("Try again")
        # the fault fired once; the next fetch is whole and verified
        again = b"".join([c async for c in client.stream_blob("faults/app", layer.digest)])
        assert len(again) == layer.size


async def test_config_reset_leaves_no_cached_config(
    proxy: FaultProxy, image: Image, registry_htpasswd: RunningRegistry
) -> None:
    proxy.add_fault(rf"/blobs/{image.config.digest}$", ResetMidBody(after_bytes=10), times=1, method="GET")
    config = RegistryConfig("docker-registry", proxy.url, alice(registry_htpasswd), TlsSettings(), {})
    async with GenericRegistry(config, FAST) as adapter:
        broken = await adapter.describe("faults/app", TagRef("v1"))
        assert broken.error is not None and "interrupted" in broken.error
        assert broken.created is None
        assert image.config.digest not in adapter._configs
        whole = await adapter.describe("faults/app", TagRef("v1"))
    assert whole.error is None and whole.created is not None and whole.created.year == 2025


async def test_corrupt_blob_is_rejected(proxy: FaultProxy, image: Image, registry_htpasswd: RunningRegistry) -> None:
    layer = image.layers[0]
    proxy.add_fault(rf"/blobs/{layer.digest}$", CorruptBody(), times=None, method="GET")
    proxy.add_fault(rf"/blobs/{image.config.digest}$", CorruptBody(), times=None, method="GET")
    async with RegistryClient(proxy.url, alice(registry_htpasswd), options=FAST) as client:
        with pytest.raises(DigestMismatchError, match="digest mismatch"):
            async for _ in client.stream_blob("faults/app", layer.digest):
                pass
        with pytest.raises(DigestMismatchError):
            await client.blob("faults/app", image.config.digest)


async def test_schema1_manifest_gets_a_clear_error(
    proxy: FaultProxy, image: Image, registry_htpasswd: RunningRegistry
) -> None:
    body = json.dumps({"schemaVersion": 1, "name": "faults/app", "tag": "old", "fsLayers": [], "history": []})
    proxy.add_fault(
        r"/manifests/old$",
        Status(200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, body.encode()),
        times=None,
    )
    async with RegistryClient(proxy.url, alice(registry_htpasswd), options=FAST) as client:
        with pytest.raises(UnsupportedManifestError, match="legacy manifest not supported"):
            await client.manifest("faults/app", "old")


async def test_redirect_to_another_host_drops_authorization(
    registry_htpasswd: RunningRegistry, registry_anonymous: RunningRegistry, image: Image
) -> None:
    """Proxy A (127.0.0.1, in front of the authenticated registry) redirects blob GETs to proxy B
    (localhost, another host name, in front of a registry holding the same blob)."""
    target = FaultProxy(registry_anonymous.url, bind_host="localhost")
    front = FaultProxy(registry_htpasswd.url)
    try:
        front.add_fault(r"/blobs/", Redirect(location_base=target.url), times=None, method="GET")
        async with RegistryClient(front.url, alice(registry_htpasswd), options=FAST) as client:
            data = await client.blob("faults/app", image.config.digest)
            layer = b"".join([c async for c in client.stream_blob("faults/app", image.layers[0].digest)])
        assert data == image.config.data and len(layer) == image.layers[0].size
        blob_requests_at_target = [r for r in target.requests if "/blobs/" in r.path]
        assert len(blob_requests_at_target) == 2
        assert all("authorization" not in {k.lower() for k in r.headers} for r in target.requests)
        assert all("cookie" not in {k.lower() for k in r.headers} for r in target.requests)
        # the registry itself did get credentials
        assert any("authorization" in {k.lower() for k in r.headers} for r in front.requests)
    finally:
        target.close()
        front.close()
