"""The per-layer cache: analysis results by (diff_id, analyzer, analyzer version), in the
database so every worker shares them. An image whose layers are all cached costs a manifest and
a config fetch; bumping one analyzer's version redoes only that analyzer's part."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ..store.db import Database, rows_changed
from ..store.jobs_models import LayerClaim
from ..store.models import LayerResult


class LayerCache:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_many(self, diff_id: str, wanted: Iterable[tuple[str, int]]) -> dict[str, dict[str, Any]]:
        """The cached results of this layer for the (analyzer, version) pairs asked, by analyzer."""
        pairs = list(wanted)
        if not pairs:
            return {}
        with self.db.session() as session:
            rows = session.execute(
                select(LayerResult.analyzer, LayerResult.result).where(
                    LayerResult.diff_id == diff_id,
                    tuple_(LayerResult.analyzer, LayerResult.version).in_(pairs),
                )
            ).all()
        return {analyzer: json.loads(zlib.decompress(blob)) for analyzer, blob in rows}

    def put_many(self, diff_id: str, results: dict[tuple[str, int], dict[str, Any]]) -> None:
        """Store results; a concurrent worker storing the same key first is not an error."""
        if not results:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "diff_id": diff_id,
                "analyzer": name,
                "version": version,
                "result": zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1),
                "created_at": now,
            }
            for (name, version), data in results.items()
        ]
        dialect = self.db.engine.dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(LayerResult).values(rows).on_conflict_do_nothing()
        with self.db.session() as session:
            session.execute(statement)

    def claim(self, diff_id: str, owner: str, seconds: float) -> bool:
        """Take the right to fetch this layer for ``seconds``; False while another worker holds it. A claim whose
        holder died expires and can be taken over."""
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=seconds)
        try:
            with self.db.session() as session:
                session.add(LayerClaim(diff_id=diff_id, owner=owner, expires_at=expires))
            return True
        except IntegrityError:
            pass
        with self.db.session() as session:
            taken = rows_changed(
                session,
                update(LayerClaim)
                .where(LayerClaim.diff_id == diff_id, LayerClaim.expires_at < now)
                .values(owner=owner, expires_at=expires),
            )
        return taken == 1

    def renew(self, diff_id: str, owner: str, seconds: float) -> None:
        with self.db.session() as session:
            session.execute(
                update(LayerClaim)
                .where(LayerClaim.diff_id == diff_id, LayerClaim.owner == owner)
                .values(expires_at=datetime.now(UTC) + timedelta(seconds=seconds))
            )

    def release(self, diff_id: str, owner: str) -> None:
        with self.db.session() as session:
            session.execute(delete(LayerClaim).where(LayerClaim.diff_id == diff_id, LayerClaim.owner == owner))
