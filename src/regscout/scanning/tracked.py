"""The images regscout covers per integration: seen by a sync or added by hand, present or gone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..store.db import Database
from ..store.jobs_models import TrackedImage
from .jobs import now_utc


@dataclass(frozen=True)
class Tracked:
    integration_id: int
    repository: str
    tag: str
    digest: str | None
    source: str
    state: str
    first_seen_at: datetime
    last_seen_at: datetime
    gone_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "source": self.source,
            "state": self.state,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "gone_at": self.gone_at.isoformat() if self.gone_at else None,
        }


def _tracked(row: TrackedImage) -> Tracked:
    return Tracked(
        row.integration_id,
        row.repository,
        row.tag,
        row.digest,
        row.source,
        row.state,
        row.first_seen_at,
        row.last_seen_at,
        row.gone_at,
    )


class TrackedImages:
    def __init__(self, db: Database) -> None:
        self.db = db

    def seen(
        self,
        integration_id: int,
        images: Iterable[tuple[str, str, str | None]],
        *,
        source: str,
        unlisted_repositories: set[str] | None = None,
    ) -> int:
        """Record (repository, tag, digest) as present. With ``unlisted_repositories`` given (a sync that listed the
        whole registry; the set holds the repositories whose tags could not be listed), images of this integration
        that were not seen are marked gone, except in those repositories. Returns how many went."""
        now = now_utc()
        seen = {(repo, tag): digest for repo, tag, digest in images}
        with self.db.session() as session:
            rows = {
                (row.repository, row.tag): row
                for row in session.scalars(select(TrackedImage).where(TrackedImage.integration_id == integration_id))
            }
            for key, digest in seen.items():
                row = rows.get(key)
                if row is None:
                    session.add(_new(integration_id, key, digest, source, now))
                    continue
                row.digest = digest or row.digest
                row.state, row.gone_at, row.last_seen_at = "present", None, now
            if unlisted_repositories is None:
                return 0
            return self._mark_missing(rows, seen, unlisted_repositories, now)

    @staticmethod
    def _mark_missing(
        rows: dict[tuple[str, str], TrackedImage],
        seen: dict[tuple[str, str], str | None],
        unlisted_repositories: set[str],
        now: datetime,
    ) -> int:
        gone = 0
        for key, row in rows.items():
            if key in seen or row.state == "gone" or row.repository in unlisted_repositories:
                continue
            row.state, row.gone_at = "gone", now
            gone += 1
        return gone

    def mark_gone(self, integration_id: int, repository: str, tag: str) -> None:
        with self.db.session() as session:
            session.execute(
                update(TrackedImage)
                .where(
                    TrackedImage.integration_id == integration_id,
                    TrackedImage.repository == repository,
                    TrackedImage.tag == tag,
                    TrackedImage.state == "present",
                )
                .values(state="gone", gone_at=now_utc())
            )

    def list(self, integration_id: int, *, state: str | None = None) -> list[Tracked]:
        query = (
            select(TrackedImage)
            .where(TrackedImage.integration_id == integration_id)
            .order_by(TrackedImage.repository, TrackedImage.tag)
        )
        if state is not None:
            query = query.where(TrackedImage.state == state)
        with self.db.session() as session:
            return [_tracked(row) for row in session.scalars(query)]

    @staticmethod
    def add(session: Session, integration_id: int, repository: str, tag: str, digest: str | None) -> None:
        row = session.scalar(
            select(TrackedImage).where(
                TrackedImage.integration_id == integration_id,
                TrackedImage.repository == repository,
                TrackedImage.tag == tag,
            )
        )
        if row is None:
            session.add(_new(integration_id, (repository, tag), digest, "manual", now_utc()))


def _new(integration_id: int, key: tuple[str, str], digest: str | None, source: str, now: datetime) -> TrackedImage:
    return TrackedImage(
        integration_id=integration_id,
        repository=key[0],
        tag=key[1],
        digest=digest,
        source=source,
        state="present",
        first_seen_at=now,
        last_seen_at=now,
    )
