"""The console's vulnerability search: a CVE, GHSA or advisory id → every image it affects with the package, the
installed version and the fixed-in versions; a package name → its findings across images. Paged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ...services.image_catalog import DEFAULT_SIZE, ImageCatalog
from ..auth import User, principal_of, runtime_of
from ..templating import render
from .images import fragment_for, int_param, size_param, text_param

router = APIRouter()


@router.get("/vulnerabilities", response_class=HTMLResponse, include_in_schema=False)
def vulnerabilities(request: Request, user: User) -> HTMLResponse:
    params = request.query_params
    query = text_param(params, "q")
    size = size_param(params, DEFAULT_SIZE)
    catalog = ImageCatalog(runtime_of(request).db, principal_of(request, user))
    search = catalog.search(query, int_param(params, "page", 1), size) if query else None
    context: dict[str, Any] = {
        "q": query,
        "search": search,
        "params": {"q": query, **({"size": str(size)} if size != DEFAULT_SIZE else {})},
    }
    if fragment_for(request, "vuln-results"):
        return render(request, "vulnerabilities/_results.html", user, section="vulnerabilities", **context)
    return render(request, "vulnerabilities/search.html", user, section="vulnerabilities", **context)
