"""The SQL unit of work: one connection, one transaction, explicit commit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from adapters.db import alert_repositories as alerts
from adapters.db import repositories as repos
from adapters.db import usage_repositories as usage
from adapters.db.outbox_repository import SqlOutbox
from adapters.db.reconciliation_repository import SqlReconciliationRepository
from adapters.db.webhook_repositories import SqlWebhookDeliveries, SqlWebhookEndpoints
from domain.errors import StorageConflict

log = logging.getLogger("billing.outbox")
# Told the ids of the webhook deliveries a transaction stored, once it has committed.
AfterCommit = Callable[[Sequence[str]], None]
# Told the connection of a transaction that has just committed (the read replica's write marks).
OnCommit = Callable[[Connection], None]

# Postgres: deadlock_detected, serialization_failure. SQLite: a writer lock not had in time.
RACE_SQLSTATES = frozenset({"40P01", "40001"})
TAKE_WRITE_LOCK = text(
    "INSERT INTO write_locks (key, taken) VALUES (:key, 1) "
    "ON CONFLICT (key) DO UPDATE SET taken = write_locks.taken + 1"
)


def lost_a_race(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    original = exc.orig
    if getattr(original, "sqlstate", None) in RACE_SQLSTATES:
        return True
    return "database is locked" in str(original)


class SqlUnitOfWork:
    """`single_statement=True` runs in autocommit: for units of work of exactly one statement
    (the webhook intake's insert-if-absent), which is atomic on its own and then costs one
    round trip instead of three (BEGIN, statement, COMMIT)."""

    def __init__(
        self,
        engine: Engine,
        single_statement: bool = False,
        after_commit: AfterCommit | None = None,
        on_commit: OnCommit | None = None,
    ) -> None:
        self._engine = engine
        self._single_statement = single_statement
        self._after_commit = after_commit
        self._on_commit = on_commit
        self._conn: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        self._conn = self._engine.connect()
        if self._single_statement:
            self._conn = self._conn.execution_options(isolation_level="AUTOCOMMIT")
        self._conn.begin()
        conn = self._conn
        self.organizations = repos.SqlOrganizationRepository(conn)
        self.customers = repos.SqlCustomerRepository(conn)
        self.subscriptions = repos.SqlSubscriptionRepository(conn)
        self.purchases = repos.SqlPurchaseRepository(conn)
        self.checkouts = repos.SqlCheckoutRepository(conn)
        self.usage_events = usage.SqlUsageEventRepository(conn)
        self.usage_invoices = usage.SqlUsageInvoiceRepository(conn)
        self.inbox = repos.SqlWebhookInbox(conn)
        self.audit = usage.SqlAuditLog(conn)
        self.reconciliation = SqlReconciliationRepository(conn)
        self.alerts = alerts.SqlAlertRepository(conn)
        self.outbox = SqlOutbox(conn)
        self.webhook_endpoints = SqlWebhookEndpoints(conn)
        self.webhook_deliveries = SqlWebhookDeliveries(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            self.rollback()  # a no-op after commit(); otherwise nothing is kept
        finally:
            self._conn.close()
            self._conn = None
        if exc is not None and lost_a_race(exc):
            raise StorageConflict("the database aborted a concurrent transaction; retry") from exc

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def commit(self) -> None:
        try:
            self.connection.commit()
        except DBAPIError as exc:
            if lost_a_race(exc):
                raise StorageConflict(
                    "the database aborted a concurrent transaction; retry"
                ) from exc
            raise
        if self._on_commit is not None:
            self._on_commit(self.connection)
        queued, self.webhook_deliveries.added = self.webhook_deliveries.added, []
        if queued and self._after_commit is not None:
            try:
                self._after_commit(queued)
            except Exception:  # the deliveries are stored and due: the outbound sweep sends them
                log.warning("webhook deliveries not enqueued; the sweep will", exc_info=True)

    def rollback(self) -> None:
        self.connection.rollback()
        if self._conn is not None and hasattr(self, "webhook_deliveries"):
            self.webhook_deliveries.added = []

    def lock(self, key: str) -> None:
        """A transaction-scoped Postgres advisory lock. SQLite has one writer lock for the
        whole database: a write takes it now and keeps it until the transaction ends."""
        self._lock(key, "pg_advisory_xact_lock")

    def lock_shared(self, key: str) -> None:
        self._lock(key, "pg_advisory_xact_lock_shared")

    def _lock(self, key: str, function: str) -> None:
        if self.connection.dialect.name == "postgresql":
            self.connection.execute(
                text(f"SELECT {function}(hashtextextended(:key, 0))"), {"key": key}
            )
        else:
            self.connection.execute(TAKE_WRITE_LOCK, {"key": key})


class SqlUnitOfWorkFactory:
    def __init__(
        self,
        engine: Engine,
        single_statement: bool = False,
        after_commit: AfterCommit | None = None,
        on_commit: OnCommit | None = None,
    ) -> None:
        self.engine = engine
        self.single_statement = single_statement
        self.after_commit = after_commit
        self.on_commit = on_commit

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.single_statement, self.after_commit, self.on_commit)
