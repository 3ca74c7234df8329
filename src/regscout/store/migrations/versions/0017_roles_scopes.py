"""Access control: users' scopes and identity provider, API tokens owned by users, tokens' own scopes.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("identity_provider", sa.String(500), nullable=False, server_default=""))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_foreign_key("fk_api_tokens_user_id", "console_users", ["user_id"], ["id"], ondelete="CASCADE")


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("fk_api_tokens_user_id", type_="foreignkey")
        batch.drop_column("scopes")
        batch.drop_column("user_id")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("identity_provider")
        batch.drop_column("scopes")
