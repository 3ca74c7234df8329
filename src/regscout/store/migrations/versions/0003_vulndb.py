"""Vulnerability records, their affected packages, and their sources.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vuln_sources",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("last_modified_seen", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "vuln_records",
        sa.Column("source", sa.String(100), sa.ForeignKey("vuln_sources.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published", sa.DateTime(timezone=True)),
        sa.Column("withdrawn", sa.DateTime(timezone=True)),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("severity", sa.JSON(), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("database_specific", sa.JSON(), nullable=False),
        sa.Column("cwe_ids", sa.JSON(), nullable=False),
    )
    op.create_index("ix_vuln_records_id", "vuln_records", ["id"])
    op.create_table(
        "vuln_affected",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("ecosystem", sa.String(255), nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("ecosystem_specific", sa.JSON(), nullable=False),
        sa.Column("database_specific", sa.JSON(), nullable=False),
        sa.Column("severity", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source", "record_id"], ["vuln_records.source", "vuln_records.id"], ondelete="CASCADE"
        ),
    )
    op.create_index("ix_vuln_affected_ecosystem_name", "vuln_affected", ["ecosystem", "name"])
    op.create_index("ix_vuln_affected_record", "vuln_affected", ["source", "record_id"])


def downgrade() -> None:
    op.drop_table("vuln_affected")
    op.drop_table("vuln_records")
    op.drop_table("vuln_sources")
