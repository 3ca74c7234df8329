"""Credential sets per repository pattern of an integration (Fernet ciphertext only).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "integration_credentials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("integration_id", sa.Integer(), sa.ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pattern", sa.String(300), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(200)),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("status", sa.String(40)),
        sa.Column("status_message", sa.Text()),
        sa.Column("status_checked_at", UTC_TIME),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("integration_id", "pattern"),
    )
    op.create_index("ix_integration_credentials_integration_id", "integration_credentials", ["integration_id"])


def downgrade() -> None:
    op.drop_table("integration_credentials")
