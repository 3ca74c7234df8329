"""Indexes measured by bench/console on 10,000 images and 1,000,000 findings: the images list's default order
(critical, high, medium, low, id) without a sort of the whole table, and the package search from the index alone.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_scan_results_worst", "scan_results")
    op.create_index("ix_scan_results_worst", "scan_results", ["critical", "high", "medium", "low", "id"])
    op.drop_index("ix_image_findings_package", "image_findings")  # the leading column of the next one
    op.drop_index("ix_image_findings_package_vuln", "image_findings")
    op.create_index(
        "ix_image_findings_package_vuln",
        "image_findings",
        ["package", "vuln_id", "result_id"],
        postgresql_include=["severity", "fixed_versions"],
    )


def downgrade() -> None:
    op.drop_index("ix_image_findings_package_vuln", "image_findings")
    op.create_index("ix_image_findings_package_vuln", "image_findings", ["package", "vuln_id", "result_id"])
    op.create_index("ix_image_findings_package", "image_findings", ["package"])
    op.drop_index("ix_scan_results_worst", "scan_results")
    op.create_index("ix_scan_results_worst", "scan_results", ["critical", "high", "medium"])
