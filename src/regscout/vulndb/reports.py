"""What updates, imports and the status report return (to the CLI as JSON and to the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class SourceResult(BaseModel):
    """The outcome of updating or importing one source. On failure the previous data keeps
    serving: `records` is what is served after the run either way."""

    source: str
    status: Literal["ok", "failed"]
    mode: Literal["full", "incremental"] | None = None
    records: int = 0
    written: int = 0  # records written in this run
    removed: int = 0  # records no longer served (withdrawn or gone from the source)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SourceStatus(BaseModel):
    name: str
    url: str  # where the served records came from (the configured URL before the first update)
    kind: str
    configured: bool  # in the source list; an imported source that is not is never updated on schedule
    record_count: int
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    last_modified_seen: datetime | None
    next_update_at: datetime | None  # None: no scheduled updates for this source


class EcosystemCount(BaseModel):
    source: str
    ecosystem: str
    records: int
    packages: int


class DBStatus(BaseModel):
    update_interval_seconds: int
    sources: list[SourceStatus]
    ecosystems: list[EcosystemCount]
