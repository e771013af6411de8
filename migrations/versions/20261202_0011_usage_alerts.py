"""usage alerts and the spend cap: settings per organization, firings, usage past the cap

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('usage_alert_settings',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('thresholds', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('spend_cap_minor', sa.BigInteger(), nullable=True),
    sa.Column('spend_cap_currency', sa.String(length=3), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_usage_alert_settings_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_usage_alert_settings'))
    )
    op.create_table('usage_alert_states',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('threshold_id', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('level', sa.BigInteger(), nullable=False),
    sa.Column('used', sa.BigInteger(), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_usage_alert_states_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', 'metric', 'threshold_id', 'period_start', 'level', name=op.f('pk_usage_alert_states'))
    )
    op.create_table('usage_over_spend_cap',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_usage_over_spend_cap_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', 'metric', 'idempotency_key', name=op.f('pk_usage_over_spend_cap'))
    )


def downgrade() -> None:
    op.drop_table('usage_over_spend_cap')
    op.drop_table('usage_alert_states')
    op.drop_table('usage_alert_settings')
