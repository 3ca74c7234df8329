"""The CI gate: scan one image (stored like any scan) and evaluate the enabled policies on it, with the stored risk
acceptances and any the caller brings (a ``.regscoutignore``, VEX documents), into a check document."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..analysis.image import ImageReport, ProgressCallback
from ..policy import Acceptance, evaluate
from ..report.check import CheckedImage, check_document
from ..vulndb.matcher import Finding
from .scan import ScanService
from .verdicts import Verdicts, advisory_dates, finding_ids


class CheckService:
    def __init__(self, scans: ScanService, verdicts: Verdicts) -> None:
        self.scans = scans
        self.verdicts = verdicts

    async def check(
        self,
        ref: str,
        *,
        registry: str | None = None,
        platform: str | None = None,
        acceptances: Sequence[Acceptance] = (),
        progress: ProgressCallback | None = None,
    ) -> dict[str, Any]:
        """The check document (report/check.py). ``acceptances`` come before the stored ones, so a finding both
        accept is reported under the caller's."""
        outcome = await self.scans.scan(ref, registry=registry, platform=platform, progress=progress)
        reference = outcome.resolved.reference
        return self.evaluate(
            ref,
            registry_host=reference.registry_host,
            tag=reference.tag or "",
            report=outcome.report,
            findings=outcome.findings,
            scanned_at=datetime.now(UTC),
            acceptances=acceptances,
        )

    def evaluate(
        self,
        ref: str,
        *,
        registry_host: str,
        tag: str,
        report: ImageReport,
        findings: Sequence[Finding],
        scanned_at: datetime | None,
        acceptances: Sequence[Acceptance] = (),
    ) -> dict[str, Any]:
        """The check document of an image already analysed (a scan just made, or a stored result)."""
        policy_set = self.verdicts.load()
        details = report.details
        now = datetime.now(UTC)
        dates = (
            advisory_dates(findings, self.verdicts.published(finding_ids(findings))) if policy_set.needs_dates else {}
        )
        subject = self.verdicts.subject(
            registry_host=registry_host,
            repository=details.repository,
            reference=tag or details.digest,
            digest=details.digest,
            scanned_at=scanned_at,
            findings=findings,
            inventory=report.inventory,
            details=details,
            dates=dates,
        )
        evaluation = evaluate(policy_set.compiled, subject, [*acceptances, *policy_set.acceptances], now)
        image = CheckedImage(
            ref=ref,
            registry=registry_host,
            repository=details.repository,
            tag=tag,
            digest=details.digest,
            platform=details.platform,
        )
        return check_document(image, evaluation, policy_set.policies, now)
