"""The QuotaCounter port's contract, the same tests against the in-memory fake, the Redis adapter
on the embedded in-process Redis, on the real Redis and on a real three-master Redis Cluster: a
fake cannot drift from the script it stands in for, nor a script from what a cluster accepts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.redis_client import embedded_redis
from adapters.redis_quota import RedisQuotaCounter
from domain.model.plans import Metric
from domain.model.quotas import CounterStatus, QuotaWindow, calendar_month
from tests.unit.fakes import FakeQuotaCounter

LIMITS = {Metric.QUERIES: 10, Metric.DOCUMENTS: 3, Metric.STT_WORDS: None, Metric.TTS_WORDS: None}
NOW = START = END = datetime.now(UTC)
WINDOW = QuotaWindow("org_c", "free", START, END, LIMITS)


@pytest.fixture(autouse=True)
def real_time():
    """Redis expires windows by its own clock (PEXPIREAT, a minute ahead of `now`), so each
    test runs at the real time of its start."""
    global NOW, START, END, WINDOW
    NOW = datetime.now(UTC).replace(microsecond=0)
    START, END = calendar_month(NOW)
    WINDOW = QuotaWindow("org_c", "free", START, END, LIMITS)


@pytest.fixture(params=["fake", "embedded", "redis", "cluster"])
def counter(request):
    if request.param == "fake":
        return FakeQuotaCounter()
    client = {
        "embedded": embedded_redis,
        "redis": lambda: request.getfixturevalue("clean_redis"),
        "cluster": lambda: request.getfixturevalue("clean_cluster"),
    }[request.param]()
    return RedisQuotaCounter(client)


def ready(counter, *metrics: Metric, used: int = 0) -> None:
    counter.set_window(WINDOW, datetime.now(UTC))  # expires by Redis's clock
    for metric in metrics:
        counter.seed("org_c", metric, START, END, used)


def test_without_a_window_or_a_counter_the_caller_is_told(counter):
    assert counter.consume("org_c", Metric.QUERIES, 1, NOW, None).status is CounterStatus.NO_WINDOW
    counter.set_window(WINDOW, datetime.now(UTC))
    reply = counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert reply.status is CounterStatus.NO_COUNTER
    assert (reply.period_start, reply.period_end, reply.limit) == (START, END, 10)


def test_consume_up_to_the_limit_then_refuse(counter):
    ready(counter, Metric.QUERIES, used=8)
    assert counter.consume("org_c", Metric.QUERIES, 2, NOW, None).used == 10
    refused = counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert (refused.status, refused.used) == (CounterStatus.REFUSED, 10)
    assert [e.amount for e in counter.pending_ledger(10)] == [2]  # a refusal leaves no entry


def test_a_repeated_key_is_answered_not_counted(counter):
    ready(counter, Metric.QUERIES)
    assert counter.consume("org_c", Metric.QUERIES, 3, NOW, "k").status is CounterStatus.OK
    again = counter.consume("org_c", Metric.QUERIES, 3, NOW, "k")
    assert (again.status, again.used) == (CounterStatus.DUPLICATE, 3)
    other_metric = counter.consume("org_c", Metric.STT_WORDS, 3, NOW, "k")
    assert other_metric.status is CounterStatus.NO_COUNTER  # keys are per metric
    (entry,) = counter.pending_ledger(10)
    assert (
        entry.org_id,
        entry.metric,
        entry.amount,
        entry.idempotency_key,
        entry.period_start,
    ) == ("org_c", Metric.QUERIES, 3, "k", START)


def test_seed_never_overwrites_a_counter_of_the_same_period(counter):
    ready(counter, Metric.QUERIES, used=4)
    counter.seed("org_c", Metric.QUERIES, START, END, 9)
    assert counter.peek("org_c", Metric.QUERIES, NOW).used == 4


def test_recorded_usage_counts_in_its_period_only_and_is_never_refused(counter):
    ready(counter, Metric.QUERIES, used=9)
    counter.record(
        "org_c",
        [
            (Metric.QUERIES, NOW, 5),
            (Metric.QUERIES, START, 1),
            (Metric.QUERIES, START - timedelta(seconds=1), 100),  # last month
            (Metric.QUERIES, END, 100),
        ],
        "t1",
    )  # next month
    assert counter.peek("org_c", Metric.QUERIES, NOW).used == 15  # over the limit: shown
    assert counter.consume("org_c", Metric.QUERIES, 1, NOW, None).status is CounterStatus.REFUSED
    counter.record("org_c", [(Metric.TTS_WORDS, NOW, 50)], "t2")  # no counter: stays missing
    assert counter.peek("org_c", Metric.TTS_WORDS, NOW).status is CounterStatus.NO_COUNTER
    assert counter.pending_ledger(10) == []  # recorded usage is stored by the caller


def test_a_recording_counts_once_per_token_and_is_undone_once(counter):
    ready(counter, Metric.STT_WORDS)
    usage = [(Metric.STT_WORDS, NOW, 40)]
    counter.record("org_c", usage, "once")
    counter.record("org_c", usage, "once")  # a retry after a lost reply
    assert counter.peek("org_c", Metric.STT_WORDS, NOW).used == 40
    counter.undo_record("org_c", usage, "never-recorded")
    counter.undo_record("org_c", usage, "once")
    counter.undo_record("org_c", usage, "once")
    assert counter.peek("org_c", Metric.STT_WORDS, NOW).used == 0


def test_gauges_count_everything_and_release_never_below_zero(counter):
    ready(counter, Metric.DOCUMENTS, used=2)
    counter.record("org_c", [(Metric.DOCUMENTS, START - timedelta(days=400), 1)], "t3")
    assert counter.peek("org_c", Metric.DOCUMENTS, NOW).used == 3
    assert counter.release("org_c", Metric.DOCUMENTS, 5, NOW).used == 0
    assert [e.amount for e in counter.pending_ledger(10)] == [-3]


def test_ack_drops_entries_and_refunds_a_duplicate_once(counter):
    ready(counter, Metric.QUERIES)
    counter.consume("org_c", Metric.QUERIES, 2, NOW, "dup")
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    dup, plain = counter.pending_ledger(10)
    counter.ack_ledger([dup, plain], [dup])
    counter.ack_ledger([dup], [dup])  # a second flush saw it too: no second refund
    assert counter.pending_ledger(10) == []
    assert counter.peek("org_c", Metric.QUERIES, NOW).used == 1


def test_a_refund_for_an_older_period_leaves_the_new_counter_alone(counter):
    ready(counter, Metric.QUERIES)
    counter.consume("org_c", Metric.QUERIES, 2, NOW, "dup")
    (entry,) = counter.pending_ledger(10)
    later = QuotaWindow("org_c", "free", END, END + timedelta(days=31), WINDOW.limits)
    counter.set_window(later, END)
    counter.seed("org_c", Metric.QUERIES, END, END + timedelta(days=31), 5)
    counter.ack_ledger([entry], [entry])
    assert counter.peek("org_c", Metric.QUERIES, END + timedelta(hours=1)).used == 5


def test_counts_past_2_to_the_53_stay_exact_integers(counter):
    """The largest amount the API takes, twice, on an unlimited metric: Lua's doubles must not
    turn the count, the repeat's answer or the ledger entry into 9.007199254741e+15."""
    ready(counter, Metric.STT_WORDS, used=405)
    largest = 2**53 - 1
    assert counter.consume("org_c", Metric.STT_WORDS, largest, NOW, "big").used == largest + 405
    again = counter.consume("org_c", Metric.STT_WORDS, largest, NOW, "big")
    assert (again.status, again.used) == (CounterStatus.DUPLICATE, largest + 405)
    assert counter.peek("org_c", Metric.STT_WORDS, NOW).used == largest + 405
    assert [e.amount for e in counter.pending_ledger(10)] == [largest]


# Alerts and the spend cap: decided by the same step, on the fake, embedded and real Redis.

ALERTS = {Metric.QUERIES: {"percent:80": 8, "percent:100": 10}}


def alerting(counter, *, cap_words=None, fired=frozenset(), resolved=frozenset(), used=0):
    window = replace(WINDOW, alerts=ALERTS, cap_words=cap_words, fired=fired, resolved=resolved)
    counter.set_window(window, datetime.now(UTC))
    for metric in Metric:
        counter.seed("org_c", metric, START, END, used)
    return window


def fired_of(counter) -> list[tuple[str, int, int, int | None]]:
    return [
        (f.threshold_id, f.level, f.used, f.limit)
        for e in counter.pending_ledger(100)
        for f in e.fired
    ]


def test_a_threshold_fires_once_on_the_consumption_that_reaches_it(counter):
    alerting(counter)
    for _ in range(7):
        counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert fired_of(counter) == []
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)  # 8 of 10: 80%
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)  # 10: 100%
    assert counter.consume("org_c", Metric.QUERIES, 1, NOW, None).status is CounterStatus.REFUSED
    assert fired_of(counter) == [("percent:80", 8, 8, 10), ("percent:100", 10, 10, 10)]
    entries = counter.pending_ledger(100)
    assert [e.period_start for e in entries if e.fired] == [START, START]


def test_one_consumption_past_both_levels_fires_both(counter):
    alerting(counter, used=5)
    counter.consume("org_c", Metric.QUERIES, 5, NOW, None)
    assert sorted(fired_of(counter)) == [("percent:100", 10, 10, 10), ("percent:80", 8, 10, 10)]


def test_marks_given_with_the_window_do_not_fire_again_after_a_loss(counter):
    """A counter store that lost its marks gets them back with the window (from the table)."""
    alerting(counter, used=7, fired=frozenset({("queries", "percent:80")}))
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert fired_of(counter) == []


def test_a_resolved_mark_is_removed_and_may_fire_again(counter):
    alerting(counter, used=7)
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert [f[0] for f in fired_of(counter)] == ["percent:80"]
    counter.ack_ledger(counter.pending_ledger(100))
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert fired_of(counter) == []
    alerting(counter, resolved=frozenset({("queries", "percent:80")}), used=9)
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert sorted(f[0] for f in fired_of(counter)) == ["percent:100", "percent:80"]


def test_the_cap_refuses_the_voice_word_that_would_pass_it_across_both_metrics(counter):
    alerting(counter, cap_words=100)
    assert counter.consume("org_c", Metric.STT_WORDS, 60, NOW, None).status is CounterStatus.OK
    assert counter.consume("org_c", Metric.TTS_WORDS, 40, NOW, None).status is CounterStatus.OK
    refused = counter.consume("org_c", Metric.TTS_WORDS, 1, NOW, None)
    assert (refused.status, refused.used, refused.spent_words, refused.cap_words) == (
        CounterStatus.CAPPED,
        40,
        100,
        100,
    )
    counter.consume("org_c", Metric.STT_WORDS, 5, NOW, None)  # refused again: no second marker
    assert counter.consume("org_c", Metric.QUERIES, 1, NOW, None).status is CounterStatus.OK
    entries = counter.pending_ledger(100)
    assert [(e.metric, e.amount, e.capped) for e in entries] == [
        (Metric.STT_WORDS, 60, None),
        (Metric.TTS_WORDS, 40, None),
        (Metric.TTS_WORDS, 0, (100, 100)),
        (Metric.QUERIES, 1, None),
    ]
    assert counter.peek("org_c", Metric.TTS_WORDS, NOW).used == 40


def test_the_cap_needs_both_voice_counters(counter):
    counter.set_window(replace(WINDOW, cap_words=100), datetime.now(UTC))
    counter.seed("org_c", Metric.STT_WORDS, START, END, 0)
    assert counter.consume("org_c", Metric.STT_WORDS, 1, NOW, None).status is (
        CounterStatus.NO_COUNTER
    )


def test_recorded_usage_fires_thresholds_and_reports_the_voice_words_against_the_cap(counter):
    alerting(counter, cap_words=100, used=7)
    outcome = counter.record(
        "org_c", [(Metric.QUERIES, NOW, 1), (Metric.STT_WORDS, NOW, 30)], "rec-1"
    )
    assert [(f.metric, f.threshold_id, f.level, f.used, f.limit) for f in outcome.fired] == [
        (Metric.QUERIES, "percent:80", 8, 8, 10)
    ]
    assert (outcome.voice_before, outcome.voice_after, outcome.cap_words) == (14, 44, 100)
    assert (outcome.period_start, outcome.period_end) == (START, END)
    assert not outcome.passed_cap
    passed = counter.record("org_c", [(Metric.TTS_WORDS, NOW, 70)], "rec-2")
    assert passed.passed_cap and (passed.voice_before, passed.voice_after) == (44, 114)
    # A repeat after a lost reply counts nothing and answers the same, so nothing is lost.
    assert counter.record("org_c", [(Metric.TTS_WORDS, NOW, 70)], "rec-2") == passed
    again = counter.record("org_c", [(Metric.QUERIES, NOW, 1)], "rec-1")
    assert again == outcome
    assert counter.peek("org_c", Metric.QUERIES, NOW).used == 8


def test_undoing_a_recording_unmarks_what_it_fired(counter):
    alerting(counter, used=7)
    usage = [(Metric.QUERIES, NOW, 1)]
    assert len(counter.record("org_c", usage, "rec-3").fired) == 1
    counter.undo_record("org_c", usage, "rec-3")
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)
    assert [f[0] for f in fired_of(counter)] == ["percent:80"]


def test_each_organization_s_entries_are_read_and_dropped_on_their_own(counter):
    other = replace(WINDOW, org_id="org_d")
    ready(counter, Metric.QUERIES)
    counter.set_window(other, datetime.now(UTC))
    counter.seed("org_d", Metric.QUERIES, START, END, 0)
    counter.consume("org_c", Metric.QUERIES, 2, NOW, None)
    counter.consume("org_d", Metric.QUERIES, 5, NOW, None)
    entries = counter.pending_ledger(10)
    assert sorted((e.org_id, e.amount) for e in entries) == [("org_c", 2), ("org_d", 5)]
    assert len({e.entry_id for e in entries}) == 2
    assert [(e.org_id, e.amount) for e in counter.pending_ledger(10, "org_d")] == [("org_d", 5)]
    counter.ack_ledger([e for e in entries if e.org_id == "org_c"])
    assert [(e.org_id, e.amount) for e in counter.pending_ledger(10)] == [("org_d", 5)]
    counter.ack_ledger(counter.pending_ledger(10))
    assert counter.pending_ledger(10) == []
    counter.consume("org_c", Metric.QUERIES, 1, NOW, None)  # a drained organization comes back
    assert [(e.org_id, e.amount) for e in counter.pending_ledger(10)] == [("org_c", 1)]
