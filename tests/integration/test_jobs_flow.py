"""Syncs, jobs and the embedded executor against a real registry: queue, scan, gone images, timeouts, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regscout.api.app import create_app
from regscout.runtime import Runtime
from regscout.scanning.config import JobConfig
from regscout.scanning.jobs import JobError
from regscout.scanning.local import LocalExecutor
from regscout.scanning.manual import NotIntegrated
from regscout.services.audit import SYSTEM
from regscout.services.integrations import IntegrationInput
from regscout.store.results_models import ScanResult
from tests.harness.faults import FaultProxy, Hang, Status
from tests.harness.images import Pusher, base_layer, build_image, build_index, small_image
from tests.harness.registry import RunningRegistry, start_registry

from .cli_support import wait_until
from .conftest import make_runtime

FAST_JOBS = JobConfig(workers=2, lease_seconds=3, poll_seconds=0.1, retry_delay_seconds=0)
TAGS = [("alpine", "3.19"), ("alpine", "3.20"), ("team/app", "1"), ("team/app", "2")]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    running = start_registry("anonymous", tmp_path_factory.mktemp("jobs-registry"))
    try:
        with Pusher(running) as pusher:
            for repo, tag in TAGS:
                pusher.push(repo, tag, small_image(f"jobs-{repo}-{tag}"))
        yield running
    finally:
        running.stop()


def new_runtime(home: Path, url: str, *, pull: dict[str, object] | None = None) -> Runtime:
    rt = make_runtime(home)
    rt.__dict__["job_config"] = FAST_JOBS
    asyncio.run(
        rt.integrations.add(IntegrationInput(name="reg", type="docker-registry", url=url), test=False, actor=SYSTEM)
    )
    if pull:
        from regscout.services.integrations import IntegrationChanges

        asyncio.run(rt.integrations.edit("reg", IntegrationChanges(pull=pull), test=False, actor=SYSTEM))
    return rt


class Executor:
    """The embedded executor, started for one test and stopped after it."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.executor = LocalExecutor(rt.jobs, rt.job_scanner(), "test", workers=2, lease_seconds=3, poll_seconds=0.1)

    def __enter__(self) -> Executor:
        self.executor.start()
        self.rt.local_executor = self.executor
        return self

    def __exit__(self, *exc: object) -> None:
        self.rt.local_executor = None
        self.executor.stop()

    def wait_for_jobs(self, seconds: float = 60) -> None:
        def ended() -> bool:
            counts = self.rt.jobs.counts()
            return counts["queued"] == 0 and counts["running"] == 0

        wait_until(ended, seconds, lambda: f"jobs still active: {self.rt.jobs.counts()}")


def result_rows(rt: Runtime) -> int:
    with rt.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(ScanResult)) or 0)


def test_a_sync_queues_what_the_rules_select_and_the_executor_scans_it(
    registry: RunningRegistry, tmp_path: Path
) -> None:
    rt = new_runtime(tmp_path / "home", registry.url, pull={"include": ["alpine"]})
    with Executor(rt) as executor:
        outcome = asyncio.run(rt.sync_runner.run("reg", "manual"))
        assert (len(outcome.plan.decisions), outcome.plan.selected, outcome.queued) == (4, 2, 2)
        executor.wait_for_jobs()
    jobs = rt.jobs.list()
    assert sorted(job.image for job in jobs) == ["alpine:3.19", "alpine:3.20"]
    assert {job.state for job in jobs} == {"succeeded"}
    assert all(job.result_digest and job.summary and job.summary["layers"] == 1 for job in jobs)
    assert result_rows(rt) == 2
    # Both images stand on one base layer: one job fetched it, the other waited and took it from the cache.
    assert sum(job.bytes_fetched for job in jobs) == len(base_layer().data)
    assert sorted(job.summary["layers_from_cache"] for job in jobs if job.summary) == [0, 1]
    metrics = TestClient(create_app(rt)).get("/metrics").text
    assert 'regscout_jobs{state="succeeded"} 2.0' in metrics
    assert "regscout_scan_duration_seconds_count 2.0" in metrics
    progress = rt.sync_runner.progress(outcome.sync_id)
    assert (progress.state, progress.total, progress.done, progress.by_state) == ("done", 2, 2, {"succeeded": 2})
    assert {(t.repository, t.tag, t.state) for t in rt.tracked.list(rt.integrations.identify("reg")[0])} == {
        (repo, tag, "present") for repo, tag in TAGS
    }
    # Rescan off: unchanged digests are not queued again.
    again = asyncio.run(rt.sync_runner.run("reg", "manual"))
    assert again.queued == 0
    assert {d.rule for d in again.plan.decisions if d.candidate.repository == "alpine"} == {
        "unchanged digest, rescan off"
    }


def test_an_image_deleted_from_the_registry_is_marked_gone(registry: RunningRegistry, tmp_path: Path) -> None:
    rt = new_runtime(tmp_path / "home", registry.url, pull={"include": ["nothing-selected"]})
    with Pusher(registry) as pusher:
        digest = pusher.push("doomed", "1", small_image("jobs-doomed"))
        first = asyncio.run(rt.sync_runner.run("reg", "manual"))
        assert first.gone == 0
        pusher.delete_manifest("doomed", digest)
    second = asyncio.run(rt.sync_runner.run("reg", "manual"))
    assert second.gone == 1
    integration_id = rt.integrations.identify("reg")[0]
    gone = rt.tracked.list(integration_id, state="gone")
    assert [(t.repository, t.tag) for t in gone] == [("doomed", "1")] and gone[0].gone_at is not None


def test_a_manually_added_image_that_does_not_exist_fails_as_gone(registry: RunningRegistry, tmp_path: Path) -> None:
    rt = new_runtime(tmp_path / "home", registry.url)
    with pytest.raises(NotIntegrated, match="not integrated"):
        rt.manual.add("elsewhere", "alpine:3.19")
    with pytest.raises(NotIntegrated, match="not on this integration's registry"):
        rt.manual.add("reg", "quay.io/alpine:3.19")
    added = rt.manual.add("reg", "alpine:no-such-tag")
    assert added.jobs[0].created and not rt.manual.add("reg", "alpine:no-such-tag").jobs[0].created
    with Executor(rt) as executor:
        executor.wait_for_jobs()
    job = rt.jobs.get(added.jobs[0].job_id)
    assert job.state == "failed" and job.attempts == 1
    assert job.reason is not None and job.reason.startswith("image gone from the registry")
    integration_id = rt.integrations.identify("reg")[0]
    assert [(t.tag, t.state) for t in rt.tracked.list(integration_id)] == [("no-such-tag", "gone")]


@pytest.fixture
def hanging(registry: RunningRegistry) -> Iterator[FaultProxy]:
    proxy = FaultProxy(registry.url)
    proxy.add_fault(r"/blobs/sha256:", Hang(60), times=None, method="GET")
    yield proxy
    proxy.close()


def test_a_registry_that_hangs_is_requeued_three_times_then_the_job_fails(hanging: FaultProxy, tmp_path: Path) -> None:
    rt = new_runtime(tmp_path / "home", hanging.url, pull={"scan_timeout_minutes": 0.02})  # 1.2 s
    job_id = rt.manual.add("reg", "alpine:3.19").jobs[0].job_id
    with Executor(rt) as executor:
        executor.wait_for_jobs(60)
    job = rt.jobs.get(job_id)
    assert job.state == "failed"
    assert job.reason == "timed out after 1.2 s; gave up after 4 attempts (requeued 3 times)"
    assert [a.outcome for a in job.history] == ["timed_out"] * 4


def test_a_running_job_stops_when_cancelled(hanging: FaultProxy, tmp_path: Path) -> None:
    rt = new_runtime(tmp_path / "home", hanging.url)
    job_id = rt.manual.add("reg", "alpine:3.19").jobs[0].job_id
    with Executor(rt) as executor:
        wait_until(lambda: rt.jobs.get(job_id).state == "running", 30, lambda: str(rt.jobs.get(job_id)))
        rt.jobs.cancel(job_id)
        executor.wait_for_jobs(30)
    job = rt.jobs.get(job_id)
    assert (job.state, job.attempts, [a.outcome for a in job.history]) == ("cancelled", 1, ["cancelled"])


def test_metrics_count_jobs_by_state_and_registry_errors(hanging: FaultProxy, tmp_path: Path) -> None:
    rt = new_runtime(tmp_path / "home", hanging.url, pull={"scan_timeout_minutes": 0.01})  # 0.6 s
    rt.manual.add("reg", "alpine:3.19")  # hangs: 4 attempts time out
    hanging.add_fault(r"/manifests/3.20", Status(403), times=None, method="GET")
    rt.manual.add("reg", "alpine:3.20")  # denied: fails at once
    with Executor(rt) as executor:
        executor.wait_for_jobs(60)
    text = TestClient(create_app(rt)).get("/metrics").text
    assert 'regscout_jobs{state="failed"} 2.0' in text
    assert 'regscout_jobs{state="succeeded"} 0.0' in text
    assert "regscout_queue_depth 0.0" in text
    assert 'regscout_registry_errors_total{registry="reg",status="timeout"} 4.0' in text
    assert 'regscout_registry_errors_total{registry="reg",status="403"} 1.0' in text
    assert "regscout_scan_duration_seconds_count 0.0" in text


def test_a_request_rate_limit_spaces_every_request_to_the_registry(registry: RunningRegistry, tmp_path: Path) -> None:
    with FaultProxy(registry.url) as proxy:
        rt = new_runtime(tmp_path / "home", proxy.url, pull={"requests_per_second": 20, "include": ["alpine"]})
        proxy.clear_requests()
        outcome = asyncio.run(rt.sync_runner.run("reg", "manual"))
        with Executor(rt) as executor:
            executor.wait_for_jobs()
        times = sorted(r.received_at for r in proxy.requests)
    assert outcome.queued == 2 and {job.state for job in rt.jobs.list()} == {"succeeded"}
    assert len(times) >= 10
    # 20 per second: n requests span at least (n - 1) / 20 s (a little slack for the proxy's own clock reads).
    assert times[-1] - times[0] >= (len(times) - 1) / 20 * 0.95


def test_multi_arch_images_get_a_job_per_wanted_platform_and_are_not_rescanned(tmp_path: Path) -> None:
    running = start_registry("anonymous", tmp_path / "registry")
    try:
        arm = build_image([base_layer()], architecture="arm64", labels={"seed": "multi-arm"})
        amd = build_image([base_layer()], architecture="amd64", labels={"seed": "multi-amd"})
        s390 = build_image([base_layer()], architecture="s390x", labels={"seed": "multi-s390x"})
        with Pusher(running) as pusher:
            pusher.push("multi", "both", build_index([amd, arm]))
            pusher.push("multi", "mainframe", build_index([s390]))
        rt = new_runtime(tmp_path / "home", running.url, pull={"platforms": ["linux/amd64", "linux/arm64"]})
        first = asyncio.run(rt.sync_runner.run("reg", "manual"))
        rules = {d.candidate.tag: d.rule for d in first.plan.decisions}
        assert rules["mainframe"] == "no wanted platform: has linux/s390x; wants linux/amd64, linux/arm64"
        assert first.queued == 2
        with Executor(rt) as executor:
            executor.wait_for_jobs()
        jobs = rt.jobs.list()
        assert sorted((job.platform, job.state) for job in jobs) == [
            ("linux/amd64", "succeeded"),
            ("linux/arm64", "succeeded"),
        ]
        assert {job.summary["platform"] for job in jobs if job.summary} == {"linux/amd64", "linux/arm64"}
        assert result_rows(rt) == 2
        again = asyncio.run(rt.sync_runner.run("reg", "manual"))
        assert again.queued == 0
        assert {d.candidate.tag: d.rule for d in again.plan.decisions}["both"] == "unchanged digest, rescan off"
    finally:
        running.stop()


def test_an_integration_that_harbor_manages_takes_no_images_by_hand(registry: RunningRegistry, tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "home")
    managed = IntegrationInput(
        name="harbor", type="docker-registry", url=registry.url, options={"managed_by": "harbor"}
    )
    asyncio.run(rt.integrations.add(managed, test=False, actor=SYSTEM))
    with pytest.raises(JobError, match="managed by harbor: images come from there"):
        rt.manual.add("harbor", "alpine:3.19")
    assert rt.jobs.list() == []
