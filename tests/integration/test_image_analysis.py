"""Whole-image analysis from the real registry: layer semantics, the per-layer cache, failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from regscout.analysis.analyzers.base import Interest
from regscout.analysis.cache import LayerCache
from regscout.analysis.image import ImageAnalyzer
from regscout.analysis.tarwalk import LayerFormatError
from regscout.registries.distribution import RegistryClient
from regscout.registries.errors import BlobTransferError, DigestMismatchError
from regscout.registries.manifest import Platform
from regscout.store.db import Database
from tests.harness.faults import CorruptBody, FaultProxy, ResetMidBody
from tests.harness.images import Image, Pusher, TarEntry, build_image, build_index, tar_layer
from tests.harness.registry import RunningRegistry
from tests.unit.fake_analyzers import FileAnalyzer

from .conftest import FAST

pytestmark = pytest.mark.anyio

DB_FILES = Interest(suffixes=(".db",))


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[LayerCache]:
    db = Database(f"sqlite:///{tmp_path / 'cache.db'}")
    db.migrate()
    yield LayerCache(db)
    db.dispose()


def names(report: object) -> dict[str, int]:
    return {f.package.name: f.layer.index for f in report.inventory.packages}  # type: ignore[attr-defined]


BASE = tar_layer(
    {
        "var/lib/a.db": b"a",
        "var/lib/b.db": b"b",
        "opt/app/old.db": b"old",
        "opt/app/keep/x.db": b"x",
        "usr/lib/py/p.db": b"p",
        "etc/os-release": b"ID=test",
    }
)


def layered_image() -> Image:
    upper = tar_layer(
        {
            "var/lib/b.db": TarEntry.whiteout(),  # removed
            "opt/app": TarEntry.opaque(),  # hides opt/app/* of lower layers...
            "opt/app/new.db": b"new",  # ...but not this layer's own entries
            "usr/lib/py": TarEntry.symlink("/elsewhere"),  # a symlink replacing a directory
            "var/lib/c.db": b"c",
        }
    )
    return build_image(
        [BASE, upper],
        created="2025-01-01T00:00:00Z",
        history=[
            {"created_by": "/bin/sh -c #(nop) ADD file:base in /"},
            {"created_by": "RUN /bin/sh -c make install # buildkit"},
        ],
        config={
            "Env": ["PATH=/bin", "DB_PASSWORD=hunter2", "API_TOKEN=abc"],
            "User": "app",
            "ExposedPorts": {"8080/tcp": {}},
        },
    )


async def test_layer_semantics_and_details(registry_anonymous: RunningRegistry, cache: LayerCache) -> None:
    image = layered_image()
    with Pusher(registry_anonymous) as pusher:
        pusher.push("analysis/layers", "1", image)
    analyzer = ImageAnalyzer([FileAnalyzer(DB_FILES)], cache)
    async with RegistryClient(registry_anonymous.url, options=FAST) as client:
        report = await analyzer.analyze(client, "analysis/layers", "1")
    assert names(report) == {"var/lib/a.db": 0, "var/lib/c.db": 1, "opt/app/new.db": 1}
    details = report.details
    assert details.digest == image.digest and details.platform == "linux/amd64"
    assert [layer.diff_id for layer in details.layers] == [layer.diff_id for layer in image.layers]
    assert details.layers[1].created_by.startswith("RUN /bin/sh -c make install")
    assert details.dockerfile == ["ADD file:base in /", "RUN make install"]
    assert details.env == {"PATH": "/bin", "DB_PASSWORD": "****", "API_TOKEN": "****"}
    assert (details.user, details.exposed_ports) == ("app", ["8080/tcp"])
    assert details.total_size == sum(layer.size for layer in image.layers)


async def test_platform_choice_from_an_index(registry_anonymous: RunningRegistry, cache: LayerCache) -> None:
    amd = build_image([tar_layer({"amd.db": b"1"})], architecture="amd64")
    arm = build_image([tar_layer({"arm.db": b"1"})], architecture="arm64", variant="v8")
    with Pusher(registry_anonymous) as pusher:
        index_digest = pusher.push("analysis/multi", "1", build_index([amd, arm]))
    analyzer = ImageAnalyzer([FileAnalyzer(DB_FILES)], cache)
    async with RegistryClient(registry_anonymous.url, options=FAST) as client:
        default = await analyzer.analyze(client, "analysis/multi", "1")
        chosen = await analyzer.analyze(client, "analysis/multi", "1", platform=Platform.parse("linux/arm64"))
        with pytest.raises(Exception, match=r"no linux/s390x image .*available: linux/amd64, linux/arm64/v8"):
            await analyzer.analyze(client, "analysis/multi", "1", platform=Platform.parse("linux/s390x"))
    assert set(names(default)) == {"amd.db"} and default.details.index_digest == index_digest
    assert set(names(chosen)) == {"arm.db"} and chosen.details.platform == "linux/arm64/v8"


async def test_cache_fetches_only_new_layers_and_only_bumped_analyzers(
    registry_anonymous: RunningRegistry, cache: LayerCache
) -> None:
    top = tar_layer({"srv/extra.db": b"e"})
    first = build_image([BASE], created="2025-01-01T00:00:00Z")
    second = build_image([BASE, top], created="2025-02-01T00:00:00Z")
    with Pusher(registry_anonymous) as pusher:
        pusher.push("analysis/cache", "1", first)
        pusher.push("analysis/cache", "2", second)
    files = FileAnalyzer(DB_FILES)
    proxy = FaultProxy(registry_anonymous.url)
    try:
        async with RegistryClient(proxy.url, options=FAST) as client:
            cold = await ImageAnalyzer([files], cache).analyze(client, "analysis/cache", "1")
            warm = await ImageAnalyzer([files], cache).analyze(client, "analysis/cache", "2")
            again = await ImageAnalyzer([files], cache).analyze(client, "analysis/cache", "2")
            files_v2 = FileAnalyzer(DB_FILES)
            files_v2.version = 2  # type: ignore[misc]
            other = FileAnalyzer(Interest(exact=frozenset({"etc/os-release"})))
            other.name = "os-file"  # type: ignore[misc]
            mixed = await ImageAnalyzer([files_v2, other], cache).analyze(client, "analysis/cache", "2")
            mixed_again = await ImageAnalyzer([files_v2, other], cache).analyze(client, "analysis/cache", "2")
    finally:
        proxy.close()
    layer_gets = [
        r.path.rsplit("/", 1)[1]
        for r in proxy.requests
        if "/blobs/" in r.path and r.method == "GET" and r.path.rsplit("/", 1)[1] in {BASE.digest, top.digest}
    ]
    # cold fetches the base, warm only the top layer; the bumped analyzer needs both again (fetched concurrently)
    assert layer_gets[:2] == [BASE.digest, top.digest]
    assert sorted(layer_gets[2:]) == sorted([BASE.digest, top.digest])
    assert (cold.stats.layers_fetched, warm.stats.layers_fetched, warm.stats.layers_from_cache) == (1, 1, 1)
    assert (again.stats.layers_fetched, again.stats.layers_from_cache) == (0, 2)
    assert names(warm) == names(again) == {**names(cold), "srv/extra.db": 1}
    assert mixed.stats.layers_fetched == 2 and set(mixed.stats.analyzers_run[0]) == {"files", "os-file"}
    assert mixed_again.stats.layers_fetched == 0
    assert {f.package.name for f in mixed.inventory.packages} == {*names(warm), "etc/os-release"}


@pytest.mark.parametrize("fault", [ResetMidBody(after_bytes=100), CorruptBody()])
async def test_broken_downloads_keep_nothing(
    registry_anonymous: RunningRegistry, cache: LayerCache, fault: object
) -> None:
    layer = tar_layer({f"big{i}.db": bytes([i]) * 50_000 for i in range(20)})
    image = build_image([layer])
    with Pusher(registry_anonymous) as pusher:
        pusher.push("analysis/broken", "1", image)
    proxy = FaultProxy(registry_anonymous.url)
    proxy.add_fault(rf"/blobs/{layer.digest}$", fault, times=1, method="GET")  # type: ignore[arg-type]
    try:
        async with RegistryClient(proxy.url, options=FAST) as client:
            with pytest.raises((BlobTransferError, DigestMismatchError, LayerFormatError)):
                await ImageAnalyzer([FileAnalyzer(DB_FILES)], cache).analyze(client, "analysis/broken", "1")
            assert cache.get_many(layer.diff_id, [("files", 1), ("layer-structure", 1)]) == {}
            report = await ImageAnalyzer([FileAnalyzer(DB_FILES)], cache).analyze(client, "analysis/broken", "1")
    finally:
        proxy.close()
    assert len(names(report)) == 20


async def test_config_lying_about_diff_ids_is_rejected(registry_anonymous: RunningRegistry, cache: LayerCache) -> None:
    """A config that pairs a layer with another layer's diff_id must not poison the cache."""
    honest = tar_layer({"x.db": b"honest"})
    evil = tar_layer({"x.db": b"evil"})
    image = build_image([evil], extra_config={"rootfs": {"type": "layers", "diff_ids": [honest.diff_id]}})
    with Pusher(registry_anonymous) as pusher:
        pusher.push("analysis/lying", "1", image)
    async with RegistryClient(registry_anonymous.url, options=FAST) as client:
        with pytest.raises(LayerFormatError, match="not the diff_id"):
            await ImageAnalyzer([FileAnalyzer(DB_FILES)], cache).analyze(client, "analysis/lying", "1")
    assert cache.get_many(honest.diff_id, [("files", 1)]) == {}
