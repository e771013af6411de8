"""The shared schedule of Stripe calls, on a fake clock: slots, their spacing and the bound."""

from __future__ import annotations

import pytest

from adapters.stripe_pacing import JITTER_S, LocalSlots, interval_for, reserve


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_callers_at_one_instant_get_consecutive_slots():
    clock = FakeClock()
    slots = LocalSlots(20, clock)
    waits = [slots.reserve(10.0) for _ in range(5)]
    step = (1 + JITTER_S) / 20
    assert waits == pytest.approx([0, step, 2 * step, 3 * step, 4 * step])


def test_an_idle_schedule_banks_no_burst():
    clock = FakeClock()
    slots = LocalSlots(10, clock)
    assert slots.reserve(1.0) == 0
    clock.now += 60  # a minute of silence
    assert slots.reserve(1.0) == 0
    assert slots.reserve(1.0) == pytest.approx(interval_for(10))


def test_a_slot_past_the_bound_is_refused_and_reserves_nothing():
    clock = FakeClock()
    slots = LocalSlots(10, clock)  # one slot every 0.105 s
    for _ in range(10):
        assert slots.reserve(1.0) is not None
    assert slots.reserve(0.5) is None  # the next slot is 1.05 s away
    assert slots.reserve(0.5) is None
    assert slots.reserve(2.0) == pytest.approx(10 * interval_for(10))  # the refused took none


def test_time_passing_brings_slots_closer():
    clock = FakeClock()
    slots = LocalSlots(10, clock)
    for _ in range(3):
        slots.reserve(1.0)
    clock.now += 0.2
    assert slots.reserve(1.0) == pytest.approx(3 * interval_for(10) - 0.2)


@pytest.mark.parametrize("rate", [1, 25, 100, 250])
def test_no_second_of_slots_holds_more_than_the_rate_even_with_jitter(rate):
    tat, starts = 0.0, []
    for _ in range(rate * 5):
        tat, wait = reserve(tat, 0.0, interval_for(rate), 1e9)
        assert wait is not None
        starts.append(wait)
    # Each call may arrive up to JITTER_S after its slot: the worst case delays every other one.
    arrivals = [at + (JITTER_S * 0.999 if n % 2 else 0.0) for n, at in enumerate(starts)]
    for first in range(len(arrivals)):
        in_window = [a for a in arrivals if arrivals[first] <= a < arrivals[first] + 1.0]
        assert len(in_window) <= rate
    # ... and the schedule runs close to the rate: 1 / (1 + JITTER_S) of it.
    assert len(starts) / (starts[-1] + interval_for(rate)) == pytest.approx(rate / 1.05)


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_must_be_positive(rate):
    with pytest.raises(ValueError, match="positive"):
        interval_for(rate)
