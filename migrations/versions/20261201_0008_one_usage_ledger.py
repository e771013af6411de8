"""one usage ledger: consumptions join recorded usage in usage_events; invoice claims and holds

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:00:00

Consumptions and releases move from quota_ledger into usage_events (source consumed/released,
their counter entry id kept), so one table is the ledger that quotas, summaries, analytics and
invoices read. Idempotency keys become unique per organization and metric; a consumption whose
key a recorded event of the same metric already holds is the same unit and is not copied.
Consumed voice words were never billed before: they are unbilled usage from now on.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COPY_COLUMNS = ("org_id, metric, quantity, occurred_at, received_at, idempotency_key, source, "
                "entry_id")


def _insert_ignoring_duplicates(select_sql: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"INSERT INTO usage_events ({COPY_COLUMNS}) {select_sql} "
                   "ON CONFLICT DO NOTHING")
    else:
        op.execute(f"INSERT OR IGNORE INTO usage_events ({COPY_COLUMNS}) {select_sql}")


def upgrade() -> None:
    with op.batch_alter_table('usage_events') as batch:
        batch.add_column(sa.Column('source', sa.String(length=16), server_default=sa.text("'recorded'"), nullable=False))
        batch.add_column(sa.Column('entry_id', sa.String(length=64), nullable=True))
        batch.alter_column('idempotency_key', existing_type=sa.String(length=255), nullable=True)
        batch.drop_constraint('uq_usage_events_org_id_idempotency_key', type_='unique')
        batch.create_unique_constraint(op.f('uq_usage_events_org_id_metric_idempotency_key'), ['org_id', 'metric', 'idempotency_key'])
    op.create_index('uq_usage_events_entry_id', 'usage_events', ['entry_id'], unique=True, postgresql_where=sa.text('entry_id IS NOT NULL'), sqlite_where=sa.text('entry_id IS NOT NULL'))
    _insert_ignoring_duplicates(
        "SELECT org_id, metric, amount, occurred_at, occurred_at, idempotency_key, "
        "CASE WHEN amount < 0 THEN 'released' ELSE 'consumed' END, entry_id FROM quota_ledger "
        "ORDER BY id")
    op.drop_index(op.f('ix_quota_ledger_org_id_metric_occurred_at'), table_name='quota_ledger')
    op.drop_table('quota_ledger')
    with op.batch_alter_table('usage_invoices') as batch:
        batch.add_column(sa.Column('hold_reason', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('claim_token', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    op.create_table('write_locks',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('taken', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_write_locks'))
    )


def downgrade() -> None:
    op.drop_table('write_locks')
    with op.batch_alter_table('usage_invoices') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('claim_token')
        batch.drop_column('hold_reason')
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
    op.execute("INSERT INTO quota_ledger (entry_id, org_id, metric, amount, occurred_at, "
               "idempotency_key) SELECT entry_id, org_id, metric, quantity, occurred_at, "
               "idempotency_key FROM usage_events WHERE source <> 'recorded' ORDER BY id")
    op.execute("DELETE FROM usage_events WHERE source <> 'recorded'")
    op.drop_index('uq_usage_events_entry_id', table_name='usage_events')
    with op.batch_alter_table('usage_events') as batch:
        batch.drop_constraint('uq_usage_events_org_id_metric_idempotency_key', type_='unique')
        batch.create_unique_constraint(op.f('uq_usage_events_org_id_idempotency_key'), ['org_id', 'idempotency_key'])
        batch.alter_column('idempotency_key', existing_type=sa.String(length=255), nullable=False)
        batch.drop_column('entry_id')
        batch.drop_column('source')
