"""Alerts and the spend cap around the counter: what goes into the window, and what is announced
when the counter reports a threshold fired (a flushed consumption, a recording) or the cap
refused, all in the transaction that stores it.

Each firing is stored once (a primary key per organization, metric, threshold, period and
level) and announced once (the outbox's dedupe key). Resolution (`quota.reset`) is decided when
the window is loaded: a firing of an earlier period, or one whose level the plan has moved past
the usage, is resolved once (an update of an unresolved row) and its counter mark removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.model.alerts import (
    SPEND_CAP,
    VOICE,
    AlertSettings,
    AlertState,
    announce_key,
    cap_words,
    parse_threshold_id,
)
from domain.model.invoicing import UsagePrice
from domain.model.metering import UsageEvent
from domain.model.outbound import (
    QUOTA_EXHAUSTED,
    QUOTA_RESET,
    QUOTA_THRESHOLD_REACHED,
    SPEND_CAP_REACHED,
)
from domain.model.plans import Metric
from domain.model.quotas import (
    GAUGE_PERIOD_START,
    FiredThreshold,
    LedgerEntry,
    QuotaWindow,
    RecordOutcome,
)
from domain.model.views import money
from domain.ports import UnitOfWork
from domain.services.announce import announce


def alert_object(state: AlertState, limit: int | None = None) -> dict[str, Any]:
    """A firing as the API (GET /api/v1/alerts) and the webhooks show it."""
    body: dict[str, Any] = {
        "metric": state.metric,
        "threshold_id": state.threshold_id,
        "level": state.level,
        "used": state.used,
        "period_start": state.period_start,
        "fired_at": state.fired_at,
        "resolved_at": state.resolved_at,
        "state": "resolved" if state.resolved_at else "fired",
    }
    if state.threshold_id != SPEND_CAP:
        kind, value = parse_threshold_id(state.threshold_id)
        body[kind.value] = value
        body["limit"] = limit
    return body


def with_alerts(
    uow: UnitOfWork, window: QuotaWindow, price: UsagePrice, now: datetime
) -> QuotaWindow:
    """The window with the organization's thresholds, cap and fired marks; resolves (and
    announces) firings that no longer hold. The caller commits."""
    settings = uow.alerts.settings(window.org_id) or AlertSettings(window.org_id)
    levels: dict[Metric, dict[str, int]] = {}
    for threshold in settings.effective(window.limits):
        level = threshold.level(window.limits.get(threshold.metric))
        if level is not None:
            levels.setdefault(threshold.metric, {})[threshold.id] = level
    cap = cap_words(settings.spend_cap, price.per_thousand) if settings.spend_cap else None
    fired: set[tuple[str, str]] = set()
    resolved: set[tuple[str, str]] = set()
    for state in uow.alerts.states(window.org_id, unresolved_only=True):
        mark = (state.metric, state.threshold_id)
        current = state.period_start >= window.mark_period(state.metric)
        if state.threshold_id == SPEND_CAP:
            if current and cap == state.level:
                fired.add(mark)
            elif uow.alerts.resolve(state, now) and current:
                resolved.add(mark)  # a new or removed cap may be reached again
            continue
        metric = Metric(state.metric)
        level = levels.get(metric, {}).get(state.threshold_id)
        if current and level is not None and not _moved_past(uow, state, metric, level, window):
            fired.add(mark)
        elif uow.alerts.resolve(state, now):
            if current:
                resolved.add(mark)
            announce(
                uow,
                org_id=state.org_id,
                event_type=QUOTA_RESET,
                data=alert_object(state.resolved(now), window.limits.get(metric)),
                now=now,
                dedupe_key=announce_key(state, "reset"),
            )
    return replace(
        window,
        alerts=levels,
        cap_words=cap,
        fired=frozenset(fired),
        resolved=frozenset(resolved - fired),
    )


def _moved_past(
    uow: UnitOfWork, state: AlertState, metric: Metric, level: int, window: QuotaWindow
) -> bool:
    """Whether a firing of this period is no longer reached: its level moved (a bigger plan)
    or a gauge shrank, and the usage is now under it."""
    if level == state.level and not metric.is_gauge:
        return False
    start, end = window.period_for(metric)
    used = uow.usage_events.total(window.org_id, metric, start, end)
    return used < level


def _fire(
    uow: UnitOfWork, org_id: str, fired: FiredThreshold, start: datetime, at: datetime
) -> None:
    state = AlertState(
        org_id, fired.metric.value, fired.threshold_id, start, fired.level, at, fired.used
    )
    if not uow.alerts.add_state_if_absent(state):
        return
    exhausted = fired.limit is not None and fired.level >= fired.limit
    announce(
        uow,
        org_id=org_id,
        event_type=QUOTA_EXHAUSTED if exhausted else QUOTA_THRESHOLD_REACHED,
        data=alert_object(state, fired.limit),
        now=at,
        dedupe_key=announce_key(state),
    )


def _cap_reached(
    uow: UnitOfWork,
    org_id: str,
    start: datetime,
    end: datetime | None,
    spent_words: int,
    words: int,
    price: UsagePrice,
    at: datetime,
) -> None:
    state = AlertState(org_id, VOICE, SPEND_CAP, start, words, at, spent_words)
    if not uow.alerts.add_state_if_absent(state):
        return
    settings = uow.alerts.settings(org_id)
    cap = settings.spend_cap if settings and settings.spend_cap else price.charge(words)
    announce(
        uow,
        org_id=org_id,
        event_type=SPEND_CAP_REACHED,
        data={
            "cap": money(cap),
            "spent": money(price.charge(spent_words)),
            "period_start": start,
            "resets_at": end,
            "reached_at": at,
        },
        now=at,
        dedupe_key=announce_key(state, "cap"),
    )


def announce_flushed(uow: UnitOfWork, entries: Sequence[LedgerEntry], price: UsagePrice) -> None:
    """The news the flushed entries carry (only entries the ledger took: a refunded duplicate
    did not count)."""
    for entry in entries:
        if entry.period_start is None:
            continue
        if entry.capped is not None:
            spent, words = entry.capped
            _cap_reached(
                uow,
                entry.org_id,
                entry.period_start,
                entry.period_end,
                spent,
                words,
                price,
                entry.occurred_at,
            )
        for fired in entry.fired:
            _fire(uow, entry.org_id, fired, entry.period_start, entry.occurred_at)


def announce_recorded(
    uow: UnitOfWork,
    org_id: str,
    stored: Sequence[UsageEvent],
    outcome: RecordOutcome,
    price: UsagePrice,
    now: datetime,
) -> None:
    """What a recording fired, and the recorded voice events that passed the cap, flagged."""
    start, end = outcome.period_start, outcome.period_end
    if start is None:
        return
    for fired in outcome.fired:
        period = GAUGE_PERIOD_START if fired.metric.is_gauge else start
        _fire(uow, org_id, fired, period, now)
    if not outcome.passed_cap or outcome.voice_before is None or outcome.cap_words is None:
        return
    running, over = outcome.voice_before, []
    for event in stored:
        if (
            event.metric.is_voice
            and start <= event.occurred_at
            and (end is None or event.occurred_at < end)
        ):
            running += event.quantity
            if running > outcome.cap_words and event.idempotency_key is not None:
                over.append((event.metric, event.idempotency_key))
    uow.alerts.flag_over_cap(org_id, over, now)
    assert outcome.voice_after is not None
    _cap_reached(uow, org_id, start, end, outcome.voice_after, outcome.cap_words, price, now)
