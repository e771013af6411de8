"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 17:07:55.289915
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('organizations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('webhook_events',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('api_version', sa.String(length=64), nullable=True),
    sa.Column('livemode', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('stripe_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    op.create_index(op.f('ix_webhook_events_status_received_at'), 'webhook_events', ['status', 'received_at'], unique=False)
    op.create_index(op.f('ix_webhook_events_type_received_at'), 'webhook_events', ['type', 'received_at'], unique=False)
    op.create_table('one_time_purchases',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stripe_checkout_session_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_one_time_purchases_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_one_time_purchases')),
    sa.UniqueConstraint('stripe_checkout_session_id', name=op.f('uq_one_time_purchases_stripe_checkout_session_id'))
    )
    op.create_index(op.f('ix_one_time_purchases_org_id'), 'one_time_purchases', ['org_id'], unique=False)
    op.create_table('stripe_customers',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_stripe_customers_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_stripe_customers')),
    sa.UniqueConstraint('stripe_customer_id', name=op.f('uq_stripe_customers_stripe_customer_id'))
    )
    op.create_table('subscriptions',
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('tier', sa.String(length=32), nullable=True),
    sa.Column('stripe_price_id', sa.String(length=255), nullable=True),
    sa.Column('current_period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_at_period_end', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('canceled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('past_due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_subscriptions_org_id_organizations')),
    sa.PrimaryKeyConstraint('stripe_subscription_id', name=op.f('pk_subscriptions'))
    )
    op.create_index(op.f('ix_subscriptions_org_id_updated_at'), 'subscriptions', ['org_id', 'updated_at'], unique=False)
    op.create_table('usage_invoices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('period_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('total_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=True),
    sa.Column('hosted_invoice_url', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_usage_invoices_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_invoices')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_usage_invoices_stripe_invoice_id'))
    )
    op.create_index(op.f('ix_usage_invoices_org_id_created_at'), 'usage_invoices', ['org_id', 'created_at'], unique=False)
    op.create_table('usage_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('conversation_id', sa.String(length=255), nullable=True),
    sa.Column('invoice_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['usage_invoices.id'], name=op.f('fk_usage_events_invoice_id_usage_invoices')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_usage_events_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_events')),
    sa.UniqueConstraint('org_id', 'idempotency_key', name=op.f('uq_usage_events_org_id_idempotency_key'))
    )
    op.create_index(op.f('ix_usage_events_invoice_id'), 'usage_events', ['invoice_id'], unique=False)
    op.create_index(op.f('ix_usage_events_org_id_occurred_at'), 'usage_events', ['org_id', 'occurred_at'], unique=False)
    op.create_index('ix_usage_events_unbilled', 'usage_events', ['org_id', 'occurred_at'], unique=False, postgresql_where=sa.text('invoice_id IS NULL'))



def downgrade() -> None:

    op.drop_index('ix_usage_events_unbilled', table_name='usage_events', postgresql_where=sa.text('invoice_id IS NULL'))
    op.drop_index(op.f('ix_usage_events_org_id_occurred_at'), table_name='usage_events')
    op.drop_index(op.f('ix_usage_events_invoice_id'), table_name='usage_events')
    op.drop_table('usage_events')
    op.drop_index(op.f('ix_usage_invoices_org_id_created_at'), table_name='usage_invoices')
    op.drop_table('usage_invoices')
    op.drop_index(op.f('ix_subscriptions_org_id_updated_at'), table_name='subscriptions')
    op.drop_table('subscriptions')
    op.drop_table('stripe_customers')
    op.drop_index(op.f('ix_one_time_purchases_org_id'), table_name='one_time_purchases')
    op.drop_table('one_time_purchases')
    op.drop_index(op.f('ix_webhook_events_type_received_at'), table_name='webhook_events')
    op.drop_index(op.f('ix_webhook_events_status_received_at'), table_name='webhook_events')
    op.drop_table('webhook_events')
    op.drop_table('organizations')

