"""What the console lists, filters and sorts, as indexed columns and rows: per result its OS and severity counts,
one row per finding, and the open findings per severity per day. Existing results are indexed here.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import json
import zlib

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COUNT_COLUMNS = ("packages", "critical", "high", "medium", "low", "other", "fixable")


def upgrade() -> None:
    with op.batch_alter_table("scan_results") as batch:
        batch.add_column(sa.Column("os", sa.String(200), nullable=False, server_default=""))
        for name in COUNT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_scan_results_registry_repository", "scan_results", ["registry_host", "repository"])
    op.create_index("ix_scan_results_matched_at", "scan_results", ["matched_at"])
    op.create_index("ix_scan_results_worst", "scan_results", ["critical", "high", "medium"])
    op.create_table(
        "image_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("result_id", sa.Integer(), sa.ForeignKey("scan_results.id", ondelete="CASCADE"), nullable=False),
        sa.Column("vuln_id", sa.String(100), nullable=False),
        sa.Column("package", sa.String(300), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("ecosystem", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("fix_state", sa.String(20), nullable=False),
        sa.Column("fixed_versions", sa.Text(), nullable=False),
    )
    op.create_index("ix_image_findings_vuln", "image_findings", ["vuln_id"])
    op.create_index("ix_image_findings_package", "image_findings", ["package"])
    op.create_index("ix_image_findings_result", "image_findings", ["result_id"])
    op.create_table(
        "findings_daily",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("severity", sa.String(10), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
    )
    _index_existing()


def _index_existing() -> None:
    """The results stored before this revision, indexed as ResultsService indexes new ones."""
    from regscout.results.index import finding_rows, result_columns

    bind = op.get_bind()
    results = sa.table(
        "scan_results",
        sa.column("id", sa.Integer()),
        sa.column("inventory", sa.LargeBinary()),
        sa.column("findings", sa.LargeBinary()),
        *(sa.column(name, sa.Integer()) for name in COUNT_COLUMNS),
        sa.column("os", sa.String()),
    )
    findings_table = sa.table(
        "image_findings",
        *(
            sa.column(name)
            for name in (
                "result_id",
                "vuln_id",
                "package",
                "version",
                "ecosystem",
                "severity",
                "score",
                "fix_state",
                "fixed_versions",
            )
        ),
    )
    for row_id, inventory, findings in bind.execute(sa.select(results.c.id, results.c.inventory, results.c.findings)):
        found = json.loads(zlib.decompress(findings))
        packed = json.loads(zlib.decompress(inventory))
        bind.execute(results.update().where(results.c.id == row_id).values(**result_columns(packed, found)))
        rows = finding_rows(row_id, found)
        if rows:
            bind.execute(findings_table.insert(), rows)


def downgrade() -> None:
    op.drop_table("findings_daily")
    op.drop_table("image_findings")
    op.drop_index("ix_scan_results_worst", "scan_results")
    op.drop_index("ix_scan_results_matched_at", "scan_results")
    op.drop_index("ix_scan_results_registry_repository", "scan_results")
    with op.batch_alter_table("scan_results") as batch:
        for name in (*COUNT_COLUMNS, "os"):
            batch.drop_column(name)
