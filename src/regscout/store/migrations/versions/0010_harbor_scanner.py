"""regscout as Harbor's external scanner: registrations (hashed keys) and Harbor's scan requests.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "harbor_registrations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(20), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("auth_scheme", sa.String(10), nullable=False),
        sa.Column("scan_timeout_seconds", sa.Float(), nullable=False),
        sa.Column("tls_insecure", sa.Boolean(), nullable=False),
        sa.Column("ca_pem", sa.Text()),
        sa.Column("registry_hosts", sa.JSON(), nullable=False),
        sa.Column("integration_id", sa.Integer(), sa.ForeignKey("integrations.id", ondelete="SET NULL")),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("key_rotated_at", UTC_TIME, nullable=False),
        sa.Column("last_scan_at", UTC_TIME),
        sa.Column("last_auth_failure_at", UTC_TIME),
    )
    op.create_table(
        "harbor_scans",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "registration_id",
            sa.Integer(),
            sa.ForeignKey("harbor_registrations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("scan_jobs.id", ondelete="SET NULL")),
        sa.Column("capability", sa.String(20), nullable=False),
        sa.Column("sbom_media_type", sa.String(100)),
        sa.Column("registry_url", sa.String(500), nullable=False),
        sa.Column("repository", sa.String(500), nullable=False),
        sa.Column("tag", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("mime_type", sa.String(200), nullable=False),
        sa.Column("authorization_ciphertext", sa.Text()),
        sa.Column("report", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME),
    )
    op.create_index("ix_harbor_scans_job", "harbor_scans", ["job_id"])
    op.create_index("ix_harbor_scans_created", "harbor_scans", ["created_at"])


def downgrade() -> None:
    op.drop_table("harbor_scans")
    op.drop_table("harbor_registrations")
