"""SQLAlchemy Core tables. migrations/env.py imports `metadata` from here."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from adapters.db.types import JsonDocument, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ORG_ID = String(64)

organizations = Table(
    "organizations",
    metadata,
    Column("id", ORG_ID, primary_key=True),
    Column("name", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("operator", Boolean, nullable=False, server_default=text("false")),
)

stripe_customers = Table(
    "stripe_customers",
    metadata,
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), primary_key=True),
    Column("stripe_customer_id", String(255), nullable=False, unique=True),
    Column("email", String(320)),
    Column("name", String(200)),
    Column("created_at", UtcDateTime(), nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("stripe_subscription_id", String(255), primary_key=True),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False),
    Column("stripe_customer_id", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("tier", String(32)),
    Column("stripe_price_id", String(255)),
    Column("current_period_start", UtcDateTime()),
    Column("current_period_end", UtcDateTime()),
    Column("cancel_at_period_end", Boolean, nullable=False, server_default=text("false")),
    Column("canceled_at", UtcDateTime()),
    Column("past_due_since", UtcDateTime()),
    Column("started_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Entitlement and dashboard reads: the organization's subscriptions, newest first.
    Index(None, "org_id", "updated_at"),
)

one_time_purchases = Table(
    "one_time_purchases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("tier", String(32), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stripe_checkout_session_id", String(255), unique=True),
    Column("stripe_payment_intent_id", String(255)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("paid_at", UtcDateTime()),
)

checkout_sessions = Table(
    "checkout_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False),
    Column("tier", String(32), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stripe_checkout_session_id", String(255), unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime()),
    Column("expired_at", UtcDateTime()),
    # Conversion analytics: sessions by creation time; an organization's sessions.
    Index(None, "created_at"),
    Index(None, "org_id", "created_at"),
)

usage_invoices = Table(
    "usage_invoices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("period_start", UtcDateTime(), nullable=False),
    Column("period_end", UtcDateTime(), nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stripe_invoice_id", String(255), unique=True),
    Column("hosted_invoice_url", Text),
    Column("past_due_since", UtcDateTime()),
    Column("hold_reason", String(64)),
    # Who may talk to Stripe about this draft, and until when (see domain.services.invoicing).
    Column("claim_token", String(64)),
    Column("claimed_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The invoice list: an organization's invoices, newest first.
    Index(None, "org_id", "created_at"),
    # Resuming drafts and dunning: an organization's invoices by status.
    Index(None, "org_id", "status"),
)

usage_invoice_lines = Table(
    "usage_invoice_lines",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("invoice_id", String(64), ForeignKey("usage_invoices.id"), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("event_count", BigInteger, nullable=False),
    Column("period_start", UtcDateTime(), nullable=False),
    Column("period_end", UtcDateTime(), nullable=False),
    Column("stripe_invoice_item_id", String(255)),
    UniqueConstraint("invoice_id", "metric"),
)

subscription_history = Table(
    "subscription_history",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("org_id", ORG_ID, nullable=False),
    Column("stripe_subscription_id", String(255), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status", String(32), nullable=False),
    Column("tier", String(32)),
    Column("monthly_amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # "The state of every subscription at time t": the latest row per subscription before t.
    Index(None, "stripe_subscription_id", "at"),
    Index(None, "at"),
)

billing_audit = Table(
    "billing_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("org_id", ORG_ID, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("details", JsonDocument, nullable=False),
    Index(None, "org_id", "at"),
    Index(None, "action", "at"),
)

# The usage ledger: every consumption, release and recorded event (domain.model.metering).
# On Postgres it is partitioned by month of occurred_at (adapters.db.partitions); a unique
# index of a partitioned table must hold the partition key, so what makes an entry unique
# lives in usage_event_keys, written in the same transaction.
usage_events = Table(
    "usage_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("quantity", BigInteger, nullable=False),  # negative for a released gauge
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("idempotency_key", String(255)),
    Column("conversation_id", String(255)),
    Column("invoice_id", String(64), ForeignKey("usage_invoices.id")),
    Column("source", String(16), nullable=False, server_default=text("'recorded'")),
    Column("entry_id", String(64)),  # the counter store's id, for consumptions and releases
    # Usage summaries and counter rebuilds: an organization's usage by time.
    Index(None, "org_id", "occurred_at"),
    # Invoicing: the organization's unbilled usage up to a cutoff.
    Index(
        "ix_usage_events_unbilled",
        "org_id",
        "occurred_at",
        postgresql_where=text("invoice_id IS NULL"),
    ),
    # Invoice detail: the entries one invoice bills.
    Index(None, "invoice_id"),
    postgresql_partition_by="RANGE (occurred_at)",
)

# One row per ledger entry (event_id = usage_events.id), not partitioned: the keys that make
# an entry unique across every month. An entry is stored only if its row here is new.
usage_event_keys = Table(
    "usage_event_keys",
    metadata,
    Column(
        "event_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
        # The ledger's own sequence on Postgres; the row id on SQLite.
        server_default=text("nextval('usage_events_id_seq')"),
    ),
    Column("org_id", ORG_ID, nullable=False),
    Column("metric", String(32), nullable=False),
    Column("idempotency_key", String(255)),
    Column("entry_id", String(64)),
    Column("occurred_at", UtcDateTime(), nullable=False),
    # Exactly once per organization, metric and idempotency key (NULL keys never collide).
    UniqueConstraint("org_id", "metric", "idempotency_key"),
    # A flushed counter entry is stored once, however many flushes see it.
    Index(
        "uq_usage_event_keys_entry_id",
        "entry_id",
        unique=True,
        postgresql_where=text("entry_id IS NOT NULL"),
        sqlite_where=text("entry_id IS NOT NULL"),
    ),
)

# Months holding billable usage that arrived after its month had closed: invoicing reads
# the months after the organization's last cutoff, plus these (see usage_repositories).
usage_late_months = Table(
    "usage_late_months",
    metadata,
    Column("org_id", ORG_ID, primary_key=True),
    Column("month", UtcDateTime(), primary_key=True),
    Column("events", BigInteger, nullable=False),
)

# Months whose raw entries the retention command archived, and what they added up to per
# organization and metric (gauges and quota rebuilds keep counting them).
usage_archives = Table(
    "usage_archives",
    metadata,
    Column("month", UtcDateTime(), primary_key=True),
    Column("archived_at", UtcDateTime(), nullable=False),
    Column("file", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("entries", BigInteger, nullable=False),
)

usage_archived_totals = Table(
    "usage_archived_totals",
    metadata,
    Column("month", UtcDateTime(), ForeignKey("usage_archives.month"), primary_key=True),
    Column("org_id", ORG_ID, primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("entries", BigInteger, nullable=False),
)

# The embedded database has one writer lock; a unit of work takes it early by writing here.
write_locks = Table(
    "write_locks",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("taken", BigInteger, nullable=False, server_default=text("0")),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", String(255), primary_key=True),  # Stripe's event id: the insert-if-absent key
    Column("type", String(100), nullable=False),
    Column("api_version", String(64)),
    Column("livemode", Boolean, nullable=False, server_default=text("false")),
    Column("stripe_created_at", UtcDateTime()),
    Column("payload", JsonDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("processed_at", UtcDateTime()),
    Column("last_attempt_at", UtcDateTime()),
    # The sweep and the operators' list: events by status, oldest first; filter by type.
    Index(None, "status", "received_at"),
    Index(None, "type", "received_at"),
)

# -- reconciliation (domain.model.reconciliation) ---------------------------------------------
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("org_id", ORG_ID),
    Column("fix", Boolean, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("events_since", UtcDateTime()),
    Column("events_until", UtcDateTime()),
    Column("error", Text),
    Column("counts", JsonDocument, nullable=False),
    # The latest run, the latest finished one.
    Index(None, "created_at"),
)

reconciliation_drifts = Table(
    "reconciliation_drifts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("run_id", String(64), ForeignKey("reconciliation_runs.id"), nullable=False),
    Column("key", String(400), nullable=False),  # object type, object id and kind
    Column("org_id", ORG_ID),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("kind", String(48), nullable=False),
    Column("ours", Text),
    Column("theirs", Text),
    Column("repair_event", String(100)),
    Column("repair_object", String(255)),
    Column("action", String(16), nullable=False),
    Column("note", Text),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("new", Boolean, nullable=False),
    UniqueConstraint("run_id", "key"),
    # A drift's earlier sightings, newest first.
    Index(None, "key", "run_id"),
)

# Usage alerts and the spend cap: an organization's choices (thresholds NULL: the plan's
# defaults), each firing per (metric, threshold, period, level), and recorded events that
# passed the cap.
usage_alert_settings = Table(
    "usage_alert_settings",
    metadata,
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), primary_key=True),
    Column("thresholds", JsonDocument),
    Column("spend_cap_minor", BigInteger),
    Column("spend_cap_currency", String(3)),
    Column("updated_at", UtcDateTime(), nullable=False),
)

usage_alert_states = Table(
    "usage_alert_states",
    metadata,
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("threshold_id", String(64), primary_key=True),
    Column("period_start", UtcDateTime(), primary_key=True),
    Column("level", BigInteger, primary_key=True),
    Column("used", BigInteger, nullable=False),
    Column("fired_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime()),
)

usage_over_spend_cap = Table(
    "usage_over_spend_cap",
    metadata,
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("flagged_at", UtcDateTime(), nullable=False),
)

# Messages to the product (domain.model.outbound): written in the transaction of the change
# they announce; fanned out to the endpoints after commit.
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Column("dedupe_key", String(255)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("fanned_out_at", UtcDateTime()),
    # One announcement per organization and dedupe key (NULL keys never collide).
    UniqueConstraint("org_id", "dedupe_key"),
    # Replay: an organization's messages since a time.
    Index(None, "org_id", "created_at"),
    # The sweep: messages committed but never fanned out.
    Index(
        "ix_outbox_messages_unsent",
        "created_at",
        postgresql_where=text("fanned_out_at IS NULL"),
        sqlite_where=text("fanned_out_at IS NULL"),
    ),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", ORG_ID, ForeignKey("organizations.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("description", String(500)),
    Column("event_types", JsonDocument, nullable=False),  # [] = every type
    Column("secret", String(128), nullable=False),
    Column("previous_secret", String(128)),
    Column("previous_secret_until", UtcDateTime()),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_at", UtcDateTime()),
    Column("disabled_reason", String(255)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", ORG_ID, nullable=False),
    Column("message_id", String(64), ForeignKey("outbox_messages.id"), nullable=False),
    Column("endpoint_id", String(64), ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UtcDateTime()),
    # Who is sending it now, and until when (an attempt is claimed before the HTTP call).
    Column("lease_token", String(64)),
    Column("leased_until", UtcDateTime()),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # One delivery per message and endpoint, however often it is fanned out.
    UniqueConstraint("message_id", "endpoint_id"),
    # The sweep: pending deliveries by due time.
    Index(None, "status", "next_attempt_at"),
    # An endpoint's recent deliveries.
    Index(None, "endpoint_id", "created_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("delivery_id", String(64), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer),
    Column("response_snippet", Text),
    Index(None, "delivery_id", "number"),
)
