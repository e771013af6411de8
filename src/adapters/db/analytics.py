"""Revenue and usage analytics, computed in SQL over the recorded history.

A subscription's state at time t is its latest `subscription_history` row at or before t.
Paying states are the domain's (`PAYING_STATES`), bound into each query as `:paying`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, TextClause, bindparam, text

from domain.model.subscriptions import PAYING_STATES

if TYPE_CHECKING:
    from adapters.db.replica import ReplicaRouter

PAYING = sorted(status.value for status in PAYING_STATES)

_STATE_AT = """
SELECT org_id, stripe_subscription_id, status, tier, monthly_amount_minor FROM (
  SELECT h.*, ROW_NUMBER() OVER (PARTITION BY stripe_subscription_id
                                 ORDER BY at DESC, id DESC) AS rn
  FROM subscription_history h WHERE at <= :t) latest
WHERE rn = 1 AND status IN :paying AND monthly_amount_minor > 0
  AND org_id NOT IN (SELECT id FROM organizations WHERE operator)
"""
# Every customer figure leaves out the operator's own organizations (Organization.operator).


class SqlAnalytics:
    def __init__(self, engine: Engine, replica: ReplicaRouter | None = None) -> None:
        self.engine = engine  # the primary
        self.replica = replica  # when set, each query runs where its rule sends it

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        statement = text(sql)
        if ":paying" in sql:
            statement = statement.bindparams(bindparam("paying", value=PAYING, expanding=True))
        if self.replica is None:
            return _run(self.engine, statement, params)
        return self.replica.read("analytics", lambda engine: _run(engine, statement, params))

    def _dialect(self) -> str:
        return self.engine.dialect.name

    def paying_at(self, t: datetime) -> list[tuple[str, str, int]]:
        """(org_id, tier, monthly amount) of every paying subscription at t."""
        return [(r.org_id, r.tier, int(r.monthly_amount_minor)) for r in self._rows(_STATE_AT, t=t)]

    def usage_revenue(self, since: datetime, until: datetime) -> int:
        rows = self._rows(
            "SELECT coalesce(sum(total_minor), 0) AS v FROM usage_invoices WHERE "
            "created_at >= :a AND created_at < :b AND status NOT IN "
            "('draft', 'void')",
            a=since,
            b=until,
        )
        return int(rows[0].v)

    def one_time_revenue(self, since: datetime, until: datetime) -> int:
        rows = self._rows(
            "SELECT coalesce(sum(amount_minor), 0) AS v FROM one_time_purchases "
            "WHERE status = 'paid' AND paid_at >= :a AND paid_at < :b",
            a=since,
            b=until,
        )
        return int(rows[0].v)

    def checkouts(self, since: datetime, until: datetime) -> list[tuple[str, int, int]]:
        """(tier, sessions created, of them completed) for sessions created in the period."""
        rows = self._rows(
            "SELECT tier, count(*) AS created, sum(CASE WHEN status = 'complete' "
            "THEN 1 ELSE 0 END) AS completed FROM checkout_sessions WHERE "
            "created_at >= :a AND created_at < :b GROUP BY tier ORDER BY tier",
            a=since,
            b=until,
        )
        return [(r.tier, int(r.created), int(r.completed or 0)) for r in rows]

    def signups_and_conversions(self, since: datetime, until: datetime) -> tuple[int, int]:
        """Organizations created in the period, and of them those paying at any time before
        the period's end."""
        rows = self._rows(
            "SELECT count(*) AS created, sum(CASE WHEN EXISTS (SELECT 1 FROM "
            "subscription_history h WHERE h.org_id = o.id AND h.at < :b AND h.status IN :paying "
            "AND h.monthly_amount_minor > 0) THEN 1 ELSE 0 END) AS paid "
            "FROM organizations o WHERE o.created_at >= :a AND o.created_at < :b "
            "AND NOT o.operator",
            a=since,
            b=until,
        )
        return int(rows[0].created), int(rows[0].paid or 0)

    def plan_moves(self, since: datetime, until: datetime) -> tuple[int, int]:
        """Upgrades and downgrades in the period: a paying state followed by a paying state of
        the same subscription with a higher (lower) monthly amount."""
        rows = self._rows(
            "SELECT sum(CASE WHEN amount > prev_amount THEN 1 ELSE 0 END) AS up, "
            "sum(CASE WHEN amount < prev_amount THEN 1 ELSE 0 END) AS down FROM ("
            " SELECT at, status, monthly_amount_minor AS amount, "
            "  LAG(monthly_amount_minor) OVER w AS prev_amount, LAG(status) OVER w AS prev_status"
            " , org_id FROM subscription_history WINDOW w AS (PARTITION BY stripe_subscription_id "
            "  ORDER BY at, id)) moves "
            "WHERE at >= :a AND at < :b AND status IN :paying AND prev_status IN :paying "
            "AND org_id NOT IN (SELECT id FROM organizations WHERE operator)",
            a=since,
            b=until,
        )
        return int(rows[0].up or 0), int(rows[0].down or 0)

    def usage_by_org(self, metric: str, since: datetime, until: datetime) -> list[tuple[str, int]]:
        sql = (
            "SELECT org_id, sum(quantity) AS used FROM usage_events WHERE metric = :m AND "
            "occurred_at >= :a AND occurred_at < :b AND org_id NOT IN "
            "(SELECT id FROM organizations WHERE operator) GROUP BY org_id "
            "ORDER BY used DESC, org_id"
        )
        return [(r.org_id, int(r.used)) for r in self._rows(sql, m=metric, a=since, b=until)]

    def usage_by_time(
        self, metric: str, since: datetime, until: datetime
    ) -> tuple[list[int], list[int]]:
        """Consumption by hour of day (0-23, UTC) and by ISO weekday (1 = Monday ... 7)."""
        if self._dialect() == "postgresql":
            hour = "EXTRACT(HOUR FROM occurred_at AT TIME ZONE 'UTC')"
            day = "EXTRACT(ISODOW FROM occurred_at AT TIME ZONE 'UTC')"
        else:
            hour = "CAST(strftime('%H', occurred_at) AS INTEGER)"
            day = "((CAST(strftime('%w', occurred_at) AS INTEGER) + 6) % 7) + 1"
        rows = self._rows(
            f"SELECT {hour} AS h, {day} AS d, sum(quantity) AS used FROM "  # noqa: S608
            "usage_events WHERE metric = :m AND occurred_at >= :a AND "
            "occurred_at < :b GROUP BY h, d",
            m=metric,
            a=since,
            b=until,
        )
        hours, days = [0] * 24, [0] * 7
        for r in rows:
            hours[int(r.h)] += int(r.used)
            days[int(r.d) - 1] += int(r.used)
        return hours, days


def _run(engine: Engine, statement: TextClause, params: dict[str, Any]) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(statement, params))
