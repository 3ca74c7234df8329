"""Per affected entry, the interval of encoded version keys it can cover (the matcher's SQL pre-filter).

Existing rows keep match_kind NULL, which the matcher evaluates the old way (every entry of the package);
the next full update of a source writes the intervals.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vuln_affected") as batch:
        batch.add_column(sa.Column("match_kind", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("match_low", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("match_high", sa.LargeBinary(), nullable=True))
    # the same leading columns, so lookups by (ecosystem, name) keep their index
    op.create_index(
        "ix_vuln_affected_match", "vuln_affected", ["ecosystem", "name", "match_kind", "match_low", "match_high"]
    )
    op.drop_index("ix_vuln_affected_ecosystem_name", table_name="vuln_affected")


def downgrade() -> None:
    op.create_index("ix_vuln_affected_ecosystem_name", "vuln_affected", ["ecosystem", "name"])
    op.drop_index("ix_vuln_affected_match", table_name="vuln_affected")
    with op.batch_alter_table("vuln_affected") as batch:
        batch.drop_column("match_high")
        batch.drop_column("match_low")
        batch.drop_column("match_kind")
