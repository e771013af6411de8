"""Every HTTP call to Stripe, paced and retried on 429.

stripe-python's own retries (`max_network_retries`) cover connection errors, 409 and 5xx, and
a 429 only when Stripe adds `Stripe-Should-Retry: true` (`HTTPClient._should_retry`); they
resend the same headers, so the same Idempotency-Key. This client sits under them: each attempt
first waits for a slot of the shared schedule, and a 429 is sent again, headers and so
idempotency key unchanged, after its Retry-After (or a short backoff without one), a bounded
number of times. All waiting of one call, slots and Retry-After alike, stays within
`max_wait_s`: past it the call fails with StripePacingTimeout, a RateLimitError, which the
gateway turns into the retryable `stripe_unavailable`. A final 429 is handed back as Stripe
sent it and ends the same way.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import stripe

from adapters.stripe_pacing import Slots

log = logging.getLogger(__name__)

Response = tuple[Any, int, Mapping[str, str]]  # body, status, headers
BACKOFF_S = 0.25  # the first wait after a 429 without Retry-After; doubled each time, jittered


class StripePacingTimeout(stripe.RateLimitError):
    """The call would have waited longer than its bound for Stripe's rate limit."""


@dataclass(frozen=True)
class Pacing:
    slots: Slots
    max_wait_s: float = 5.0
    retries_429: int = 3
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a Retry-After of delta-seconds; None when absent or not a number."""
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


class PacedHTTPClient(stripe.HTTPClient):
    name = "paced"

    def __init__(self, inner: stripe.HTTPClient, pacing: Pacing) -> None:
        super().__init__()
        self.inner = inner
        self.pacing = pacing

    def _wait_for_slot(self, deadline: float) -> None:
        pacing = self.pacing
        remaining = max(0.0, deadline - pacing.clock())
        try:
            wait = pacing.slots.reserve(remaining)
        except redis.RedisError as exc:
            # The schedule is unreachable: the call goes unpaced rather than not at all, and a
            # 429 it meets is still retried below.
            log.warning("stripe pacing unavailable: %s", exc)
            return
        if wait is None:
            raise StripePacingTimeout(
                f"no slot for a Stripe call within {pacing.max_wait_s:g} s "
                "(STRIPE_RATE_LIMIT_MAX_WAIT_S)"
            )
        if wait > 0:
            pacing.sleep(wait)

    def _paced(self, send: Callable[[], Response]) -> Response:
        pacing = self.pacing
        deadline = pacing.clock() + pacing.max_wait_s
        attempt = 0
        while True:
            self._wait_for_slot(deadline)
            response = send()
            _, status, headers = response
            if status != 429 or attempt >= pacing.retries_429:
                return response
            attempt += 1
            delay = retry_after(headers)
            if delay is None:
                delay = BACKOFF_S * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)  # noqa: S311
            if pacing.clock() + delay > deadline:
                return response  # waiting would break the bound: the 429 goes back
            log.info("stripe answered 429", extra={"attempt": attempt, "retry_in_s": delay})
            pacing.sleep(delay)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        return self._paced(lambda: self.inner.request(method, url, headers, post_data))

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        return self._paced(lambda: self.inner.request_stream(method, url, headers, post_data))

    def close(self) -> None:
        self.inner.close()  # type: ignore[no-untyped-call]
