"""Analyse one image from a registry: resolve the platform, read the config, take what the
per-layer cache has, stream only the missing layers once, and merge."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ..registries.distribution import RegistryClient
from ..registries.errors import NotFoundError, ProtocolError
from ..registries.manifest import DEFAULT_PLATFORM, ImageIndex, ImageManifest, Platform
from .analyzers.base import Analyzer
from .cache import LayerCache
from .details import ImageDetails, image_details
from .layer import STRUCTURE_ANALYZER, STRUCTURE_VERSION, LayerAnalysis, LayerStructure, analyze_layer
from .merge import Inventory, LayerRef, merge_layers
from .model import AnalyzerResult
from .stream import consume_in_thread

# A worker fetching a layer holds a claim on it; others wait for its results instead of fetching the same bytes.
CLAIM_SECONDS = 30.0  # renewed every third of it while the fetch runs; a dead holder's claim lapses soon
CLAIM_POLL_SECONDS = 0.2
ProgressCallback = Callable[[int, int, int], None]  # (layer index, bytes done, layer size)


@dataclass
class AnalysisStats:
    layers: int = 0
    layers_from_cache: int = 0
    layers_fetched: int = 0
    bytes_fetched: int = 0
    analyzers_run: dict[int, list[str]] = field(default_factory=dict)  # layer index -> analyzers run


@dataclass(frozen=True)
class _LayerTask:
    """One layer of the image being analysed, with where its progress and statistics go."""

    client: RegistryClient
    repository: str
    digest: str
    diff_id: str
    size: int
    index: int
    stats: AnalysisStats
    progress: ProgressCallback | None


@dataclass
class ImageReport:
    details: ImageDetails
    inventory: Inventory
    stats: AnalysisStats
    analyzers: dict[str, int]  # name -> version used


class ImageAnalyzer:
    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        cache: LayerCache | None = None,
        *,
        layer_concurrency: int = 3,
        max_uncompressed: int | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.analyzers = list(analyzers)
        self.cache = cache
        self.layer_concurrency = layer_concurrency
        self.max_uncompressed = max_uncompressed
        self.executor = executor
        self._owner = f"analyzer-{uuid.uuid4().hex}"

    async def resolve(
        self, client: RegistryClient, repository: str, reference: str, platform: Platform
    ) -> tuple[ImageManifest, str | None]:
        top = await client.manifest(repository, reference)
        if isinstance(top, ImageManifest):
            return top, None
        chosen = top.select(platform)
        if chosen is None:
            available = ", ".join(str(p) for p in top.platforms()) or "none"
            raise NotFoundError(
                f"{repository}@{top.digest} has no {platform} image (available: {available})",
                hint="Choose one of the available platforms with --platform",
            )
        child = await client.manifest(repository, chosen.digest)
        if isinstance(child, ImageIndex):
            raise ProtocolError(f"{repository}@{chosen.digest}: an index inside an index is not supported")
        return child, top.digest

    async def analyze(
        self,
        client: RegistryClient,
        repository: str,
        reference: str,
        *,
        platform: Platform = DEFAULT_PLATFORM,
        progress: ProgressCallback | None = None,
    ) -> ImageReport:
        manifest, index_digest = await self.resolve(client, repository, reference, platform)
        config_bytes = await client.blob(repository, manifest.config.digest)
        try:
            config: dict[str, Any] = json.loads(config_bytes)
        except ValueError:
            raise ProtocolError(f"image config {manifest.config.digest} is not valid JSON") from None
        if not isinstance(config, dict):
            raise ProtocolError(f"image config {manifest.config.digest} is not a JSON object")
        image_platform = str(
            Platform(
                str(config.get("os", "")),
                str(config.get("architecture", "")),
                str(config["variant"]) if config.get("variant") else None,
            )
        )
        details = image_details(repository, reference, manifest, config, image_platform, index_digest)
        if len(details.layers) != len([layer for layer in details.layers if layer.diff_id]):
            raise ProtocolError(
                f"image {manifest.digest}: the config lists {sum(1 for x in details.layers if x.diff_id)} diff_ids "
                f"for {len(manifest.layers)} layers"
            )
        stats = AnalysisStats(layers=len(details.layers))
        semaphore = asyncio.Semaphore(self.layer_concurrency)

        async def one(index: int) -> tuple[LayerRef, LayerStructure, dict[str, AnalyzerResult]]:
            layer = details.layers[index]
            ref = LayerRef(index, layer.digest, layer.diff_id, layer.created_by)
            task = _LayerTask(client, repository, layer.digest, layer.diff_id, layer.size, index, stats, progress)
            async with semaphore:
                structure, results = await self._layer(task)
            return ref, structure, results

        layers = await asyncio.gather(*(one(i) for i in range(len(details.layers))))
        inventory = merge_layers(list(layers))
        return ImageReport(details, inventory, stats, {a.name: a.version for a in self.analyzers})

    async def _layer(self, task: _LayerTask) -> tuple[LayerStructure, dict[str, AnalyzerResult]]:
        wanted = {a.name: a.version for a in self.analyzers}
        wanted[STRUCTURE_ANALYZER] = STRUCTURE_VERSION
        cached = self.cache.get_many(task.diff_id, wanted.items()) if self.cache else {}
        missing = [a for a in self.analyzers if a.name not in cached]
        results = {name: AnalyzerResult.from_json(data) for name, data in cached.items() if name != STRUCTURE_ANALYZER}
        if not missing and STRUCTURE_ANALYZER in cached:
            task.stats.layers_from_cache += 1
            if task.progress:
                task.progress(task.index, task.size, task.size)
            return LayerStructure.from_json(cached[STRUCTURE_ANALYZER]), results
        if self.cache is not None and not await self._claim(task.diff_id):
            # Another worker fetched this layer meanwhile: its results are in the cache now.
            return await self._layer(task)
        renewal = asyncio.ensure_future(self._renew(task.diff_id)) if self.cache is not None else None
        try:
            return await self._analyze_missing(task, missing, results)
        finally:
            if renewal is not None and self.cache is not None:
                renewal.cancel()
                await asyncio.gather(renewal, return_exceptions=True)
                await asyncio.to_thread(self.cache.release, task.diff_id, self._owner)

    async def _renew(self, diff_id: str) -> None:
        assert self.cache is not None
        while True:
            await asyncio.sleep(CLAIM_SECONDS / 3)
            await asyncio.to_thread(self.cache.renew, diff_id, self._owner, CLAIM_SECONDS)

    async def _claim(self, diff_id: str) -> bool:
        """True: this analyzer fetches the layer. False: another worker held the claim and has let it go, so the
        cache should have the layer (or the claim expired; the caller looks again and claims then)."""
        assert self.cache is not None
        waited = False
        while not await asyncio.to_thread(self.cache.claim, diff_id, self._owner, CLAIM_SECONDS):
            waited = True
            await asyncio.sleep(CLAIM_POLL_SECONDS)  # polling the database: the holder may be another process
        if waited:
            await asyncio.to_thread(self.cache.release, diff_id, self._owner)
            return False
        return True

    async def _analyze_missing(
        self, task: _LayerTask, missing: list[Analyzer], results: dict[str, AnalyzerResult]
    ) -> tuple[LayerStructure, dict[str, AnalyzerResult]]:
        analysis = await self._fetch_and_analyze(task, missing)
        task.stats.layers_fetched += 1
        task.stats.bytes_fetched += task.size
        task.stats.analyzers_run[task.index] = [a.name for a in missing]
        if self.cache:
            fresh = {(a.name, a.version): analysis.results[a.name].to_json() for a in missing}
            fresh[(STRUCTURE_ANALYZER, STRUCTURE_VERSION)] = analysis.structure.to_json()
            await asyncio.to_thread(self.cache.put_many, task.diff_id, fresh)
        results.update(analysis.results)
        return analysis.structure, results

    async def _fetch_and_analyze(self, task: _LayerTask, analyzers: list[Analyzer]) -> LayerAnalysis:
        async def chunks() -> Any:
            done = 0
            async for chunk in task.client.stream_blob(task.repository, task.digest):
                done += len(chunk)
                if task.progress:
                    task.progress(task.index, done, task.size)
                yield chunk

        limits: dict[str, Any] = {"expected_diff_id": task.diff_id}
        if self.max_uncompressed is not None:
            limits["max_uncompressed"] = self.max_uncompressed

        def work(pieces: Iterator[bytes]) -> LayerAnalysis:
            return analyze_layer(pieces, analyzers, **limits)

        return await consume_in_thread(chunks(), work, self.executor)
