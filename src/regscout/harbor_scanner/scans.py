"""Harbor's scans: accepted as a job in the shared queue, pulled with the credential Harbor sent, answered with
the report rendered when the job ended. The credential is kept encrypted only while the scan runs."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..analysis.image import ImageReport
from ..registries.auth import Credentials, TlsSettings
from ..registries.manifest import Platform
from ..registries.reference import parse_reference
from ..scanning.jobs import Job, JobSpec, JobStore, now_utc
from ..scanning.tracked import TrackedImages
from ..secrets import Secret, SecretBox
from ..services.images import ResolvedImage
from ..services.sync import registry_host
from ..store.db import Database, rows_changed
from ..store.harbor_models import HarborRegistration, HarborScan
from ..store.jobs_models import ScanJob
from ..vulndb.matcher import Finding
from . import mime
from .registrations import Caller, Registrations
from .reports import artifact_of, sbom_report, vulnerability_report
from .request import ScanRequest

TRIGGER = "harbor"
# How long a finished report stays: Harbor polls for at most its own 30 minutes; an hour of margin is HARBOR.md's.
KEEP_REPORTS = timedelta(hours=24)
REFRESH_AFTER_SECONDS = 5
EXPIRE_EVERY = 600.0  # seconds
SCAN_DONE_STATES = ("failed", "cancelled")


class ScanNotFound(Exception):
    pass


class HarborCredentialError(ValueError):
    """The registry authorization Harbor sent cannot be used."""


@dataclass(frozen=True)
class Answer:
    """What GET /scan/{id}/report answers: 200 with a report, 302 (not ready), or an error status and message."""

    status: int
    report: dict[str, Any] | None = None
    message: str = ""
    refresh_after: int = REFRESH_AFTER_SECONDS


def registry_credentials(authorization: str) -> Credentials | None:
    """Harbor's registry.authorization: `Basic base64(robot$name:secret)` split on the first colon (the name has
    a `$`), `Bearer <token>` passed through as it is, empty for anonymous."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credentials("", Secret(value), bearer=True)
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise HarborCredentialError("registry.authorization is Basic but not base64 of user:password") from None
        username, colon, password = decoded.partition(":")
        if not colon or not username:
            raise HarborCredentialError("registry.authorization is Basic but holds no user:password")
        return Credentials(username, Secret(password))
    raise HarborCredentialError("registry.authorization must be Basic or Bearer")


class HarborScans:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        jobs: JobStore,
        registrations: Registrations,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.box = box
        self.jobs = jobs
        self.registrations = registrations
        self._expired_at = -EXPIRE_EVERY
        self._notify = notify

    # ---- POST /scan -------------------------------------------------------------------------

    def accept(self, caller: Caller, request: ScanRequest) -> str:
        """Record the request and queue its job; returns the id Harbor polls with. Nothing is fetched here."""
        registry_credentials(request.authorization)  # refuse one that cannot be used before queueing
        if not caller.allows(request.registry_url):
            raise HarborCredentialError(
                f"registry.url {request.registry_url} is not on a registry host registration {caller.name!r} "
                f"allows ({', '.join(caller.registry_hosts)}); regscout harbor edit --registry-host adds one"
            )
        scan_id = str(uuid.uuid4())
        ciphertext = self.box.encrypt(Secret(request.authorization)) if request.authorization else None
        self._expire_now_and_then()
        try:
            self._record(caller, request, scan_id, ciphertext)
        except IntegrityError:
            # Another request queued this artifact's job between our read and our insert: it is active now.
            self._record(caller, request, scan_id, ciphertext)
        return scan_id

    def _record(self, caller: Caller, request: ScanRequest, scan_id: str, ciphertext: str | None) -> None:
        """The scan, its artifact among the tracked images, and its job (new, or the artifact's active one): one
        write transaction, since writers take turns on SQLite."""
        with self.db.session() as session:
            integration_id, integration = self.registrations.ensure_integration(session, caller, request.registry_url)
            TrackedImages.add(
                session, integration_id, request.repository, request.tag or request.digest, request.digest
            )
            spec = JobSpec(
                integration_id=integration_id,
                integration_name=integration,
                repository=request.repository,
                reference=request.digest,
                platform="",
                trigger=TRIGGER,
                timeout_seconds=caller.scan_timeout_seconds,
                digest=request.digest,
            )
            enqueued = self.jobs.enqueue_in(session, [spec])[0]
            session.add(
                HarborScan(
                    id=scan_id,
                    registration_id=caller.id,
                    job_id=enqueued.job_id,
                    capability=",".join(request.capabilities),
                    sbom_media_type=request.sbom_media_type,
                    registry_url=request.registry_url,
                    repository=request.repository,
                    tag=request.tag,
                    digest=request.digest,
                    mime_type=request.mime_type,
                    authorization_ciphertext=ciphertext,
                )
            )

    def _expire_now_and_then(self) -> None:
        """Drop reports older than KEEP_REPORTS, at most once every EXPIRE_EVERY per process (not per request)."""
        now = time.monotonic()
        if now - self._expired_at < EXPIRE_EVERY:
            return
        self._expired_at = now
        self.expire()

    def expire(self) -> int:
        """Drop the scans older than KEEP_REPORTS; how many."""
        with self.db.session() as session:
            return rows_changed(session, delete(HarborScan).where(HarborScan.created_at < now_utc() - KEEP_REPORTS))

    # ---- GET /scan/{id}/report ----------------------------------------------------------------

    def answer(self, caller: Caller, scan_id: str, report_type: str, sbom_media_type: str | None) -> Answer:
        """One read of the scan with its job's state (by primary key)."""
        with self.db.session() as session:
            found = session.execute(
                select(HarborScan, ScanJob.state, ScanJob.reason)
                .outerjoin(ScanJob, ScanJob.id == HarborScan.job_id)
                .where(HarborScan.id == scan_id, HarborScan.registration_id == caller.id)
            ).one_or_none()
            if found is None:
                return Answer(404, message=f"no scan request {scan_id} (unknown, or older than a day)")
            scan, state, reason = found
            capabilities = scan.capability.split(",")
            wanted = "sbom" if report_type == mime.SBOM_REPORT else "vulnerability"
            if wanted not in capabilities:
                return Answer(
                    400, message=f"scan {scan_id} was requested for {scan.capability}, not for a {wanted} report"
                )
            if wanted == "sbom":
                if sbom_media_type not in mime.SBOM_FORMATS:
                    shown = repr(sbom_media_type) if sbom_media_type else "none"
                    return Answer(
                        400, message=f"sbom_media_type must be one of {', '.join(mime.SBOM_FORMATS)} (got {shown})"
                    )
                if sbom_media_type != scan.sbom_media_type:
                    return Answer(400, message=f"scan {scan_id} produces {scan.sbom_media_type}, not {sbom_media_type}")
            if scan.report is not None and wanted in scan.report:
                return Answer(200, scan.report[wanted])
            if scan.error is not None:
                return Answer(500, message=scan.error)
            if state == "succeeded" or (state is None and scan.job_id is None):
                # Its job ended after reading which scans wait on it but before this request joined it (or the
                # job is gone): run one again for this scan, whose credential is still here.
                scan.job_id = self._requeue(session, caller, scan)
                self._notify()
                return Answer(302)
            if state in SCAN_DONE_STATES:
                message = f"the scan {state}: {reason or 'no reason recorded'}"
                scan.error, scan.finished_at, scan.authorization_ciphertext = message, now_utc(), None
                return Answer(500, message=message)
            return Answer(302)

    # ---- the job's side -------------------------------------------------------------------------

    def pull_access(self, job: Job) -> ResolvedImage:
        """The registry URL, credential and TLS trust of the newest running Harbor scan of the job's artifact."""
        with self.db.session() as session:
            found = session.execute(
                select(HarborScan, HarborRegistration)
                .join(HarborRegistration, HarborRegistration.id == HarborScan.registration_id)
                .where(*self._of_job(job), HarborScan.finished_at.is_(None))
                .order_by(HarborScan.created_at.desc())
                .limit(1)
            ).one_or_none()
            if found is None:
                raise ScanNotFound(f"no Harbor scan request waits for {job.image} (expired or removed)")
            scan, registration = found
            authorization = (
                self.box.decrypt(scan.authorization_ciphertext).reveal() if scan.authorization_ciphertext else ""
            )
            url, repository, digest = scan.registry_url, scan.repository, scan.digest
            tls = TlsSettings(verify=not registration.tls_insecure, ca_pem=registration.ca_pem)
            source = f"Harbor registration {registration.name}"
        return ResolvedImage(
            parse_reference(f"{registry_host(url)}/{repository}@{digest}"),
            url,
            registry_credentials(authorization),
            tls,
            source,
            Platform("linux", "amd64"),
        )

    def finish(self, job: Job, report: ImageReport, findings: Sequence[Finding]) -> None:
        """Render the reports of every open Harbor scan of this artifact and drop their credentials."""
        with self.db.session() as session:
            scans = session.scalars(select(HarborScan).where(*self._of_job(job), HarborScan.finished_at.is_(None)))
            vulnerability: dict[str, Any] | None = None
            sboms: dict[str, dict[str, Any]] = {}
            for scan in scans:
                capabilities = scan.capability.split(",")
                artifact = artifact_of(scan.repository, scan.digest, scan.tag, scan.mime_type)
                reports: dict[str, Any] = {}
                if "vulnerability" in capabilities:
                    vulnerability = vulnerability or vulnerability_report(findings, artifact)
                    reports["vulnerability"] = {**vulnerability, "artifact": artifact}
                if "sbom" in capabilities and scan.sbom_media_type:
                    media = scan.sbom_media_type
                    if media not in sboms:
                        sboms[media] = sbom_report(report, media, registry_host(scan.registry_url), artifact)
                    reports["sbom"] = {**sboms[media], "artifact": artifact}
                scan.report, scan.finished_at, scan.authorization_ciphertext = reports, now_utc(), None

    def _requeue(self, session: Session, caller: Caller, scan: HarborScan) -> int:
        integration_id, integration = self.registrations.ensure_integration(session, caller, scan.registry_url)
        spec = JobSpec(
            integration_id=integration_id,
            integration_name=integration,
            repository=scan.repository,
            reference=scan.digest,
            platform="",
            trigger=TRIGGER,
            timeout_seconds=caller.scan_timeout_seconds,
            digest=scan.digest,
        )
        return self.jobs.enqueue_in(session, [spec])[0].job_id

    @staticmethod
    def _of_job(job: Job) -> tuple[Any, ...]:
        return (
            HarborScan.registration_id.in_(
                select(HarborRegistration.id).where(HarborRegistration.integration_id == job.integration_id)
            ),
            HarborScan.repository == job.repository,
            HarborScan.digest == job.reference,
        )
