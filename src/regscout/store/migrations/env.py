"""Alembic environment: runs on the connection regscout hands it (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from regscout.store import (  # noqa: F401  (their tables join)
    audit_models,
    console_models,
    harbor_models,
    jobs_models,
    policy_models,
    results_models,
)
from regscout.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
