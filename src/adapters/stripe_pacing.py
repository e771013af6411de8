"""Pacing of Stripe calls: one shared schedule of slots, so every worker and process together
stays under Stripe's rate limit.

The schedule is a GCRA (generic cell rate algorithm) without burst: each caller reserves the
next free slot, one `interval` after the previous one, and sleeps until it. A caller whose slot
is further away than its bound reserves nothing and is refused. Slots are spaced by
(1 s + JITTER_S) / rate rather than 1 s / rate, so that a call reaching Stripe up to JITTER_S
later than its slot, relative to the others, still never makes any one-second window hold more
than `rate` calls (a strict schedule would overflow a window whenever one call was late).

`limits` (the library behind the HTTP rate limits) only answers yes or no to a hit: a caller
would poll until a window frees, and its windows admit a whole second's budget in one burst.
Here a reservation tells each caller how long to wait, in one round trip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

import redis

JITTER_S = 0.05
KEY = "stripe:pace"


def interval_for(rate: float) -> float:
    """Seconds between two slots for at most `rate` calls in any second."""
    if rate <= 0:
        raise ValueError("the Stripe rate limit must be positive")
    return (1.0 + JITTER_S) / rate


def reserve(tat: float, now: float, interval: float, max_wait: float) -> tuple[float, float | None]:
    """GCRA: from the theoretical arrival time of the next slot (`tat`), the schedule after a
    reservation and the wait until the slot reserved; (tat, None) when that wait would exceed
    `max_wait` (nothing is reserved)."""
    start = max(tat, now)
    wait = start - now
    if wait > max_wait:
        return tat, None
    return start + interval, wait


class Slots(Protocol):
    def reserve(self, max_wait: float) -> float | None:
        """Reserve the next slot: the seconds to wait for it, or None past `max_wait`."""


class LocalSlots:
    """The schedule in this process (the embedded default has no Redis to share)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval_for(rate)
        self.clock = clock
        self._tat = 0.0
        self._lock = threading.Lock()

    def reserve(self, max_wait: float) -> float | None:
        with self._lock:
            self._tat, wait = reserve(self._tat, self.clock(), self.interval, max_wait)
        return wait


# The same arithmetic as `reserve`, in microseconds of Redis's own clock (one clock for every
# process). The key expires once its schedule is in the past.
_RESERVE = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now_us)
local wait = start - now_us
if wait > max_wait then
  return -1
end
local nxt = start + interval
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now_us) / 1000) + 1000)
return wait
"""


class RedisSlots:
    """The schedule in Redis, shared by every process that uses the same key."""

    def __init__(self, client: redis.Redis, rate: float, key: str = KEY) -> None:
        self.interval_us = round(interval_for(rate) * 1_000_000)
        self.key = key
        self._script = client.register_script(_RESERVE)

    def reserve(self, max_wait: float) -> float | None:
        wait_us = cast(
            int, self._script(keys=[self.key], args=[self.interval_us, round(max_wait * 1e6)])
        )
        return None if wait_us < 0 else wait_us / 1_000_000
