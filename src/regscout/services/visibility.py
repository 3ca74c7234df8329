"""What of the stored results a principal may see, as SQL: the (registry host, repository) pairs of the stored
results that its scopes cover. An unrestricted principal (no scopes, or the local CLI) costs no query at all."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, tuple_
from sqlalchemy.orm import Session

from ..access import Principal
from ..store.jobs_models import ScanJob
from ..store.models import Integration
from ..store.results_models import ImageFinding, ScanResult
from .images import host_of


class Visibility:
    def __init__(self, principal: Principal | None) -> None:
        self.principal = principal
        self._results: ColumnElement[bool] | None = None

    @property
    def everything(self) -> bool:
        return self.principal is None or self.principal.unrestricted

    def results(self, session: Session) -> list[ColumnElement[bool]]:
        """Conditions on ScanResult (none for everything). The distinct pairs are read from the registry/repository
        index, then matched with the scopes' own patterns (the same matching as everywhere else)."""
        if self.everything:
            return []
        assert self.principal is not None
        if self._results is None:
            rows = session.execute(select(ScanResult.registry_host, ScanResult.repository).distinct())
            visible = self.principal.visible((host, repository) for host, repository in rows)
            self._results = tuple_(ScanResult.registry_host, ScanResult.repository).in_(visible) if visible else false()
        return [self._results]

    def findings(self, session: Session) -> list[ColumnElement[bool]]:
        """Conditions on ImageFinding: rows of visible results only."""
        conditions = self.results(session)
        return [ImageFinding.result_id.in_(select(ScanResult.id).where(*conditions))] if conditions else []

    def jobs(self, session: Session) -> list[ColumnElement[bool]]:
        """Conditions on ScanJob: jobs of a registry and repository in scope."""
        if self.everything:
            return []
        assert self.principal is not None
        rows = session.execute(
            select(ScanJob.integration_id, Integration.url, ScanJob.repository)
            .join(Integration, Integration.id == ScanJob.integration_id)
            .distinct()
        )
        visible = [(ident, repository) for ident, url, repository in rows if self.sees(host_of(url), repository)]
        return [tuple_(ScanJob.integration_id, ScanJob.repository).in_(visible) if visible else false()]

    def sees(self, registry_host: str, repository: str) -> bool:
        return self.principal is None or self.principal.sees(registry_host, repository)
