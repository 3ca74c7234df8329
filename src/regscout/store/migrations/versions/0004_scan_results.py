"""Scan results per image digest and finding changes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_results",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_digest", sa.String(80), nullable=False, unique=True),
        sa.Column("registry_host", sa.String(300), nullable=False),
        sa.Column("repository", sa.String(500), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(60), nullable=False),
        sa.Column("inventory", sa.LargeBinary(), nullable=False),
        sa.Column("findings", sa.LargeBinary(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "finding_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("image_digest", sa.String(80), nullable=False, index=True),
        sa.Column("finding_id", sa.String(100), nullable=False),
        sa.Column("package", sa.String(300), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("finding_changes")
    op.drop_table("scan_results")
