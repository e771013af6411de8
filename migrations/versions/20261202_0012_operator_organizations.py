"""operator organizations: the operator's own organizations are not customers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:00:00

An organization seen with a platform_admin token is the operator's own; analytics leave it
out of customer figures (sign-ups, conversion, paying customers, usage by organization).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(
            sa.Column("operator", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("operator")
