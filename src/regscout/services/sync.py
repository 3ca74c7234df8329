"""What a sync of one registry would pull and scan: list the registry, turn its tags into candidates and
decide with the integration's pull settings (scanning/syncs.py queues what this selects)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..registries.base import RepositoryListing, TagInfo
from ..registries.manifest import INDEX_TYPES
from ..registries.reference import DOCKER_HUB_HOSTS, DOCKER_HUB_REGISTRY
from ..results.service import ResultsService
from ..selection import Candidate, Decision, PullSettings, decide
from .integrations import IntegrationService


def registry_host(url: str) -> str:
    """The host (with port) scan results are stored under for an integration URL."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host = f"{host}:{parts.port}" if parts.port else host
    return DOCKER_HUB_REGISTRY if host in DOCKER_HUB_HOSTS else host


@dataclass(frozen=True)
class SyncPlan:
    """The decision for every listed tag, in listing order, and the repositories that could not be listed."""

    integration: str
    registry_host: str
    settings: PullSettings
    decisions: list[Decision]
    repository_errors: dict[str, str]
    # Per selected repository:tag, the platforms to scan; empty for a single-platform image (scanned as it is).
    platforms: dict[str, tuple[str, ...]]
    scanned_digests: frozenset[str] = frozenset()  # digests with a stored result before this sync

    @property
    def selected(self) -> int:
        return sum(d.selected for d in self.decisions)

    def to_json(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "registry_host": self.registry_host,
            "mode": self.settings.mode,
            "images": [decision_json(d) for d in self.decisions],
            "repository_errors": self.repository_errors,
            "found": len(self.decisions),
            "selected": self.selected,
        }


def decision_json(decision: Decision) -> dict[str, Any]:
    c = decision.candidate
    return {
        "repository": c.repository,
        "tag": c.tag,
        "digest": c.digest,
        "created": c.created.isoformat() if c.created else None,
        "created_source": c.created_source,
        "selected": decision.selected,
        "rule": decision.rule,
    }


def candidate_of(info: TagInfo) -> Candidate:
    return Candidate(info.repository, info.tag, info.digest, info.created, info.created_source)


def plan_decisions(
    listings: Iterable[RepositoryListing],
    settings: PullSettings,
    now: datetime,
    previously_scanned: dict[str, str],
) -> list[Decision]:
    """Decisions in listing order; a tag the registry could not describe is skipped with its error as the rule,
    and a multi-platform image with none of the wanted platforms is skipped with what it has."""
    items: list[Candidate | Decision] = []
    infos = [info for listing in listings for info in listing.tags or []]
    for info in infos:
        if info.error is None:
            items.append(candidate_of(info))
        else:
            unknown = Candidate(info.repository, info.tag, info.digest, None, None)
            items.append(Decision(unknown, False, f"error: {info.error}"))
    decided = iter(
        decide([i for i in items if isinstance(i, Candidate)], settings, now, previously_scanned=previously_scanned)
    )
    decisions = [item if isinstance(item, Decision) else next(decided) for item in items]
    return [_platform_check(d, info, settings) for d, info in zip(decisions, infos, strict=True)]


def wanted_platforms(info: TagInfo, settings: PullSettings) -> tuple[str, ...]:
    """The platforms of a multi-platform image to scan, in the settings' order; () for a single-platform image."""
    if info.media_type not in INDEX_TYPES:
        return ()
    return tuple(p for p in settings.platforms if p in info.platforms)


def _platform_check(decision: Decision, info: TagInfo, settings: PullSettings) -> Decision:
    if not decision.selected or info.media_type not in INDEX_TYPES or wanted_platforms(info, settings):
        return decision
    has = ", ".join(info.platforms) or "none"
    wants = ", ".join(settings.platforms)
    return Decision(decision.candidate, False, f"no wanted platform: has {has}; wants {wants}")


class SyncService:
    def __init__(self, integrations: IntegrationService, results: ResultsService) -> None:
        self.integrations = integrations
        self.results = results

    async def dry_run(
        self, name: str, *, now: datetime | None = None, settings: PullSettings | None = None
    ) -> SyncPlan:
        """List the registry and decide what a sync would select — with `settings` not saved yet (the console's
        preview), else the stored ones; nothing is queued or stored."""
        view = self.integrations.get(name)
        settings = settings if settings is not None else self.integrations.pull_settings(name)
        host = registry_host(view.url)
        listings = await self.integrations.browse(name, with_tags=True)
        scanned = self.results.scanned_digests(host)
        decisions = plan_decisions(listings, settings, now or datetime.now(UTC), scanned)
        errors = {listing.name: listing.error for listing in listings if listing.error}
        platforms = {
            f"{info.repository}:{info.tag}": wanted_platforms(info, settings)
            for listing in listings
            for info in listing.tags or []
        }
        return SyncPlan(view.name, host, settings, decisions, errors, platforms, frozenset(scanned.values()))
