"""quota ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 17:35:17.804086
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('quota_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_quota_ledger_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quota_ledger')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_quota_ledger_entry_id'))
    )
    op.create_index(op.f('ix_quota_ledger_org_id_metric_occurred_at'), 'quota_ledger', ['org_id', 'metric', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_quota_ledger_org_id_metric_occurred_at'), table_name='quota_ledger')
    op.drop_table('quota_ledger')
