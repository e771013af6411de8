"""Owners' use cases of usage alerts and the spend cap: read and set them. A change re-sets the
organization's counter window at once, so the next consumption decides with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.errors import SpendCapReached
from domain.model.alerts import (
    SPEND_CAP,
    AlertSettings,
    AlertState,
    AlertThreshold,
    check_spend_cap,
    check_thresholds,
)
from domain.model.audit import AuditEntry
from domain.model.money import Money
from domain.model.quotas import QuotaDecision
from domain.model.views import money
from domain.services.quotas import (
    QuotaDeps,
    QuotaReport,
    load_window,
    quota_status,
    refresh_window,
)
from domain.services.retry import retrying


@dataclass(frozen=True)
class ThresholdView:
    threshold: AlertThreshold
    level: int | None  # None: a percent of a metric the plan does not limit (never fires)
    limit: int | None
    state: AlertState | None  # the latest firing, if any


@dataclass(frozen=True)
class AlertsView:
    defaults: bool
    period_start: datetime
    period_end: datetime
    thresholds: list[ThresholdView]


def get_alerts(deps: QuotaDeps, org_id: str) -> AlertsView:
    window = load_window(deps, org_id)
    with deps.uow() as uow:
        settings = uow.alerts.settings(org_id) or AlertSettings(org_id)
        states = uow.alerts.states(org_id)
    latest: dict[tuple[str, str], AlertState] = {}
    for state in states:  # most recent first
        latest.setdefault((state.metric, state.threshold_id), state)
    views = []
    for t in settings.effective(window.limits):
        limit = window.limits.get(t.metric)
        views.append(ThresholdView(t, t.level(limit), limit, latest.get((t.metric.value, t.id))))
    return AlertsView(settings.thresholds is None, window.period_start, window.period_end, views)


def set_alerts(
    deps: QuotaDeps,
    org_id: str,
    thresholds: Sequence[AlertThreshold] | None,
    actor: str,
) -> AlertsView:
    """Replace the thresholds (None: back to the plan's defaults); all or nothing."""
    window = load_window(deps, org_id)
    checked = None if thresholds is None else check_thresholds(thresholds, window.limits)
    now = deps.clock.now()

    def save() -> None:
        with deps.uow() as uow:
            current = uow.alerts.settings(org_id) or AlertSettings(org_id)
            uow.alerts.save_settings(current.with_thresholds(checked, now))
            details = {
                "thresholds": None
                if checked is None
                else [f"{t.metric.value}:{t.id}" for t in checked]
            }
            uow.audit.record(AuditEntry(org_id, now, actor, "alerts.updated", details))
            uow.commit()

    retrying(save)
    refresh_window(deps, org_id)
    return get_alerts(deps, org_id)


@dataclass(frozen=True)
class SpendCapView:
    cap: Money | None
    spent: Money
    spent_words: int | None  # None: the counter is unreachable
    resets_at: datetime
    reached_at: datetime | None


def _voice_words(decisions: Sequence[QuotaDecision]) -> int:
    return sum(d.used or 0 for d in decisions if d.metric.is_voice)


def spend_cap_status(
    deps: QuotaDeps, org_id: str, report: QuotaReport | None = None
) -> SpendCapView:
    """The cap and the spend against it (from a quota report the caller already has)."""
    report = report or quota_status(deps, org_id)
    with deps.uow() as uow:
        settings = uow.alerts.settings(org_id) or AlertSettings(org_id)
        states = uow.alerts.states(org_id, unresolved_only=True)
    start = report.window.period_start
    reached = [s for s in states if s.threshold_id == SPEND_CAP and s.period_start >= start]
    words = _voice_words(report.decisions)
    return SpendCapView(
        settings.spend_cap,
        deps.price.charge(words),
        words,
        report.window.period_end,
        reached[0].fired_at if reached else None,
    )


def set_spend_cap(
    deps: QuotaDeps, org_id: str, cap: tuple[int, str] | None, actor: str
) -> SpendCapView:
    """Set (amount_minor, currency), or with None remove, the cap on the period's metered
    voice charge."""
    checked = None if cap is None else check_spend_cap(*cap, deps.price.currency)
    now = deps.clock.now()

    def save() -> None:
        with deps.uow() as uow:
            current = uow.alerts.settings(org_id) or AlertSettings(org_id)
            uow.alerts.save_settings(current.with_spend_cap(checked, now))
            details = {"spend_cap_minor": checked.amount_minor if checked else None}
            uow.audit.record(AuditEntry(org_id, now, actor, "spend_cap.updated", details))
            uow.commit()

    retrying(save)
    refresh_window(deps, org_id)
    return spend_cap_status(deps, org_id)


def spend_cap_refusal(deps: QuotaDeps, org_id: str, decision: QuotaDecision) -> SpendCapReached:
    """The answer to a consumption the cap refused: the cap, the spend so far, the reset."""
    with deps.uow() as uow:
        settings = uow.alerts.settings(org_id)
    words = decision.cap_words or 0
    cap = settings.spend_cap if settings and settings.spend_cap else deps.price.charge(words)
    spent = deps.price.charge(decision.spent_words or 0)
    return SpendCapReached(
        f"the spend cap of {cap.format()} for metered voice usage this period is reached "
        f"({spent.format()} spent)",
        metric=decision.metric.value,
        cap=money(cap),
        spent=money(spent),
        resets_at=decision.resets_at,
    )
