"""checkout sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 17:13:45.598653
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('checkout_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stripe_checkout_session_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_checkout_sessions_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkout_sessions')),
    sa.UniqueConstraint('stripe_checkout_session_id', name=op.f('uq_checkout_sessions_stripe_checkout_session_id'))
    )
    op.create_index(op.f('ix_checkout_sessions_created_at'), 'checkout_sessions', ['created_at'], unique=False)
    op.create_index(op.f('ix_checkout_sessions_org_id_created_at'), 'checkout_sessions', ['org_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_checkout_sessions_org_id_created_at'), table_name='checkout_sessions')
    op.drop_index(op.f('ix_checkout_sessions_created_at'), table_name='checkout_sessions')
    op.drop_table('checkout_sessions')
