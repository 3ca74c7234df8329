"""/api/v1/db: the vulnerability data's status, updates and imports."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..vulndb.errors import SourceConfigError
from ..vulndb.reports import DBStatus, SourceResult
from ..vulndb.sources import is_remote
from .deps import ActorDep, RuntimeDep, TokenDep

router = APIRouter(prefix="/api/v1/db", tags=["vulnerability data"])


class UpdateRequest(BaseModel):
    sources: list[str] | None = Field(default=None, description="Source names; all configured sources when omitted")
    full: bool = Field(default=False, description="Download every source whole, even where deltas exist")


class ImportRequest(BaseModel):
    url: str = Field(description="http(s) URL of a zip of OSV records")
    source: str | None = Field(default=None, description="Source to replace (default: from the URL)")


# Plain `def` routes: FastAPI runs them in its thread pool, as downloads and imports block.


@router.get("/status")
def db_status(rt: RuntimeDep, _: TokenDep) -> DBStatus:
    """Sources, records per ecosystem, last update and error, next scheduled update."""
    return rt.vulndb.status()


@router.post("/update")
def db_update(rt: RuntimeDep, _: TokenDep, body: UpdateRequest | None = None) -> list[SourceResult]:
    """Update now and wait for it. A failed source keeps its previous data; its result says why."""
    request = body or UpdateRequest()
    try:
        return rt.vulndb.update(request.sources, full=request.full)
    except SourceConfigError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.post("/import", response_model=SourceResult, responses={422: {"description": "The import failed"}})
def db_import(rt: RuntimeDep, actor: ActorDep, body: ImportRequest) -> JSONResponse:
    """Replace one source's records with the zip at `url` (server-side files are not accepted here:
    use `regscout db import` on the server). 200 with the result, or 422 with the result when it failed."""
    if not is_remote(body.url):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "url must be an http:// or https:// URL")
    try:
        result = rt.vulndb.import_path(body.url, body.source, actor=actor)
    except SourceConfigError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    code = status.HTTP_200_OK if result.ok else status.HTTP_422_UNPROCESSABLE_CONTENT
    return JSONResponse(result.model_dump(mode="json"), status_code=code)
