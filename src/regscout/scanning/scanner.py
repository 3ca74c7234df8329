"""What a worker does for a scan job: the one-command scan, by the integration that queued the image."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..registries.errors import NotFoundError
from ..results.service import severity_counts
from ..services.integrations import IntegrationNotFound
from ..services.scan import ScanOutcome, ScanService
from ..services.sync import registry_host
from .jobs import Job
from .tracked import TrackedImages
from .worker import ImageGone, ScanSummary, is_gone

if TYPE_CHECKING:
    from ..harbor_scanner.scans import HarborScans

HARBOR_TRIGGER = "harbor"


class JobScanner:
    def __init__(self, scans: ScanService, tracked: TrackedImages, harbor: HarborScans | None = None) -> None:
        self.scans = scans
        self.tracked = tracked
        self.harbor = harbor

    async def __call__(self, job: Job) -> ScanSummary:
        if job.integration_id is None:
            raise IntegrationNotFound(f"integration {job.integration!r} was deleted")
        if job.trigger == HARBOR_TRIGGER and self.harbor is not None:
            outcome = await self._harbor_scan(job, self.harbor)
        else:
            view = await asyncio.to_thread(self.scans.images.integrations.by_id, job.integration_id)
            # With the integration's host: a bare "alpine" would otherwise read as Docker Hub's library/alpine.
            text = f"{registry_host(view.url)}/{job.image}"
            try:
                outcome = await self.scans.scan(text, registry=view.name, platform=job.platform or None)
            except NotFoundError as error:
                if not is_gone(error):
                    raise
                await asyncio.to_thread(self.tracked.mark_gone, job.integration_id, job.repository, job.reference)
                raise ImageGone(error.message) from error
        stats = outcome.report.stats
        summary = {
            "findings": severity_counts(outcome.findings),
            "packages": len(outcome.report.inventory.packages),
            "layers": stats.layers,
            "layers_fetched": stats.layers_fetched,
            "layers_from_cache": stats.layers_from_cache,
            "platform": outcome.report.details.platform,
            "changes": len(outcome.changes),
        }
        return ScanSummary(outcome.report.details.digest, summary, stats.bytes_fetched)

    async def _harbor_scan(self, job: Job, harbor: HarborScans) -> ScanOutcome:
        """Pulled with the credential Harbor sent (it deletes the robot once the scan ends, so every blob is read
        before the reports are written), then the reports rendered for each waiting Harbor request."""
        resolved = await asyncio.to_thread(harbor.pull_access, job)
        outcome = await self.scans.scan_resolved(resolved)
        await asyncio.to_thread(harbor.finish, job, outcome.report, outcome.findings)
        return outcome
