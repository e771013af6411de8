"""reconciliation: runs and their drift rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:00:00

One row per reconciliation run (its counts as JSON) and one per difference it found, keyed by
the run and the drift's key (object type, object id, kind) so a later run finds when a drift
was first seen.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('reconciliation_runs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=True),
    sa.Column('fix', sa.Boolean(), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('events_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('events_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_runs'))
    )
    op.create_index(op.f('ix_reconciliation_runs_created_at'), 'reconciliation_runs', ['created_at'], unique=False)
    op.create_table('reconciliation_drifts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=True),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('ours', sa.Text(), nullable=True),
    sa.Column('theirs', sa.Text(), nullable=True),
    sa.Column('repair_event', sa.String(length=100), nullable=True),
    sa.Column('repair_object', sa.String(length=255), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('new', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id'], name=op.f('fk_reconciliation_drifts_run_id_reconciliation_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reconciliation_drifts')),
    sa.UniqueConstraint('run_id', 'key', name=op.f('uq_reconciliation_drifts_run_id_key'))
    )
    op.create_index(op.f('ix_reconciliation_drifts_key_run_id'), 'reconciliation_drifts', ['key', 'run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reconciliation_drifts_key_run_id'), table_name='reconciliation_drifts')
    op.drop_table('reconciliation_drifts')
    op.drop_index(op.f('ix_reconciliation_runs_created_at'), table_name='reconciliation_runs')
    op.drop_table('reconciliation_runs')
