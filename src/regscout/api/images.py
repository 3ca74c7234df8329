"""/api/v1/images: details and SBOM of one image, analysed from its registry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from ..analysis.sbom import native, render
from ..report.writer import rendered
from .authorization import require_image_in_scope
from .deps import RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1/images", tags=["images"])

RefQuery = Annotated[str, Query(description="host[:port]/repository:tag or …@sha256:…")]
RegistryQuery = Annotated[str | None, Query(description="Integration whose credentials to use")]
PlatformQuery = Annotated[str | None, Query(description="OS/ARCH[/VARIANT] from a multi-arch index")]
MEDIA_TYPES = {
    "cyclonedx": "application/vnd.cyclonedx+json",
    "spdx": "application/spdx+json",
    "json": "application/json",
}


@router.get("/inspect")
async def inspect_image(
    rt: RuntimeDep, principal: TokenDep, ref: RefQuery, registry: RegistryQuery = None, platform: PlatformQuery = None
) -> dict[str, Any]:
    """Image details, OS and packages (each with the layer that brought it)."""
    require_image_in_scope(principal, ref)
    _resolved, report = await rt.images.analyze(ref, registry=registry, platform=platform)
    return native(report)


@router.get("/sbom")
async def image_sbom(
    rt: RuntimeDep,
    principal: TokenDep,
    ref: RefQuery,
    registry: RegistryQuery = None,
    platform: PlatformQuery = None,
    format: Annotated[Literal["cyclonedx", "spdx", "json"], Query()] = "cyclonedx",
) -> Response:
    require_image_in_scope(principal, ref)
    resolved, report = await rt.images.analyze(ref, registry=registry, platform=platform)
    host = resolved.reference.registry_host
    image = f"{host}/{report.details.repository}@{report.details.digest}"
    return Response(rendered(image, format, lambda: render(report, format, host)), media_type=MEDIA_TYPES[format])
