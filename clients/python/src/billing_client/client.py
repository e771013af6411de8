"""BillingClient: the billing service's API for a product's backend, over httpx.

Retries are safe because every call that changes something carries an idempotency key made once
per logical call: a retry after a timeout or a 503 reuses it, so the service counts it once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

import httpx

from billing_client.errors import PayloadTooLarge, RateLimited, TransportError, error_from
from billing_client.models import QuotaDecision, QuotaReport, UsageEvent, UsageResult, new_key

MAX_BATCH = 1_000  # the service's limit of events per request
RETRYABLE_STATUSES = frozenset({502, 503, 504})
NOT_RETRYABLE_CODES = frozenset({"stripe_not_configured"})

Token = str | Callable[[], str]


class BillingClient:
    """`BillingClient(base_url, token, timeout)`: `token` is a service token of the billing
    service (or a function answering one, e.g. per organization)."""

    def __init__(
        self,
        base_url: str,
        token: Token,
        timeout: float = 5.0,
        *,
        retries: int = 3,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token = token
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "billing-client-python/0.1"},
        )

    # -- quota ------------------------------------------------------------------------------
    def consume(
        self,
        metric: str,
        amount: int = 1,
        *,
        idempotency_key: str | None = None,
        token: str | None = None,
    ) -> QuotaDecision:
        """Check and consume atomically. Raises QuotaExceeded (or SpendCapReached) when refused:
        then nothing was consumed."""
        key = idempotency_key or new_key()
        body = {"metric": metric, "amount": amount, "idempotency_key": key}
        answer = self._call("POST", "/api/v1/quota/consume", json=body, token=token)
        return QuotaDecision.from_json(answer, key)

    def release(self, metric: str, amount: int, *, token: str | None = None) -> QuotaDecision:
        """Give back gauge units (a document was deleted). A release carries no key, so it is
        retried only when the request never reached the service."""
        body = {"metric": metric, "amount": amount}
        answer = self._call(
            "POST", "/api/v1/quota/release", json=body, token=token, idempotent=False
        )
        return QuotaDecision.from_json(answer, "")

    def quota(self, *, token: str | None = None) -> QuotaReport:
        """Every metric's used, limit, remaining and reset time in the current period."""
        return QuotaReport.from_json(self._call("GET", "/api/v1/billing/quota", token=token))

    # -- usage ------------------------------------------------------------------------------
    def record_usage(
        self, events: Iterable[UsageEvent | Mapping[str, Any]], *, token: str | None = None
    ) -> UsageResult:
        """Record metered usage, in requests of up to 1,000 events. Each event keeps its
        idempotency key across retries, so a batch sent twice is stored once."""
        result = UsageResult()
        for batch in _batches((_event(e) for e in events), MAX_BATCH):
            result += self._send_usage(batch, token)
        return result

    def _send_usage(self, batch: list[UsageEvent], token: str | None) -> UsageResult:
        try:
            answer = self._call(
                "POST",
                "/api/v1/usage/events",
                json={"events": [e.to_json() for e in batch]},
                token=token,
            )
        except PayloadTooLarge:
            if len(batch) == 1:
                raise
            # The service's body limit is smaller than this batch: send it in halves.
            half = len(batch) // 2
            return self._send_usage(batch[:half], token) + self._send_usage(batch[half:], token)
        return UsageResult(answer["accepted"], answer["duplicates"])

    def usage_recorder(self, **options: Any) -> Any:
        """A UsageRecorder that batches events and sends them from a background thread."""
        from billing_client.recorder import UsageRecorder

        return UsageRecorder(self, **options)

    # -- the organization ---------------------------------------------------------------------
    def status(self, *, token: str | None = None) -> dict[str, Any]:
        """The organization's plan, where it comes from, and its subscription."""
        return self._call("GET", "/api/v1/billing/status", token=token)

    def dashboard(self, *, token: str | None = None) -> dict[str, Any]:
        """Plan, subscription, usage against limits, unbilled voice charge, recent invoices."""
        return self._call("GET", "/api/v1/billing/dashboard", token=token)

    # -- plumbing -----------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BillingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bearer(self, token: str | None) -> str:
        if token is not None:
            return token
        return self._token() if callable(self._token) else self._token

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._bearer(token)}"}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, json=json, headers=headers)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if last or (sent and not idempotent):
                    raise TransportError("unreachable", str(exc) or type(exc).__name__, 0) from exc
                self._sleep(self._delay(attempt, None))
                continue
            if response.is_success:
                answer: dict[str, Any] = response.json()
                return answer
            error = error_from(response.status_code, _json(response))
            wait = _retry_after(response)
            if isinstance(error, RateLimited):
                error.retry_after = wait
            if last or not idempotent or not _retryable(response.status_code, error.code):
                raise error
            self._sleep(self._delay(attempt, wait))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        # Exponential backoff with full jitter: many clients retrying do not arrive together.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311


def _retryable(status: int, code: str) -> bool:
    if code == "rate_limited":
        return True
    return status in RETRYABLE_STATUSES and code not in NOT_RETRYABLE_CODES


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _event(value: UsageEvent | Mapping[str, Any]) -> UsageEvent:
    return value if isinstance(value, UsageEvent) else UsageEvent(**value)


def _batches(events: Iterable[UsageEvent], size: int) -> Iterator[list[UsageEvent]]:
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield batch
