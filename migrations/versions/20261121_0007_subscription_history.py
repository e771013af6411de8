"""subscription history

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 18:09:21.978226
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('subscription_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=True),
    sa.Column('monthly_amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_history'))
    )
    op.create_index(op.f('ix_subscription_history_at'), 'subscription_history', ['at'], unique=False)
    op.create_index(op.f('ix_subscription_history_stripe_subscription_id_at'), 'subscription_history', ['stripe_subscription_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_subscription_history_stripe_subscription_id_at'), table_name='subscription_history')
    op.drop_index(op.f('ix_subscription_history_at'), table_name='subscription_history')
    op.drop_table('subscription_history')
