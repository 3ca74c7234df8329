"""Scan jobs and attempts, sync runs, tracked images, schedule states, layer claims; the index digest of results.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("scan_results") as batch:
        batch.add_column(sa.Column("index_digest", sa.String(80), nullable=True))
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("integration_id", sa.Integer(), sa.ForeignKey("integrations.id", ondelete="SET NULL"), index=True),
        sa.Column("integration_name", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("gone", sa.Integer(), nullable=False),
        sa.Column("repository_errors", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("listed_at", UTC_TIME),
    )
    op.create_table(
        "scan_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("integration_id", sa.Integer(), sa.ForeignKey("integrations.id", ondelete="SET NULL")),
        sa.Column("integration_name", sa.String(100), nullable=False),
        sa.Column("sync_id", sa.Integer(), sa.ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True),
        sa.Column("repository", sa.String(500), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(80)),
        sa.Column("platform", sa.String(60), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active_key", sa.String(900), unique=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("not_before", UTC_TIME, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", UTC_TIME),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("result_digest", sa.String(80)),
        sa.Column("summary", sa.JSON()),
        sa.Column("bytes_fetched", sa.BigInteger(), nullable=False),
        sa.Column("duration_seconds", sa.Float()),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("started_at", UTC_TIME),
        sa.Column("finished_at", UTC_TIME),
        sa.Column("updated_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_scan_jobs_claim", "scan_jobs", ["state", "priority", "id"])
    op.create_index("ix_scan_jobs_integration_state", "scan_jobs", ["integration_id", "state"])
    op.create_table(
        "job_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("scan_jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME),
        sa.Column("outcome", sa.String(20)),
        sa.Column("reason", sa.Text()),
        sa.Column("registry_status", sa.String(20)),
        sa.UniqueConstraint("job_id", "attempt"),
    )
    op.create_table(
        "tracked_images",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("integration_id", sa.Integer(), sa.ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("repository", sa.String(500), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(80)),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("first_seen_at", UTC_TIME, nullable=False),
        sa.Column("last_seen_at", UTC_TIME, nullable=False),
        sa.Column("gone_at", UTC_TIME),
        sa.UniqueConstraint("integration_id", "repository", "tag"),
    )
    op.create_table(
        "schedule_states",
        sa.Column(
            "integration_id",
            sa.Integer(),
            sa.ForeignKey("integrations.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("spec", sa.String(200), nullable=False),
        sa.Column("next_run_at", UTC_TIME, nullable=False),
        sa.Column("last_run_at", UTC_TIME),
        sa.Column("last_sync_id", sa.Integer()),
    )
    op.create_table(
        "layer_claims",
        sa.Column("diff_id", sa.String(80), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
    )


def downgrade() -> None:
    for table in ("layer_claims", "schedule_states", "tracked_images", "job_attempts", "scan_jobs", "sync_runs"):
        op.drop_table(table)
    with op.batch_alter_table("scan_results") as batch:
        batch.drop_column("index_digest")
