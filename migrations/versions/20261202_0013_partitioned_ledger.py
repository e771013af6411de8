"""partitioned ledger: usage_events by month on Postgres; idempotency keys in their own table

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 03:00:00

Postgres: usage_events becomes a table partitioned by RANGE on occurred_at, one partition per
UTC month from its oldest entry to three months ahead, and a DEFAULT partition. Every row is
copied with its id and invoice link; the id sequence is the same one, so it continues where it
was. The idempotency keys and counter entry ids, which a partitioned table cannot keep unique
across months, move to usage_event_keys (one row per entry). Months holding unbilled voice
usage are marked in usage_late_months, so the next invoice reads them.
SQLite (the embedded default) keeps one plain table; the keys move the same way.
"""
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("id, org_id, metric, quantity, occurred_at, received_at, idempotency_key, "
           "conversation_id, invoice_id, source, entry_id")
BILLED = "('stt_words', 'tts_words')"
MONTHS_AHEAD = 3


def _months(first: datetime, last: datetime) -> list[datetime]:
    months = []
    index = first.year * 12 + first.month - 1
    while True:
        month = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
        if month > last:
            return months
        months.append(month)
        index += 1


def _next(month: datetime) -> datetime:
    index = month.year * 12 + month.month
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _side_tables() -> None:
    bigint = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table('usage_event_keys',
    sa.Column('event_id', bigint, autoincrement=False, nullable=False,
              server_default=sa.text("nextval('usage_events_id_seq')")
              if op.get_bind().dialect.name == 'postgresql' else None),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('entry_id', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_usage_event_keys')),
    sa.UniqueConstraint('org_id', 'metric', 'idempotency_key', name=op.f('uq_usage_event_keys_org_id_metric_idempotency_key'))
    )
    op.create_table('usage_late_months',
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('month', sa.DateTime(timezone=True), nullable=False),
    sa.Column('events', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('org_id', 'month', name=op.f('pk_usage_late_months'))
    )
    op.create_table('usage_archives',
    sa.Column('month', sa.DateTime(timezone=True), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('file', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_usage_archives'))
    )
    op.create_table('usage_archived_totals',
    sa.Column('month', sa.DateTime(timezone=True), nullable=False),
    sa.Column('org_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=32), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['month'], ['usage_archives.month'], name=op.f('fk_usage_archived_totals_month_usage_archives')),
    sa.PrimaryKeyConstraint('month', 'org_id', 'metric', name=op.f('pk_usage_archived_totals'))
    )


def _fill_side_tables(month_of: str) -> None:
    op.execute("INSERT INTO usage_event_keys (event_id, org_id, metric, idempotency_key, "
               "entry_id, occurred_at) SELECT id, org_id, metric, idempotency_key, entry_id, "
               "occurred_at FROM usage_events")
    op.create_index('uq_usage_event_keys_entry_id', 'usage_event_keys', ['entry_id'], unique=True, postgresql_where=sa.text('entry_id IS NOT NULL'), sqlite_where=sa.text('entry_id IS NOT NULL'))
    op.execute(f"INSERT INTO usage_late_months (org_id, month, events) SELECT org_id, "
               f"{month_of}, count(*) FROM usage_events WHERE invoice_id IS NULL AND "
               f"metric IN {BILLED} GROUP BY 1, 2")


def _create_indexes() -> None:
    op.create_index(op.f('ix_usage_events_org_id_occurred_at'), 'usage_events', ['org_id', 'occurred_at'], unique=False)
    op.create_index('ix_usage_events_unbilled', 'usage_events', ['org_id', 'occurred_at'], unique=False, postgresql_where=sa.text('invoice_id IS NULL'))
    op.create_index(op.f('ix_usage_events_invoice_id'), 'usage_events', ['invoice_id'], unique=False)


def _upgrade_postgres() -> None:
    bind = op.get_bind()
    for index in ('ix_usage_events_org_id_occurred_at', 'ix_usage_events_unbilled',
                  'ix_usage_events_invoice_id', 'uq_usage_events_entry_id'):
        op.execute(f"DROP INDEX {index}")
    op.execute("ALTER TABLE usage_events DROP CONSTRAINT uq_usage_events_org_id_metric_idempotency_key, "
               "DROP CONSTRAINT pk_usage_events, "
               "DROP CONSTRAINT fk_usage_events_invoice_id_usage_invoices, "
               "DROP CONSTRAINT fk_usage_events_org_id_organizations")
    op.execute("ALTER TABLE usage_events RENAME TO usage_events_unpartitioned")
    op.execute("""
        CREATE TABLE usage_events (
            id bigint NOT NULL DEFAULT nextval('usage_events_id_seq'),
            org_id varchar(64) NOT NULL,
            metric varchar(32) NOT NULL,
            quantity bigint NOT NULL,
            occurred_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            idempotency_key varchar(255),
            conversation_id varchar(255),
            invoice_id varchar(64),
            source varchar(16) NOT NULL DEFAULT 'recorded',
            entry_id varchar(64),
            CONSTRAINT pk_usage_events PRIMARY KEY (id, occurred_at),
            CONSTRAINT fk_usage_events_org_id_organizations FOREIGN KEY (org_id)
                REFERENCES organizations (id),
            CONSTRAINT fk_usage_events_invoice_id_usage_invoices FOREIGN KEY (invoice_id)
                REFERENCES usage_invoices (id)
        ) PARTITION BY RANGE (occurred_at)""")
    op.execute("ALTER SEQUENCE usage_events_id_seq OWNED BY usage_events.id")
    op.execute("CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT")
    now = datetime.now(UTC)
    oldest = bind.execute(sa.text("SELECT min(occurred_at) FROM usage_events_unpartitioned")).scalar()
    last = _months(now, now)[0]
    for _ in range(MONTHS_AHEAD):
        last = _next(last)
    for month in _months(min(oldest, now) if oldest else now, last):
        op.execute(f"CREATE TABLE usage_events_{month:%Y_%m} PARTITION OF usage_events "
                   f"FOR VALUES FROM ('{month:%Y-%m-%d} 00:00:00+00') "
                   f"TO ('{_next(month):%Y-%m-%d} 00:00:00+00')")
    op.execute(f"INSERT INTO usage_events ({COLUMNS}) SELECT {COLUMNS} "
               "FROM usage_events_unpartitioned")
    op.execute("DROP TABLE usage_events_unpartitioned")
    _create_indexes()
    _side_tables()
    _fill_side_tables("date_trunc('month', occurred_at, 'UTC')")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _upgrade_postgres()
        return
    _side_tables()
    _fill_side_tables("strftime('%Y-%m-01 00:00:00.000000', occurred_at)")
    op.drop_index('uq_usage_events_entry_id', table_name='usage_events')
    with op.batch_alter_table('usage_events') as batch:
        batch.drop_constraint('uq_usage_events_org_id_metric_idempotency_key', type_='unique')


def _downgrade_postgres() -> None:
    op.execute("ALTER TABLE usage_events RENAME TO usage_events_partitioned")
    for index in ('ix_usage_events_org_id_occurred_at', 'ix_usage_events_unbilled',
                  'ix_usage_events_invoice_id'):
        op.execute(f"DROP INDEX {index}")
    op.execute("ALTER TABLE usage_events_partitioned DROP CONSTRAINT pk_usage_events, "
               "DROP CONSTRAINT fk_usage_events_invoice_id_usage_invoices, "
               "DROP CONSTRAINT fk_usage_events_org_id_organizations")
    op.execute("""
        CREATE TABLE usage_events (
            id bigint NOT NULL DEFAULT nextval('usage_events_id_seq'),
            org_id varchar(64) NOT NULL,
            metric varchar(32) NOT NULL,
            quantity bigint NOT NULL,
            occurred_at timestamptz NOT NULL,
            received_at timestamptz NOT NULL,
            idempotency_key varchar(255),
            conversation_id varchar(255),
            invoice_id varchar(64),
            source varchar(16) NOT NULL DEFAULT 'recorded',
            entry_id varchar(64),
            CONSTRAINT pk_usage_events PRIMARY KEY (id),
            CONSTRAINT fk_usage_events_org_id_organizations FOREIGN KEY (org_id)
                REFERENCES organizations (id),
            CONSTRAINT fk_usage_events_invoice_id_usage_invoices FOREIGN KEY (invoice_id)
                REFERENCES usage_invoices (id),
            CONSTRAINT uq_usage_events_org_id_metric_idempotency_key
                UNIQUE (org_id, metric, idempotency_key)
        )""")
    op.execute("ALTER SEQUENCE usage_events_id_seq OWNED BY usage_events.id")
    op.execute(f"INSERT INTO usage_events ({COLUMNS}) SELECT {COLUMNS} "
               "FROM usage_events_partitioned")
    op.execute("DROP TABLE usage_events_partitioned")
    _create_indexes()
    op.create_index('uq_usage_events_entry_id', 'usage_events', ['entry_id'], unique=True, postgresql_where=sa.text('entry_id IS NOT NULL'))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _downgrade_postgres()
    else:
        with op.batch_alter_table('usage_events') as batch:
            batch.create_unique_constraint('uq_usage_events_org_id_metric_idempotency_key', ['org_id', 'metric', 'idempotency_key'])
        op.create_index('uq_usage_events_entry_id', 'usage_events', ['entry_id'], unique=True, sqlite_where=sa.text('entry_id IS NOT NULL'))
    op.drop_table('usage_archived_totals')
    op.drop_table('usage_archives')
    op.drop_table('usage_late_months')
    op.drop_index('uq_usage_event_keys_entry_id', table_name='usage_event_keys')
    op.drop_table('usage_event_keys')
