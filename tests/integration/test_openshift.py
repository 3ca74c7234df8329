"""openshift: a Kubernetes/OpenShift API stand-in for image streams and access reviews, and a real
htpasswd registry standing in for the integrated registry (which takes the API token as password)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from regscout.registries.auth import Credentials, TlsSettings
from regscout.registries.base import RegistryConfig, Rights
from regscout.registries.errors import ConnectionStatus
from regscout.registries.openshift import OpenShiftRegistry
from regscout.registries.types import adapter_class
from regscout.secrets import Secret
from tests.harness.accounts import Account
from tests.harness.images import Image, Index, Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry
from tests.harness.vendors.openshift_api import OpenShiftAPI, Rule

from .conftest import FAST

pytestmark = pytest.mark.anyio

READER = "sha256~reader-token-0123456789"
WRITER = "sha256~writer-token-0123456789"
PRUNER = "sha256~pruner-token-0123456789"
CLUSTER = "sha256~cluster-token-012345678"
STALE = "sha256~stale-token-0123456789a"
EXTERNAL = "sha256:" + "e" * 64
OLDER = "sha256:" + "0" * 64

READ_RULES = [
    rule
    for ns in ("team-a", "team-b")
    for rule in (
        Rule("list", "imagestreams", namespace=ns),
        Rule("get", "imagestreams", namespace=ns),
        Rule("get", "imagestreams", "layers", namespace=ns),
    )
]


@dataclass(frozen=True)
class Cluster:
    registry: RunningRegistry
    app: Image
    multi: Index
    tool: Image


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The registry accepts each token as the password of one user, as OpenShift's accepts any
    user name with a valid token ("regscout" is the adapter's default user name)."""
    everything = frozenset({"pull", "push", "delete"})
    users = {"regscout": READER, "builder": WRITER, "pruner": PRUNER, "cluster": CLUSTER, "stale": STALE}
    accounts = {user: Account(token, everything) for user, token in users.items()}
    registry = start_registry("htpasswd", Path(tmp_path_factory.mktemp("openshift-registry")), accounts=accounts)
    arm = build_image([base_layer()], architecture="arm64", labels={"seed": "openshift-arm64"})
    world = Cluster(
        registry,
        small_image("openshift-app", created="2024-06-30T12:00:00Z"),
        build_index([small_image("openshift-app-2"), arm]),
        small_image("openshift-tool"),
    )
    try:
        with Pusher(registry) as pusher:
            pusher.push("team-a/app", "1.0", world.app)
            pusher.push("team-a/app", "2.0", world.multi)
            pusher.push("team-b/tool", "latest", world.tool)
        yield world
    finally:
        registry.stop()


@pytest.fixture
def api(cluster: Cluster) -> Iterator[OpenShiftAPI]:
    with OpenShiftAPI(public_host=cluster.registry.host) as server:
        server.add_token(READER, "system:serviceaccount:regscout:scanner", READ_RULES)
        server.add_token(WRITER, "builder", [*READ_RULES, Rule("update", "imagestreams", "layers", namespace="team-a")])
        server.add_token(PRUNER, "pruner", [*READ_RULES, Rule("delete", "images")])
        server.add_token(CLUSTER, "cluster-reader", [Rule("list", "imagestreams"), Rule("get", "imagestreams")])
        server.tag("team-a", "app", "1.0", OLDER, "2024-05-01T00:00:00Z")
        server.tag("team-a", "app", "1.0", cluster.app.digest, "2024-07-01T08:00:00Z")
        server.tag("team-a", "app", "2.0", cluster.multi.digest, "2024-07-02T09:00:00Z")
        server.tag(
            "team-a", "app", "nginx", EXTERNAL, "2024-07-03T00:00:00Z", reference=f"docker.io/library/nginx@{EXTERNAL}"
        )
        server.tag("team-b", "tool", "latest", cluster.tool.digest, "2024-07-04T00:00:00Z")
        yield server


def make(
    registry: RunningRegistry, token: str, api: OpenShiftAPI | None, user: str = "", **options: Any
) -> OpenShiftRegistry:
    if api is not None:
        options = {"api_url": api.url, **options}
    config = RegistryConfig("openshift", registry.url, Credentials(user, Secret(token)), TlsSettings(), options)
    return OpenShiftRegistry(config, FAST)


def test_registered_and_options_validated() -> None:
    assert adapter_class("openshift") is OpenShiftRegistry
    options = OpenShiftRegistry.validate_options({"api_url": "https://api.c:6443/", "namespaces": "team-a, team-b"})
    assert options == {"api_url": "https://api.c:6443", "namespaces": ["team-a", "team-b"]}
    with pytest.raises(ValidationError):
        OpenShiftRegistry.validate_options({"namespaces": ["Team_A"]})
    with pytest.raises(ValidationError):
        OpenShiftRegistry.validate_options({"api_url": "api.cluster:6443"})


async def test_browse_lists_image_streams_with_digests_and_push_times(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, READER, api, namespaces=["team-a", "team-b"]) as adapter:
        assert adapter.client.credentials is not None and adapter.client.credentials.username == "regscout"
        listings = {listing.name: listing for listing in await adapter.browse()}

    assert set(listings) == {"team-a/app", "team-b/tool"}
    app = listings["team-a/app"]
    tags = {info.tag: info for info in app.tags or []}
    assert set(tags) == {"1.0", "2.0"}  # nginx points at docker.io and is skipped
    assert app.error is None and any("nginx (docker.io)" in note for note in app.notes)
    assert tags["1.0"].digest == cluster.app.digest  # the newest tag event, not the older one
    assert tags["1.0"].pushed == datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    assert (tags["1.0"].created, tags["1.0"].created_source) == (datetime(2024, 6, 30, 12, 0, tzinfo=UTC), "build")
    assert tags["2.0"].digest == cluster.multi.digest and "linux/arm64" in tags["2.0"].platforms
    assert all(info.error is None for info in tags.values())
    assert listings["team-b/tool"].error is None
    lists = [r.path for r in api.requests if r.method == "GET"]
    assert lists == [
        "/apis/image.openshift.io/v1/namespaces/team-a/imagestreams",
        "/apis/image.openshift.io/v1/namespaces/team-b/imagestreams",
    ]
    assert {r.authorization for r in api.requests} == {f"Bearer {READER}"}


async def test_all_namespaces_are_listed_in_chunks(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, CLUSTER, api, user="cluster") as adapter:
        names = [name async for name in adapter.list_repositories(page_size=1)]
    assert names == ["team-a/app", "team-b/tool"]
    pages = [r for r in api.requests if r.path == "/apis/image.openshift.io/v1/imagestreams"]
    assert [r.query.get("continue") is not None for r in pages] == [False, True]
    assert all(r.query["limit"] == ["1"] for r in pages)


async def test_reader_is_connected_and_read_only(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, READER, api, namespaces=["team-a"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert "namespace team-a" in result.message and "team-a/app" in result.message
    assert result.rights is not None and result.rights.verdict is Rights.READ_ONLY, result.rights
    assert api.reviews() == [
        {
            "namespace": "team-a",
            "verb": "update",
            "group": "image.openshift.io",
            "resource": "imagestreams",
            "subresource": "layers",
        },
        {"verb": "delete", "group": "image.openshift.io", "resource": "images"},
    ]


async def test_push_right_is_reported_as_can_write(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, WRITER, api, user="builder", namespaces=["team-a"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.CAN_WRITE
    assert "push to image streams in team-a" in result.rights.detail
    assert "delete" not in result.rights.detail


async def test_prune_right_is_reported_as_can_write(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, PRUNER, api, user="pruner", namespaces=["team-b"]) as adapter:
        result = await adapter.test()
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.CAN_WRITE
    assert result.rights.detail == "the cluster allows the token to delete images (prune)"


async def test_token_the_api_rejects_is_authorization_failed(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, STALE, api, user="stale", namespaces=["team-a"]) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert "the OpenShift API rejected the token" in result.message
    assert STALE not in f"{result.message} {result.hint}"


async def test_forbidden_namespace_is_authorization_failed(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, READER, api, namespaces=["team-c"]) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "insufficient_rights")
    assert "list imagestreams in namespace team-c" in result.message


async def test_wrong_token_is_refused_by_the_registry(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, "sha256~not-a-valid-token", api) as adapter:
        result = await adapter.test()
    assert (result.status, result.reason) == (ConnectionStatus.AUTHORIZATION_FAILED, "bad_credentials")
    assert api.requests == []


async def test_without_api_url_the_catalog_is_used_and_rights_are_unknown(cluster: Cluster) -> None:
    async with make(cluster.registry, READER, None) as adapter:
        result = await adapter.test()
        names = [name async for name in adapter.list_repositories()]
        tags = await adapter.list_tags("team-a/app")
    assert result.status is ConnectionStatus.CONNECTED, result
    assert result.rights is not None and result.rights.verdict is Rights.UNKNOWN
    assert "api_url" in result.rights.recommendation
    assert names == ["team-a/app", "team-b/tool"]
    assert sorted(t.name for t in tags) == ["1.0", "2.0"] and all(t.digest is None for t in tags)


async def test_tags_of_a_named_repository_come_from_its_image_stream(cluster: Cluster, api: OpenShiftAPI) -> None:
    async with make(cluster.registry, READER, api) as adapter:
        tags = await adapter.list_tags("team-b/tool")
        [listing] = await adapter.browse(["team-a/missing"])
    assert [(t.name, t.digest) for t in tags] == [("latest", cluster.tool.digest)]
    assert api.requests[0].path == "/apis/image.openshift.io/v1/namespaces/team-b/imagestreams/tool"
    assert listing.tags is None and listing.error is not None and "read image stream team-a/missing" in listing.error
