"""The alert repository's contract on Postgres, on the embedded SQLite and on the fake: settings
per organization, each firing stored once and resolved once, events flagged past the cap once."""

from __future__ import annotations

import threading
from datetime import timedelta

from domain.model.alerts import AlertSettings, AlertState, AlertThreshold, ThresholdKind
from domain.model.money import Money
from domain.model.plans import Metric
from domain.services.retry import retrying
from tests.integration.test_repositories import NOW, add_org
from tests.integration.test_repositories import uow as uow

START = NOW.replace(day=1, hour=0)


def state(level: int = 80, org_id: str = "org_a", start=START) -> AlertState:
    return AlertState(org_id, "queries", "percent:80", start, level, NOW, level)


def test_settings_round_trip_and_replace(uow):
    add_org(uow)
    with uow() as u:
        assert u.alerts.settings("org_a") is None
        u.alerts.save_settings(
            AlertSettings(
                "org_a",
                (AlertThreshold(Metric.STT_WORDS, ThresholdKind.AMOUNT, 2**53 - 1),),
                Money(500, "usd"),
                NOW,
            )
        )
        u.commit()
    with uow() as u:
        saved = u.alerts.settings("org_a")
        u.alerts.save_settings(AlertSettings("org_a", None, None, NOW + timedelta(1)))
        u.commit()
    assert saved == AlertSettings(
        "org_a",
        (AlertThreshold(Metric.STT_WORDS, ThresholdKind.AMOUNT, 2**53 - 1),),
        Money(500, "usd"),
        NOW,
    )
    with uow() as u:
        assert u.alerts.settings("org_a") == AlertSettings("org_a", None, None, NOW + timedelta(1))
        u.alerts.save_settings(AlertSettings("org_a", (), None, NOW))
        u.commit()
    with uow() as u:  # no thresholds at all is not the defaults
        assert u.alerts.settings("org_a").thresholds == ()


def test_nothing_is_kept_without_commit(uow):
    add_org(uow)
    with uow() as u:
        u.alerts.save_settings(AlertSettings("org_a", None, Money(1, "usd"), NOW))
        u.alerts.add_state_if_absent(state())
        u.alerts.flag_over_cap("org_a", [(Metric.STT_WORDS, "k")], NOW)
    with uow() as u:
        assert u.alerts.settings("org_a") is None
        assert u.alerts.states("org_a") == []
        assert u.alerts.over_cap("org_a") == []


def test_a_firing_is_stored_once_per_level_and_resolved_once(uow):
    add_org(uow)
    add_org(uow, "org_b")
    with uow() as u:
        assert u.alerts.add_state_if_absent(state())
        assert not u.alerts.add_state_if_absent(state())
        assert u.alerts.add_state_if_absent(state(level=4000))  # a bigger plan's level
        assert u.alerts.add_state_if_absent(state(org_id="org_b"))
        u.commit()
    with uow() as u:
        assert u.alerts.resolve(state(), NOW + timedelta(hours=1))
        assert not u.alerts.resolve(state(), NOW + timedelta(hours=2))
        u.commit()
    with uow() as u:
        mine = u.alerts.states("org_a")
        open_ = u.alerts.states("org_a", unresolved_only=True)
    assert sorted((s.level, s.resolved_at) for s in mine) == [
        (80, NOW + timedelta(hours=1)),
        (4000, None),
    ]
    assert [s.level for s in open_] == [4000]
    assert all(s.period_start == START and s.fired_at.tzinfo for s in mine)


def test_concurrent_firings_of_one_threshold_store_one(uow):
    add_org(uow)
    stored, errors = [], []

    def once() -> bool:
        with uow() as u:
            new = u.alerts.add_state_if_absent(state())
            u.commit()
        return new

    def fire() -> None:
        try:
            stored.append(retrying(once))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(8)]
    try:
        for t in threads:
            t.start()
    finally:
        for t in threads:
            t.join(30)
    assert errors == []
    assert sorted(stored) == [False] * 7 + [True]
    with uow() as u:
        assert len(u.alerts.states("org_a")) == 1


def test_events_are_flagged_past_the_cap_once(uow):
    add_org(uow)
    add_org(uow, "org_b")
    with uow() as u:
        keys = [(Metric.STT_WORDS, "k1"), (Metric.TTS_WORDS, "k1"), (Metric.STT_WORDS, "k1")]
        assert u.alerts.flag_over_cap("org_a", keys, NOW) == 2
        assert u.alerts.flag_over_cap("org_a", [(Metric.STT_WORDS, "k1")], NOW) == 0
        u.commit()
    with uow() as u:
        assert u.alerts.over_cap("org_a") == [(Metric.STT_WORDS, "k1"), (Metric.TTS_WORDS, "k1")]
        assert u.alerts.over_cap("org_b") == []
