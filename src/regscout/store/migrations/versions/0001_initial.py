"""Integrations and API tokens.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("auth", sa.String(20), nullable=False),
        sa.Column("username", sa.String(200)),
        sa.Column("secret_ciphertext", sa.Text()),
        sa.Column("tls_insecure", sa.Boolean(), nullable=False),
        sa.Column("ca_pem", sa.Text()),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(40)),
        sa.Column("status_reason", sa.String(60)),
        sa.Column("status_message", sa.Text()),
        sa.Column("status_hint", sa.Text()),
        sa.Column("status_checked_at", sa.DateTime(timezone=True)),
        sa.Column("rights", sa.String(20)),
        sa.Column("rights_detail", sa.Text()),
        sa.Column("rights_recommendation", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("prefix", sa.String(20), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("integrations")
