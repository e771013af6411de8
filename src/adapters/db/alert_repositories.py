"""The repository of usage alerts: settings and the spend cap, firings, usage past the cap."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from adapters.db.repositories import _Repository
from adapters.db.tables import usage_alert_settings, usage_alert_states, usage_over_spend_cap
from adapters.db.upsert import insert_if_absent
from domain.model.alerts import AlertSettings, AlertState, AlertThreshold, ThresholdKind
from domain.model.money import Money
from domain.model.plans import Metric


def _thresholds(raw: Any) -> tuple[AlertThreshold, ...] | None:
    if raw is None:
        return None
    return tuple(
        AlertThreshold(Metric(t["metric"]), ThresholdKind(t["kind"]), int(t["value"])) for t in raw
    )


def _state(row: Any) -> AlertState:
    return AlertState(**dict(row))


class SqlAlertRepository(_Repository):
    def settings(self, org_id: str) -> AlertSettings | None:
        row = self._one(select(usage_alert_settings).where(usage_alert_settings.c.org_id == org_id))
        if row is None:
            return None
        minor, currency = row["spend_cap_minor"], row["spend_cap_currency"]
        cap = Money(int(minor), currency) if minor is not None and currency else None
        return AlertSettings(org_id, _thresholds(row["thresholds"]), cap, row["updated_at"])

    def save_settings(self, settings: AlertSettings) -> None:
        thresholds = (
            None
            if settings.thresholds is None
            else [
                {"metric": t.metric.value, "kind": t.kind.value, "value": t.value}
                for t in settings.thresholds
            ]
        )
        cap = settings.spend_cap
        values = {
            "org_id": settings.org_id,
            "thresholds": thresholds,
            "spend_cap_minor": cap.amount_minor if cap else None,
            "spend_cap_currency": cap.currency if cap else None,
            "updated_at": settings.updated_at,
        }
        t = usage_alert_settings
        self.conn.execute(delete(t).where(t.c.org_id == settings.org_id))
        self.conn.execute(t.insert().values(**values))

    def add_state_if_absent(self, state: AlertState) -> bool:
        values = {
            "org_id": state.org_id,
            "metric": state.metric,
            "threshold_id": state.threshold_id,
            "period_start": state.period_start,
            "level": state.level,
            "used": state.used,
            "fired_at": state.fired_at,
            "resolved_at": state.resolved_at,
        }
        key = ["org_id", "metric", "threshold_id", "period_start", "level"]
        return insert_if_absent(self.conn, usage_alert_states, [values], key) == 1

    def resolve(self, state: AlertState, at: datetime) -> bool:
        c = usage_alert_states.c
        stmt = (
            update(usage_alert_states)
            .where(
                c.org_id == state.org_id,
                c.metric == state.metric,
                c.threshold_id == state.threshold_id,
                c.period_start == state.period_start,
                c.level == state.level,
                c.resolved_at.is_(None),
            )
            .values(resolved_at=at)
        )
        return self.conn.execute(stmt).rowcount == 1

    def states(self, org_id: str, *, unresolved_only: bool = False) -> list[AlertState]:
        c = usage_alert_states.c
        stmt = select(usage_alert_states).where(c.org_id == org_id)
        if unresolved_only:
            stmt = stmt.where(c.resolved_at.is_(None))
        stmt = stmt.order_by(
            c.fired_at.desc(),
            c.metric.desc(),
            c.threshold_id.desc(),
            c.period_start.desc(),
            c.level.desc(),
        )
        return [_state(r) for r in self.conn.execute(stmt).mappings()]

    def flag_over_cap(self, org_id: str, keys: Sequence[tuple[Metric, str]], at: datetime) -> int:
        if not keys:
            return 0
        rows = [
            {"org_id": org_id, "metric": m.value, "idempotency_key": k, "flagged_at": at}
            for m, k in dict.fromkeys(keys)
        ]
        return insert_if_absent(
            self.conn, usage_over_spend_cap, rows, ["org_id", "metric", "idempotency_key"]
        )

    def over_cap(self, org_id: str) -> list[tuple[Metric, str]]:
        c = usage_over_spend_cap.c
        stmt = (
            select(c.metric, c.idempotency_key)
            .where(c.org_id == org_id)
            .order_by(c.metric, c.idempotency_key)
        )
        return [(Metric(m), str(k)) for m, k in self.conn.execute(stmt)]
