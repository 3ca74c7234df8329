"""The image's layers, history and config stored with its result (results stored before stay without them), and
the indexes the console's image list and package search sort and filter on.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

RESULT_INDEXES = {
    "ix_scan_results_analyzed_at": ["analyzed_at"],
    "ix_scan_results_os": ["os"],
    "ix_scan_results_repository_reference": ["repository", "reference"],
    "ix_scan_results_fixable": ["fixable"],
}


def upgrade() -> None:
    # A nullable column is a plain ALTER TABLE ADD on every database: no table copy (which on SQLite would
    # cascade-delete the result's finding rows when the old table is dropped).
    op.add_column("scan_results", sa.Column("details", sa.LargeBinary(), nullable=True))
    for name, columns in RESULT_INDEXES.items():
        op.create_index(name, "scan_results", columns)
    op.create_index("ix_image_findings_package_vuln", "image_findings", ["package", "vuln_id", "result_id"])


def downgrade() -> None:
    op.drop_index("ix_image_findings_package_vuln", "image_findings")
    for name in RESULT_INDEXES:
        op.drop_index(name, "scan_results")
    # SQLite 3.35+ drops an unindexed column in place (ALTER TABLE DROP COLUMN), again without a table copy.
    op.drop_column("scan_results", "details")
