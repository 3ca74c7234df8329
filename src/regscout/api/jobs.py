"""Scan jobs over the API: list, one with its attempts, cancel, retry."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..services.images import host_of
from .deps import RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs")
def list_jobs(
    rt: RuntimeDep,
    principal: TokenDep,
    state: Annotated[list[str] | None, Query(description="queued, running, succeeded, failed, cancelled")] = None,
    registry: Annotated[str | None, Query(description="Only this integration's jobs")] = None,
    sync: Annotated[int | None, Query(description="Only the jobs one sync queued")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    jobs = rt.jobs.list(states=state or (), integration=registry, sync_id=sync, limit=limit)
    if not principal.unrestricted:
        hosts = {view.name: host_of(view.url) for view in rt.integrations.list_all()}
        jobs = [j for j in jobs if principal.sees(hosts.get(j.integration, ""), j.repository)]
    return [job.to_json() for job in jobs]


@router.get("/jobs/{job_id}")
def get_job(job_id: int, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    return rt.jobs.get(job_id).to_json()


@router.post("/jobs/{job_id}/cancel")
def cancel_job(job_id: int, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one stops at its worker's next heartbeat."""
    return rt.jobs.cancel(job_id).to_json()


@router.post("/jobs/{job_id}/retry")
def retry_job(job_id: int, rt: RuntimeDep, _: TokenDep) -> dict[str, Any]:
    job = rt.jobs.retry(job_id)
    rt.notify_workers()
    return job.to_json()
