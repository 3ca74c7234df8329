"""Catalog and tag paging against distribution's real behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from regscout.registries.distribution import RegistryClient
from tests.harness.images import Pusher, small_image
from tests.harness.registry import start_registry

from .conftest import FAST

pytestmark = pytest.mark.anyio


async def test_catalog_pages_follow_relative_links_and_shrink_n_to_the_server_cap(tmp_path: Path) -> None:
    registry = start_registry("anonymous", tmp_path, catalog_max_entries=5)
    try:
        names = [f"page/r{i:02d}" for i in range(12)]
        with Pusher(registry) as pusher:
            pusher.push_many([(name, "t", small_image(name)) for name in names])
            pusher.push_many([("page/r00", f"t{i:02d}", small_image(f"tag{i}")) for i in range(25)])
        async with RegistryClient(registry.url, options=FAST) as client:
            listed = [name async for name in client.catalog(page_size=1000)]
            tags = [tag async for tag in client.tags("page/r00", page_size=10)]
            catalog_requests = client.stats.requests
        assert listed == sorted(names)  # each exactly once, across 3 pages of at most 5
        assert sorted(tags) == sorted(["t", *[f"t{i:02d}" for i in range(25)]])
        assert len(tags) == len(set(tags))
        # /v2/ ping, n=1000..7 refused (8 halvings), 4 full pages of 3 with Links, one more that
        # confirms the end (a full last page carries no Link), 2 tag requests (n and last ignored)
        assert catalog_requests == 1 + 8 + 4 + 1 + 2
    finally:
        registry.stop()
