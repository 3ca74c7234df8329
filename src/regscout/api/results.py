"""/api/v1/scan and /api/v1/results: scan an image, read stored results and their changes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from ..report import filter_findings, parse_severities
from .authorization import require_image_in_scope
from .deps import RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1", tags=["results"])


class ScanRequest(BaseModel):
    ref: str = Field(description="host[:port]/repository:tag or …@sha256:…")
    registry: str | None = Field(default=None, description="Integration whose credentials to use")
    platform: str | None = None
    severity: str | None = Field(default=None, description="Only these severities, e.g. CRITICAL,HIGH")
    ignore_unfixed: bool = False


@router.post("/scan")
async def scan_image(body: ScanRequest, rt: RuntimeDep, principal: TokenDep) -> dict[str, Any]:
    """Scan now; the full result is stored per digest, the response is filtered as asked."""
    require_image_in_scope(principal, body.ref)
    outcome = await rt.scans.scan(body.ref, registry=body.registry, platform=body.platform)
    shown = filter_findings(outcome.findings, parse_severities(body.severity), body.ignore_unfixed)
    return {
        "digest": outcome.report.details.digest,
        "findings": [asdict(f) for f in shown],
        "changes": [asdict(c) for c in outcome.changes],
    }


@router.get("/results")
def list_results(rt: RuntimeDep, principal: TokenDep) -> list[dict[str, Any]]:
    return [r for r in rt.results.summary() if principal.sees(r["registry"], r["repository"])]


@router.get("/results/{digest}")
def image_findings(digest: str, rt: RuntimeDep, _: TokenDep) -> list[dict[str, Any]]:
    findings = rt.results.findings(digest)
    if findings is None:
        raise HTTPException(404, f"no stored result for {digest}")
    return [asdict(f) for f in findings]


@router.get("/results/{digest}/changes")
def image_changes(digest: str, rt: RuntimeDep, _: TokenDep) -> list[dict[str, Any]]:
    return rt.results.changes(digest)
