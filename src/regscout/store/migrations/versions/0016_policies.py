"""Policies, risk acceptances, each stored image's verdict per policy and the changes of verdict; the result's
overall verdict as a column the images list filters and sorts on.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "acceptances",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vulnerability", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("expires", UTC_TIME),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", UTC_TIME),
        sa.Column("revoked_by", sa.String(200)),
    )
    op.create_index("ix_acceptances_vulnerability", "acceptances", ["vulnerability"])
    op.create_table(
        "policy_verdicts",
        sa.Column("result_id", sa.Integer(), sa.ForeignKey("scan_results.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("policy", sa.String(200), primary_key=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", UTC_TIME, nullable=False),
    )
    op.create_index("ix_policy_verdicts_policy_outcome", "policy_verdicts", ["policy", "outcome"])
    op.create_table(
        "verdict_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("image_digest", sa.String(80), nullable=False),
        sa.Column("registry_host", sa.String(300), nullable=False),
        sa.Column("repository", sa.String(500), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("before", sa.String(10), nullable=False),
        sa.Column("after", sa.String(10), nullable=False),
        sa.Column("cause", sa.String(40), nullable=False),
    )
    op.create_index("ix_verdict_events_at", "verdict_events", ["at"])
    op.create_index("ix_verdict_events_digest", "verdict_events", ["image_digest"])
    with op.batch_alter_table("scan_results") as batch:
        batch.add_column(sa.Column("verdict", sa.String(10), nullable=False, server_default=""))
        batch.add_column(sa.Column("accepted", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("evaluated_at", UTC_TIME))
    op.create_index("ix_scan_results_verdict", "scan_results", ["verdict"])


def downgrade() -> None:
    op.drop_index("ix_scan_results_verdict", "scan_results")
    with op.batch_alter_table("scan_results") as batch:
        batch.drop_column("evaluated_at")
        batch.drop_column("accepted")
        batch.drop_column("verdict")
    op.drop_table("verdict_events")
    op.drop_table("policy_verdicts")
    op.drop_table("acceptances")
    op.drop_table("policies")
