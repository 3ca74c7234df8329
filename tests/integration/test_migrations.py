"""The migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from regscout.runtime import Runtime
from regscout.store import console_models, harbor_models, jobs_models, results_models
from regscout.store.models import Base


def test_migrated_schema_matches_the_models(runtime: Runtime) -> None:
    assert jobs_models.ScanJob.__table__.metadata is Base.metadata is results_models.ScanResult.__table__.metadata
    assert harbor_models.HarborScan.__table__.metadata is Base.metadata is console_models.ConsoleUser.metadata
    with runtime.db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
