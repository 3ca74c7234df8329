"""The dashboard: registries by status, images and jobs, findings over 30 days, what is most vulnerable."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..auth import User, runtime_of
from ..templating import render

router = APIRouter()


def script_json(value: object) -> str:
    """JSON to embed in <script type="application/json">: `<` escaped so no `</script>` can end the block."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, user: User) -> HTMLResponse:
    board = runtime_of(request).overview.dashboard()
    history = {
        "from": board.first_day.isoformat(),
        "to": board.last_day.isoformat(),
        "points": [{"day": day.isoformat(), "counts": counts} for day, counts in board.history],
    }
    return render(request, "dashboard.html", user, section="dashboard", board=board, history_json=script_json(history))
