"""Harbor's scans in the store (SQLite and PostgreSQL): the job each one queues, the report each one is answered
with, the robot credential kept encrypted only while the scan runs, and the Harbor External Integration."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from regscout.analysis.details import ImageDetails
from regscout.analysis.image import AnalysisStats, ImageReport
from regscout.analysis.merge import Inventory
from regscout.harbor_scanner import mime
from regscout.harbor_scanner.registrations import Caller
from regscout.harbor_scanner.request import ScanRequest
from regscout.harbor_scanner.scans import KEEP_REPORTS, HarborCredentialError
from regscout.runtime import Runtime
from regscout.scanning.jobs import Failure, now_utc
from regscout.secrets import SecretBox, generate_key
from regscout.services.audit import SYSTEM
from regscout.store.harbor_models import HarborScan
from regscout.store.jobs_models import ScanJob

DIGEST = "sha256:" + "ab" * 32
SECRET = "robot-secret-never-stored-in-clear"
BASIC = "Basic " + base64.b64encode(f"robot$prod+scan:{SECRET}".encode()).decode()


def request(capabilities: tuple[str, ...] = ("vulnerability",), sbom: str | None = None, **changes: str) -> ScanRequest:
    fields = {
        "registry_url": "https://harbor.example.com",
        "authorization": BASIC,
        "repository": "library/app",
        "tag": "1.0",
        "digest": DIGEST,
        "mime_type": mime.DOCKER_MANIFEST,
        **changes,
    }
    return ScanRequest(capabilities=capabilities, sbom_media_type=sbom, **fields)  # type: ignore[arg-type]


def caller(runtime: Runtime, name: str = "prod", **options: object) -> Caller:
    _, key = runtime.harbor_registrations.add(name, **options, actor=SYSTEM)  # type: ignore[arg-type]
    found = runtime.harbor_registrations.authenticate(None, key.reveal())
    assert isinstance(found, Caller), found
    return found


def empty_report() -> ImageReport:
    """An image with no packages: what a scratch image gives."""
    details = ImageDetails("library/app", DIGEST, DIGEST, mime.DOCKER_MANIFEST, None, "linux/amd64", "", None, 0, [])
    return ImageReport(details, Inventory(None, []), AnalysisStats(), {})


def test_a_scan_queues_one_harbor_job_and_keeps_the_credential_encrypted(runtime: Runtime) -> None:
    prod = caller(runtime, scan_timeout_seconds=7200.0)
    scan_id = runtime.harbor_scans.accept(prod, request())
    with runtime.db.session() as session:
        scan = session.get_one(HarborScan, scan_id)
        job = session.get_one(ScanJob, scan.job_id)
        assert (job.trigger, job.reference, job.digest, job.timeout_seconds) == ("harbor", DIGEST, DIGEST, 7200.0)
        assert job.priority == 10 and job.state == "queued"
        assert scan.authorization_ciphertext and SECRET not in scan.authorization_ciphertext
        dumped = " ".join(str(v) for v in session.execute(text("SELECT * FROM harbor_scans")).one())
    assert SECRET not in dumped and base64.b64encode(f"robot$prod+scan:{SECRET}".encode()).decode() not in dumped
    assert runtime.harbor_scans.answer(prod, scan_id, mime.VULNERABILITY_REPORT, None).status == 302

    views = {v.name: v for v in runtime.integrations.list_all()}
    external = views["Harbor External Integration (prod)"]
    assert external.url == "https://harbor.example.com"
    assert external.options == {"managed_by": "Harbor registration prod"}
    assert runtime.harbor_registrations.get("prod").integration == "Harbor External Integration (prod)"

    # the worker's side: the registry, the credential and the TLS trust the scan pulls with
    claimed = runtime.jobs.claim_next("w1", 60)
    assert claimed is not None and claimed.trigger == "harbor"
    access = runtime.harbor_scans.pull_access(claimed)
    assert access.base_url == "https://harbor.example.com" and access.reference.digest == DIGEST
    assert access.credentials is not None and access.credentials.username == "robot$prod+scan"
    assert access.credentials.secret.reveal() == SECRET and access.tls.verify


def test_a_failed_job_answers_500_with_its_reason_once_and_drops_the_credential(runtime: Runtime) -> None:
    prod = caller(runtime)
    scan_id = runtime.harbor_scans.accept(prod, request())
    job = runtime.jobs.claim_next("w1", 60)
    assert job is not None
    runtime.jobs.fail(job.id, "w1", Failure("the token service rejected the credentials", retry=False))
    answer = runtime.harbor_scans.answer(prod, scan_id, mime.VULNERABILITY_REPORT, None)
    assert answer.status == 500 and answer.message == "the scan failed: the token service rejected the credentials"
    with runtime.db.session() as session:
        scan = session.get_one(HarborScan, scan_id)
        assert scan.authorization_ciphertext is None and scan.finished_at is not None
    assert runtime.harbor_scans.answer(prod, scan_id, mime.VULNERABILITY_REPORT, None).status == 500


def test_requests_for_one_artifact_share_a_job_and_each_gets_its_report(runtime: Runtime) -> None:
    prod = caller(runtime)
    vulnerability = runtime.harbor_scans.accept(prod, request())
    sbom = runtime.harbor_scans.accept(prod, request(("sbom",), mime.CYCLONEDX, tag=""))
    with runtime.db.session() as session:
        jobs = {session.get_one(HarborScan, i).job_id for i in (vulnerability, sbom)}
    assert len(jobs) == 1
    job = runtime.jobs.claim_next("w1", 60)
    assert job is not None
    runtime.harbor_scans.finish(job, empty_report(), [])

    ready = runtime.harbor_scans.answer(prod, vulnerability, mime.HARBOR_VULNERABILITY_REPORT, None)
    assert ready.status == 200 and ready.report is not None
    assert ready.report["artifact"]["tag"] == "1.0" and ready.report["vulnerabilities"] == []
    bom = runtime.harbor_scans.answer(prod, sbom, mime.SBOM_REPORT, mime.CYCLONEDX)
    assert bom.status == 200 and bom.report is not None and bom.report["sbom"]["bomFormat"] == "CycloneDX"
    assert bom.report["artifact"]["tag"] == ""
    # what Harbor can ask wrongly about a scan that exists
    assert runtime.harbor_scans.answer(prod, sbom, mime.SBOM_REPORT, None).status == 400
    assert runtime.harbor_scans.answer(prod, sbom, mime.SBOM_REPORT, mime.SPDX).status == 400
    assert runtime.harbor_scans.answer(prod, vulnerability, mime.SBOM_REPORT, mime.SPDX).status == 400
    # another registration does not see this one's scans
    other = caller(runtime, "other")
    assert runtime.harbor_scans.answer(other, vulnerability, mime.VULNERABILITY_REPORT, None).status == 404
    with runtime.db.session() as session:
        wiped = session.scalars(select(HarborScan.authorization_ciphertext)).all()
    assert wiped == [None, None]


def test_rotating_the_secret_key_re_encrypts_the_credential_of_a_running_scan(runtime: Runtime) -> None:
    prod = caller(runtime)
    runtime.harbor_scans.accept(prod, request())
    new_box = SecretBox([generate_key(), *runtime.box.keys])
    assert runtime.integrations.rotate_secrets(new_box, actor=SYSTEM) == 1
    runtime.harbor_scans.box = SecretBox([new_box.keys[0]])  # the old key is gone
    job = runtime.jobs.claim_next("w1", 60)
    assert job is not None
    access = runtime.harbor_scans.pull_access(job)
    assert access.credentials is not None and access.credentials.secret.reveal() == SECRET


def test_registry_hosts_limit_where_scans_pull_from(runtime: Runtime) -> None:
    pinned = caller(runtime, registry_hosts=["harbor.example.com", "harbor-core:8080"])
    runtime.harbor_scans.accept(pinned, request())
    runtime.harbor_scans.accept(pinned, request(registry_url="http://harbor-core:8080", digest="sha256:" + "cd" * 32))
    with pytest.raises(HarborCredentialError, match="not on a registry host registration 'prod' allows"):
        runtime.harbor_scans.accept(pinned, request(registry_url="http://169.254.169.254"))


@pytest.mark.parametrize(
    "authorization", ["Basic not-base64!", "Basic " + base64.b64encode(b"no-colon").decode(), "Negotiate abc"]
)
def test_an_unusable_registry_authorization_is_refused_before_anything_is_queued(
    runtime: Runtime, authorization: str
) -> None:
    prod = caller(runtime)
    with pytest.raises(HarborCredentialError):
        runtime.harbor_scans.accept(prod, request(authorization=authorization))
    with runtime.db.session() as session:
        assert session.scalar(select(ScanJob.id)) is None


def test_reports_older_than_a_day_are_dropped(runtime: Runtime) -> None:
    prod = caller(runtime)
    old = runtime.harbor_scans.accept(prod, request())
    with runtime.db.session() as session:
        session.execute(
            update(HarborScan)
            .where(HarborScan.id == old)
            .values(created_at=now_utc() - KEEP_REPORTS - timedelta(minutes=1))
        )
    kept = runtime.harbor_scans.accept(prod, request(digest="sha256:" + "ef" * 32))
    assert runtime.harbor_scans.expire() == 1
    assert runtime.harbor_scans.answer(prod, old, mime.VULNERABILITY_REPORT, None).status == 404
    assert runtime.harbor_scans.answer(prod, kept, mime.VULNERABILITY_REPORT, None).status == 302


def test_a_scan_that_joined_a_job_after_it_read_its_scans_gets_a_job_of_its_own(runtime: Runtime) -> None:
    prod = caller(runtime)
    first = runtime.harbor_scans.accept(prod, request())
    job = runtime.jobs.claim_next("w1", 60)
    assert job is not None
    runtime.harbor_scans.finish(job, empty_report(), [])  # the job has rendered the reports of the scans it saw
    late = runtime.harbor_scans.accept(prod, request(tag="latest"))  # joins the job, which is still running
    with runtime.db.session() as session:
        assert session.get_one(HarborScan, late).job_id == job.id
    assert runtime.jobs.succeed(job.id, "w1", result_digest=DIGEST, summary={}, bytes_fetched=0)
    assert runtime.harbor_scans.answer(prod, first, mime.VULNERABILITY_REPORT, None).status == 200
    # the late scan is not left waiting on a job that will never report it
    assert runtime.harbor_scans.answer(prod, late, mime.VULNERABILITY_REPORT, None).status == 302
    again = runtime.jobs.claim_next("w1", 60)
    assert again is not None and again.id != job.id and again.trigger == "harbor"
    runtime.harbor_scans.finish(again, empty_report(), [])
    ready = runtime.harbor_scans.answer(prod, late, mime.VULNERABILITY_REPORT, None)
    assert ready.status == 200 and ready.report is not None and ready.report["artifact"]["tag"] == "latest"
