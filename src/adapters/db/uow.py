"""The SQL unit of work: one connection, one transaction, explicit commit."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine, text

from adapters.db import repositories as repos
from adapters.db import usage_repositories as usage


class SqlUnitOfWork:
    """`single_statement=True` runs in autocommit: for units of work of exactly one statement
    (the webhook intake's insert-if-absent), which is atomic on its own and then costs one
    round trip instead of three (BEGIN, statement, COMMIT)."""

    def __init__(self, engine: Engine, single_statement: bool = False) -> None:
        self._engine = engine
        self._single_statement = single_statement
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
        self.quota_ledger = usage.SqlQuotaLedger(conn)
        self.audit = usage.SqlAuditLog(conn)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._conn is not None
        try:
            self.rollback()  # a no-op after commit(); otherwise nothing is kept
        finally:
            self._conn.close()
            self._conn = None

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is not open")
        return self._conn

    def commit(self) -> None:
        self.connection.commit()

    def rollback(self) -> None:
        self.connection.rollback()

    def lock(self, key: str) -> None:
        """A transaction-scoped Postgres advisory lock; SQLite serializes writers already."""
        if self.connection.dialect.name == "postgresql":
            self.connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                                    {"key": key})


class SqlUnitOfWorkFactory:
    def __init__(self, engine: Engine, single_statement: bool = False) -> None:
        self.engine = engine
        self.single_statement = single_statement

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.single_statement)
