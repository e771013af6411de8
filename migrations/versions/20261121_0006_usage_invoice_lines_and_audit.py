"""usage invoice lines and audit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 17:49:07.062625
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('billing_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_audit'))
    )
    op.create_index(op.f('ix_billing_audit_action_at'), 'billing_audit', ['action', 'at'], unique=False)
    op.create_index(op.f('ix_billing_audit_org_id_at'), 'billing_audit', ['org_id', 'at'], unique=False)
    op.create_table('usage_invoice_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('invoice_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('event_count', sa.BigInteger(), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stripe_invoice_item_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['usage_invoices.id'], name=op.f('fk_usage_invoice_lines_invoice_id_usage_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_invoice_lines')),
    sa.UniqueConstraint('invoice_id', 'metric', name=op.f('uq_usage_invoice_lines_invoice_id_metric'))
    )
    op.add_column('usage_invoices', sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_usage_invoices_org_id_status'), 'usage_invoices', ['org_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_usage_invoices_org_id_status'), table_name='usage_invoices')
    op.drop_column('usage_invoices', 'past_due_since')
    op.drop_table('usage_invoice_lines')
    op.drop_index(op.f('ix_billing_audit_org_id_at'), table_name='billing_audit')
    op.drop_index(op.f('ix_billing_audit_action_at'), table_name='billing_audit')
    op.drop_table('billing_audit')
