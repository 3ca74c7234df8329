"""Per affected entry, the fields of its findings that do not depend on the installed package, and
whether its interval is exact (vulndb/template.py); per source, whether another source publishes any of
its record ids (vuln_exclusive_sources).

Existing rows keep `finding` NULL, which the matcher reads the old way (from the JSON columns), and no
source is listed as exclusive (all are checked); the next full update of a source writes them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vuln_exclusive_sources",
        sa.Column("name", sa.String(100), sa.ForeignKey("vuln_sources.name", ondelete="CASCADE"), primary_key=True),
    )
    with op.batch_alter_table("vuln_affected") as batch:
        batch.add_column(sa.Column("match_fix", sa.Text(), nullable=True))
        batch.add_column(sa.Column("finding", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vuln_affected") as batch:
        batch.drop_column("finding")
        batch.drop_column("match_fix")
    op.drop_table("vuln_exclusive_sources")
