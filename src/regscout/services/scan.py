"""The one-command scan: analyse an image, match it against the vulnerability data, store the result."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..analysis.image import ImageReport, ProgressCallback
from ..results.service import Change, ResultsService
from ..vulndb.matcher import Finding, RecordSource, match
from .images import ImageService, ResolvedImage


@dataclass
class ScanOutcome:
    resolved: ResolvedImage
    report: ImageReport
    findings: list[Finding]
    changes: list[Change]


class ScanService:
    def __init__(self, images: ImageService, records: RecordSource, results: ResultsService) -> None:
        self.images = images
        self.records = records
        self.results = results

    async def scan(
        self,
        ref: str,
        *,
        registry: str | None = None,
        platform: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ScanOutcome:
        resolved = self.images.resolve(ref, registry=registry, platform=platform)
        return await self.scan_resolved(resolved, progress=progress)

    async def scan_resolved(self, resolved: ResolvedImage, *, progress: ProgressCallback | None = None) -> ScanOutcome:
        report = await self.images.analyze_resolved(resolved, progress=progress)
        # Matching and storing are CPU and database work: off the event loop, which other scans share.
        findings, changes = await asyncio.to_thread(self._match_and_save, resolved, report)
        return ScanOutcome(resolved, report, findings, changes)

    def _match_and_save(self, resolved: ResolvedImage, report: ImageReport) -> tuple[list[Finding], list[Change]]:
        findings = match(report.inventory, self.records)
        changes = self.results.save(
            digest=report.details.digest,
            registry_host=resolved.reference.registry_host,
            repository=report.details.repository,
            reference=resolved.reference.reference,
            platform=report.details.platform,
            inventory=report.inventory,
            findings=findings,
            index_digest=report.details.index_digest,
            details=report.details,
        )
        return findings, changes
