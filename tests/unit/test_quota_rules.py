"""Check-and-consume, the ledger flush, the counter rebuild and recorded usage, on the fakes
without the HTTP layer: what each decision answers and what the counter and ledger end with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import NotAGauge, QuotaUnavailable, UsageRejected
from domain.model.metering import UsageEvent, UsageSource
from domain.model.plans import Metric, default_catalog
from domain.model.quotas import CounterReply, CounterStatus, LedgerEntry, QuotaDecision
from domain.services.metering import MAX_QUANTITY, UsageInput, UsageReceipt, record_usage
from domain.services.quotas import (
    QuotaDeps,
    consume_quota,
    flush_ledger,
    quota_status,
    release_quota,
)
from domain.services.retry import usage_lock
from tests.unit.fakes import FakeClock, FakeQuotaCounter, FakeUnitOfWorkFactory

GRACE = timedelta(days=3)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def deps() -> QuotaDeps:
    return QuotaDeps(
        FakeUnitOfWorkFactory(), FakeClock(NOW), default_catalog(), FakeQuotaCounter(), GRACE
    )


def ledger(deps, metric=None):
    return [e for e in deps.uow.store.usage_events if metric is None or e.metric is metric]


def test_a_consumption_of_one_by_default_within_the_free_plan(deps):
    assert consume_quota(deps, "org_a", Metric.QUERIES) == QuotaDecision(
        True, Metric.QUERIES, 1, 100, MONTH_END
    )
    assert consume_quota(deps, "org_a", Metric.QUERIES, 99) == QuotaDecision(
        True, Metric.QUERIES, 100, 100, MONTH_END
    )
    assert consume_quota(deps, "org_a", Metric.QUERIES) == QuotaDecision(
        False, Metric.QUERIES, 100, 100, MONTH_END
    )


def test_a_repeated_key_is_allowed_as_a_duplicate_counted_once(deps):
    consume_quota(deps, "org_a", Metric.QUERIES, 3, "req-1")
    again = consume_quota(deps, "org_a", Metric.QUERIES, 3, "req-1")
    assert again == QuotaDecision(True, Metric.QUERIES, 3, 100, MONTH_END, duplicate=True)


def test_a_gauge_never_resets(deps):
    assert consume_quota(deps, "org_a", Metric.DOCUMENTS, 2).resets_at is None
    assert release_quota(deps, "org_a", Metric.DOCUMENTS, 1) == QuotaDecision(
        True, Metric.DOCUMENTS, 1, 5, None
    )


def test_only_a_gauge_is_released_and_the_refusal_says_why(deps):
    message = (
        "queries counts per billing period and cannot be released; only gauges (documents) can"
    )
    with pytest.raises(NotAGauge) as caught:
        release_quota(deps, "org_a", Metric.QUERIES, 1)
    assert str(caught.value) == message


def test_without_the_counter_a_consumption_fails_or_is_allowed_degraded(deps):
    deps.counter.down = True
    with pytest.raises(QuotaUnavailable):
        consume_quota(deps, "org_a", Metric.QUERIES)
    open_deps = QuotaDeps(deps.uow, deps.clock, deps.catalog, deps.counter, GRACE, True)
    assert consume_quota(open_deps, "org_a", Metric.QUERIES) == QuotaDecision(
        True, Metric.QUERIES, None, None, None, degraded=True
    )


class WindowlessCounter(FakeQuotaCounter):
    """A counter store that loses each window as soon as it is set."""

    def set_window(self, window, now):
        self.windows_set = getattr(self, "windows_set", 0) + 1


def test_a_counter_that_cannot_be_prepared_is_unavailable_after_four_tries(deps):
    counter = WindowlessCounter()
    stuck = QuotaDeps(deps.uow, deps.clock, deps.catalog, counter, GRACE)
    with pytest.raises(QuotaUnavailable) as caught:
        consume_quota(stuck, "org_a", Metric.QUERIES)
    assert str(caught.value) == "the quota counter could not be prepared; retry"
    assert counter.windows_set == 4


def test_the_ledger_flush_moves_every_entry_in_batches(deps):
    class Batches(FakeQuotaCounter):
        def __init__(self):
            super().__init__()
            self.asked: list[int] = []

        def pending_ledger(self, limit, org_id=None):
            self.asked.append(limit)
            return super().pending_ledger(limit, org_id)

    counted = Batches()
    deps = QuotaDeps(deps.uow, deps.clock, deps.catalog, counted, GRACE)
    for _ in range(4):
        consume_quota(deps, "org_a", Metric.QUERIES, 2)
    counted.asked.clear()  # the first consume flushed an empty ledger before its rebuild
    assert flush_ledger(deps, size=2) == 4
    assert counted.pending == [] and counted.asked == [2, 2, 2]
    assert [(e.quantity, e.source) for e in ledger(deps)] == [(2, UsageSource.CONSUMED)] * 4
    assert all(e.received_at == NOW for e in ledger(deps))
    assert flush_ledger(deps) == 0


def test_a_release_reaches_the_ledger_as_a_negative_release(deps):
    consume_quota(deps, "org_a", Metric.DOCUMENTS, 3)
    release_quota(deps, "org_a", Metric.DOCUMENTS, 1)
    assert flush_ledger(deps, size=5) == 2
    assert [(e.quantity, e.source) for e in ledger(deps)] == [
        (3, UsageSource.CONSUMED),
        (-1, UsageSource.RELEASED),
    ]
    assert [e.entry_id for e in ledger(deps)] == ["1-0", "2-0"]


def test_an_entry_whose_key_is_already_in_the_ledger_is_given_back(deps):
    record_usage(deps, "org_a", [UsageInput(Metric.QUERIES, 4, "conv-1")])
    consume_quota(deps, "org_a", Metric.QUERIES, 4, "conv-1")  # the counter forgot the key
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 8
    flush_ledger(deps)
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 4
    assert sum(e.quantity for e in ledger(deps)) == 4


def test_an_entry_flushed_before_a_lost_acknowledgement_is_not_given_back(deps):
    consume_quota(deps, "org_a", Metric.QUERIES, 5)
    consume_quota(deps, "org_a", Metric.QUERIES, 2)
    # A flush stored the first entry, then lost the counter's reply: it is still pending.
    with deps.uow() as uow:
        uow.usage_events.add_if_absent([deps.counter.pending[0].as_usage(NOW)])
        uow.commit()
    assert flush_ledger(deps) == 2
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 7
    assert sorted(e.quantity for e in ledger(deps)) == [2, 5]


def test_a_lost_counter_is_rebuilt_from_this_organizations_period_under_its_lock(deps):
    record_usage(
        deps,
        "org_a",
        [
            UsageInput(Metric.QUERIES, 30, "a"),
            UsageInput(Metric.QUERIES, 7, "old", NOW - timedelta(days=40)),
        ],
    )
    record_usage(deps, "org_b", [UsageInput(Metric.QUERIES, 50, "b")])
    deps.counter.lose_counters()
    opened = len(deps.uow.opened)
    assert consume_quota(deps, "org_a", Metric.QUERIES).used == 31
    seeding = [uow for uow in deps.uow.opened[opened:] if uow.locked]
    assert [uow.locked for uow in seeding] == [[usage_lock("org_a")]]


def test_a_lost_gauge_is_rebuilt_from_every_document_in_the_ledger(deps):
    record_usage(
        deps,
        "org_a",
        [
            UsageInput(Metric.DOCUMENTS, 2, "doc-1", datetime(1969, 12, 31, tzinfo=UTC)),
            UsageInput(Metric.DOCUMENTS, 1, "doc-2"),
        ],
    )
    record_usage(deps, "org_a", [UsageInput(Metric.QUERIES, 1, "q")])
    record_usage(deps, "org_b", [UsageInput(Metric.DOCUMENTS, 1, "doc-1")])
    deps.counter.lose_counters()
    assert consume_quota(deps, "org_a", Metric.DOCUMENTS).used == 4


def test_a_counter_rebuilt_below_zero_starts_at_zero(deps):
    with deps.uow() as uow:
        uow.usage_events.add_if_absent(
            [LedgerEntry("9-0", "org_a", Metric.DOCUMENTS, -2, NOW).as_usage(NOW)]
        )
        uow.commit()
    assert consume_quota(deps, "org_a", Metric.DOCUMENTS).used == 1


def test_the_status_peeks_every_metric_of_this_organizations_window(deps):
    consume_quota(deps, "org_a", Metric.QUERIES, 10)
    consume_quota(deps, "org_b", Metric.QUERIES, 20)
    report = quota_status(deps, "org_a")
    assert report.window.org_id == "org_a" and report.window.tier == "free"
    assert {d.metric: d.used for d in report.decisions} == {
        Metric.QUERIES: 10,
        Metric.DOCUMENTS: 0,
        Metric.STT_WORDS: 0,
        Metric.TTS_WORDS: 0,
    }
    assert all(d.allowed for d in report.decisions)


def test_a_counter_reply_without_a_period_is_refused_before_any_seed(deps):
    class HalfReply(FakeQuotaCounter):
        def consume(self, org_id, metric, amount, now, idempotency_key):
            return CounterReply(CounterStatus.NO_COUNTER, 0, 100, NOW, None)

    half = QuotaDeps(deps.uow, deps.clock, deps.catalog, HalfReply(), GRACE)
    with pytest.raises(AssertionError):
        consume_quota(half, "org_a", Metric.QUERIES)


def test_recorded_usage_is_stored_once_and_counted_at_once(deps):
    consume_quota(deps, "org_a", Metric.STT_WORDS, 0)  # the counter has a window
    receipt = record_usage(
        deps,
        "org_a",
        [
            UsageInput(Metric.STT_WORDS, 100, "a", conversation_id="c1"),
            UsageInput(Metric.STT_WORDS, 0, "z"),
            UsageInput(Metric.STT_WORDS, 100, "a"),
        ],
    )
    assert receipt == UsageReceipt(2, 1)
    assert deps.counter.counters[("org_a", Metric.STT_WORDS)][1] == 100
    record_usage(deps, "org_a", [UsageInput(Metric.STT_WORDS, 50, "b")])
    assert deps.counter.counters[("org_a", Metric.STT_WORDS)][1] == 150
    assert [uow.locked for uow in deps.uow.opened if uow.committed][-2:] == [
        [usage_lock("org_a")],
        [usage_lock("org_a")],
    ]
    (first, _, zero) = sorted(ledger(deps), key=lambda e: e.idempotency_key)
    assert (first.occurred_at, first.received_at, first.conversation_id) == (NOW, NOW, "c1")
    assert zero.quantity == 0


def test_usage_kept_nowhere_is_taken_back_from_the_counter(deps):
    consume_quota(deps, "org_a", Metric.QUERIES, 1)

    class FailingCommit(FakeUnitOfWorkFactory):
        def __call__(self):
            uow = super().__call__()

            def commit():
                raise RuntimeError("the database went away")

            uow.commit = commit
            return uow

    failing = FailingCommit()
    failing.store = deps.uow.store
    broken = QuotaDeps(failing, deps.clock, deps.catalog, deps.counter, GRACE)
    with pytest.raises(RuntimeError):
        record_usage(broken, "org_a", [UsageInput(Metric.QUERIES, 5, "x")])
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 1
    assert not deps.counter.recordings


def test_usage_kept_nowhere_with_the_counter_gone_too_fails_with_the_first_error(deps, monkeypatch):
    monkeypatch.setattr("domain.services.metering.time.sleep", lambda _: None)
    consume_quota(deps, "org_a", Metric.QUERIES, 1)

    class CounterGoesAtCommit(FakeUnitOfWorkFactory):
        def __call__(self):
            uow = super().__call__()

            def commit():
                deps.counter.down = True
                raise RuntimeError("the database went away")

            uow.commit = commit
            return uow

    failing = CounterGoesAtCommit()
    failing.store = deps.uow.store
    broken = QuotaDeps(failing, deps.clock, deps.catalog, deps.counter, GRACE)
    with pytest.raises(RuntimeError):
        record_usage(broken, "org_a", [UsageInput(Metric.QUERIES, 5, "x")])
    # Refusing early rather than granting too much: the counter keeps the 5 it could not undo.
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 6


def test_a_counter_away_refuses_the_batch_unless_failing_open(deps, monkeypatch):
    monkeypatch.setattr("domain.services.metering.time.sleep", lambda _: None)
    deps.counter.down = True
    with pytest.raises(QuotaUnavailable):
        record_usage(deps, "org_a", [UsageInput(Metric.QUERIES, 5, "x")])
    assert ledger(deps) == []
    open_deps = QuotaDeps(deps.uow, deps.clock, deps.catalog, deps.counter, GRACE, True)
    assert record_usage(open_deps, "org_a", [UsageInput(Metric.QUERIES, 5, "x")]) == UsageReceipt(
        1, 0
    )


def test_a_slow_counter_moment_is_ridden_out_with_short_pauses(deps, monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr("domain.services.metering.time.sleep", pauses.append)
    consume_quota(deps, "org_a", Metric.QUERIES, 0)
    original, failures = deps.counter.record, iter([True, True])

    def flaky(org_id, usage, token):
        if next(failures, False):
            raise QuotaUnavailable("slow")
        return original(org_id, usage, token)

    deps.counter.record = flaky
    assert record_usage(deps, "org_a", [UsageInput(Metric.QUERIES, 5, "x")]) == UsageReceipt(1, 0)
    assert pauses == [0.02, 0.08]
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 5


@pytest.mark.parametrize(
    ("quantity", "ok"),
    [(0, True), (MAX_QUANTITY, True), (-1, False), (MAX_QUANTITY + 1, False), (True, False)],
)
def test_quantities_from_zero_to_the_largest_exact_integer(deps, quantity, ok):
    batch = [UsageInput(Metric.QUERIES, quantity, "k")]
    if ok:
        assert record_usage(deps, "org_a", batch).accepted == 1
        return
    with pytest.raises(UsageRejected) as caught:
        record_usage(deps, "org_a", batch)
    assert str(caught.value) == "some events are invalid; nothing was stored"
    assert caught.value.details == {
        "errors": {
            "json": {
                "events": {"0": {"quantity": [f"must be an integer from 0 to {MAX_QUANTITY}"]}}
            }
        }
    }


def test_up_to_five_minutes_ahead_is_accepted(deps):
    skewed = [
        UsageInput(Metric.QUERIES, 1, "k", NOW + timedelta(minutes=5)),
        UsageInput(Metric.QUERIES, 1, "l", NOW + timedelta(minutes=5, seconds=1)),
    ]
    with pytest.raises(UsageRejected) as caught:
        record_usage(deps, "org_a", skewed)
    assert caught.value.details == {
        "errors": {
            "json": {"events": {"1": {"occurred_at": ["is more than 5 minutes in the future"]}}}
        }
    }
    assert record_usage(deps, "org_a", skewed[:1]).accepted == 1


@pytest.mark.parametrize(("size", "ok"), [(0, False), (1, True), (1000, True), (1001, False)])
def test_a_batch_holds_one_to_a_thousand_events(deps, size, ok):
    batch = [UsageInput(Metric.QUERIES, 1, f"k{i}") for i in range(size)]
    if ok:
        assert record_usage(deps, "org_a", batch).accepted == size
        return
    with pytest.raises(UsageRejected) as caught:
        record_usage(deps, "org_a", batch)
    assert str(caught.value) == "send 1 to 1000 events"
    assert caught.value.details == {"errors": {"events": ["bad size"]}}


def test_a_window_is_set_as_of_now(deps):
    class Windows(FakeQuotaCounter):
        def set_window(self, window, now):
            self.set_at = now
            super().set_window(window, now)

    counter = Windows()
    consume_quota(
        QuotaDeps(deps.uow, deps.clock, deps.catalog, counter, GRACE), "org_a", Metric.QUERIES
    )
    assert counter.set_at == NOW


def test_a_rebuilt_counter_counts_its_half_open_period_only(deps):
    with deps.uow() as uow:
        uow.usage_events.add_if_absent(
            [
                UsageEvent(
                    "org_a", Metric.QUERIES, 3, MONTH_END - timedelta(seconds=1), "last", NOW
                ),
                UsageEvent("org_a", Metric.QUERIES, 40, MONTH_END, "next", NOW),
            ]
        )
        uow.commit()
    assert consume_quota(deps, "org_a", Metric.QUERIES).used == 4


@pytest.mark.parametrize(
    ("amount", "source"),
    [(-1, UsageSource.RELEASED), (0, UsageSource.CONSUMED), (1, UsageSource.CONSUMED)],
)
def test_only_a_negative_entry_is_a_release(amount, source):
    entry = LedgerEntry("1-0", "org_a", Metric.DOCUMENTS, amount, NOW, "k", NOW)
    assert entry.as_usage(NOW).source is source


def test_recorded_usage_whose_reply_was_lost_still_announces_what_it_fired(deps, monkeypatch):
    """The counter applied the recording and fired 80%, then the reply was lost: the repeat
    answers the same, so the threshold is stored and announced once."""
    monkeypatch.setattr("domain.services.metering.time.sleep", lambda _: None)
    consume_quota(deps, "org_a", Metric.QUERIES, 79)
    original, lost = deps.counter.record, iter([True])

    def applied_then_lost(org_id, usage, token):
        outcome = original(org_id, usage, token)
        if next(lost, False):
            raise QuotaUnavailable("the reply was lost")
        return outcome

    deps.counter.record = applied_then_lost
    assert record_usage(deps, "org_a", [UsageInput(Metric.QUERIES, 2, "x")]) == UsageReceipt(1, 0)
    assert deps.counter.counters[("org_a", Metric.QUERIES)][1] == 81
    sent = [m.event_type for m in deps.uow.store.outbox.values()]
    assert sent == ["quota.threshold_reached"]
    (state,) = deps.uow.store.alert_states.values()
    assert (state.threshold_id, state.level, state.used) == ("percent:80", 80, 81)
