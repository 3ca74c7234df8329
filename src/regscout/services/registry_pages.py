"""What the console's registries pages need beyond the shared services: pull settings merged but not saved, and
the preview of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..selection import PullSettings
from .integrations import merge_pull
from .sync import SyncPlan, SyncService


def candidate_settings(sync: SyncService, name: str, changes: dict[str, Any]) -> PullSettings:
    """The integration's stored pull settings with ``changes`` over them, validated as a save would validate them
    (InvalidIntegration says what is wrong); nothing is stored."""
    return merge_pull(sync.integrations.pull_settings(name), changes)


async def preview_pull(
    sync: SyncService, name: str, settings: PullSettings, *, now: datetime | None = None
) -> SyncPlan:
    """The plan a sync would make once ``settings`` were saved. Nothing is queued or stored."""
    return await sync.dry_run(name, now=now, settings=settings)
