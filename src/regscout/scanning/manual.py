"""Adding an image by hand: `regscout image add REGISTRY REPO[:TAG|@DIGEST]` and the API. Queued at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..registries.base import MANAGED_BY_OPTION
from ..registries.reference import InvalidReference, parse_reference
from ..selection import PullSettings
from ..services.integrations import IntegrationService, pull_settings_of
from ..services.sync import registry_host
from ..store.db import Database
from ..store.models import Integration
from .jobs import Enqueued, JobError, JobSpec, JobStore
from .tracked import TrackedImages


class NotIntegrated(JobError):
    pass


@dataclass(frozen=True)
class Added:
    integration: str
    repository: str
    reference: str
    jobs: list[Enqueued]


def split_image(text: str, host: str) -> tuple[str, str]:
    """(repository, tag or digest) of ``REPO[:TAG|@DIGEST]`` on the registry at ``host``. A first component that
    names a host (Docker's rule: it holds a dot or a colon, or is localhost) must be that registry's."""
    stripped = text.strip()
    first, slash, _rest = stripped.partition("/")
    names_host = bool(slash) and ("." in first or ":" in first or first == "localhost")
    if names_host and registry_host(f"https://{first}") != registry_host(f"https://{host}"):
        raise NotIntegrated(f"{text} is on {first}, not on this integration's registry {host}")
    try:
        reference = parse_reference(stripped if names_host else f"{host}/{stripped}")
    except InvalidReference as error:
        raise JobError(str(error)) from None
    return reference.repository, reference.digest or reference.tag or "latest"


class ManualAdd:
    def __init__(
        self,
        db: Database,
        integrations: IntegrationService,
        jobs: JobStore,
        tracked: TrackedImages,
        notify: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.integrations = integrations
        self.jobs = jobs
        self.tracked = tracked
        self.notify = notify

    def add(self, integration: str, image: str, *, trigger: str = "manual", platforms: Sequence[str] = ()) -> Added:
        row_id, name, url, settings, managed_by = self._integration(integration)
        if managed_by:
            raise JobError(
                f"integration {name!r} is managed by {managed_by}: images come from there (Harbor starts its scans); "
                "they cannot be added in regscout"
            )
        repository, reference = split_image(image, registry_host(url))
        for platform in platforms:
            PullSettings(platforms=[platform])  # the same validation as the settings
        specs = [
            JobSpec(
                integration_id=row_id,
                integration_name=name,
                repository=repository,
                reference=reference,
                platform=platform,
                trigger=trigger,
                timeout_seconds=settings.scan_timeout_minutes * 60,
                max_concurrency=settings.max_concurrency,
                digest=reference if reference.startswith("sha256:") else None,
            )
            for platform in (platforms or [""])
        ]
        with self.db.session() as session:
            TrackedImages.add(session, row_id, repository, reference, specs[0].digest)
        enqueued = self.jobs.enqueue(specs)
        if any(e.created for e in enqueued):
            self.notify()
        return Added(name, repository, reference, enqueued)

    def _integration(self, name: str) -> tuple[int, str, str, PullSettings, str | None]:
        with self.db.session() as session:
            row = session.query(Integration).filter(Integration.name == name).one_or_none()
            if row is None:
                known = [n for (n,) in session.query(Integration.name).order_by(Integration.name)]
                hint = f" (integrated: {', '.join(known)})" if known else ""
                raise NotIntegrated(
                    f"registry {name!r} is not integrated{hint}; connect it first with: regscout registry add"
                )
            managed = (row.options or {}).get(MANAGED_BY_OPTION)
            return row.id, row.name, row.url, pull_settings_of(row), str(managed) if managed else None
