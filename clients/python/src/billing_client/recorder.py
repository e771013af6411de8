"""UsageRecorder: buffer usage events and send them in batches from a background thread.

    with client.usage_recorder(flush_interval=1.0) as usage:
        usage.add("stt_words", 1_250, conversation_id="conv_42")

Nothing is dropped quietly: a batch the service cannot take now (unreachable, 503) stays in the
buffer and is sent again, with the same idempotency keys, on the next flush; a batch the service
refuses (422) is handed to `on_error`. `close()` (or leaving the `with`) sends what is left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from billing_client.errors import BillingError, ServiceUnavailable, TransportError
from billing_client.models import UsageEvent, UsageResult

if TYPE_CHECKING:
    from billing_client.client import BillingClient

log = logging.getLogger("billing_client")

ErrorHandler = Callable[[list[UsageEvent], BillingError], None]


class BufferFull(Exception):
    """More events are waiting than `max_buffer`: the service has been unreachable too long."""


def _log_refused(events: list[UsageEvent], error: BillingError) -> None:
    log.error("billing service refused %d usage events: %s", len(events), error)


class UsageRecorder:
    def __init__(
        self,
        client: BillingClient,
        *,
        flush_interval: float = 1.0,
        max_batch: int = 1_000,
        max_buffer: int = 100_000,
        on_error: ErrorHandler = _log_refused,
        background: bool = True,
    ) -> None:
        self._client = client
        self._interval = flush_interval
        self._max_batch = min(max_batch, 1_000)
        self._max_buffer = max_buffer
        self._on_error = on_error
        self._buffer: list[UsageEvent] = []
        self._lock = threading.Lock()  # guards the buffer
        self._sending = threading.Lock()  # one flush at a time, so batches keep their order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.sent = UsageResult()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="usage-recorder", daemon=True)
            self._thread.start()

    def add(
        self,
        metric: str,
        quantity: int,
        *,
        idempotency_key: str | None = None,
        occurred_at: datetime | None = None,
        conversation_id: str | None = None,
    ) -> UsageEvent:
        event = UsageEvent(
            metric,
            quantity,
            occurred_at=occurred_at,
            conversation_id=conversation_id,
            **({"idempotency_key": idempotency_key} if idempotency_key else {}),
        )
        with self._lock:
            if len(self._buffer) >= self._max_buffer:
                raise BufferFull(f"{len(self._buffer)} usage events are waiting to be sent")
            self._buffer.append(event)
            full = len(self._buffer) >= self._max_batch
        if full:
            self._wake.set()
        return event

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> UsageResult:
        """Send everything buffered now; answers what this flush stored. Events the service
        could not take stay buffered; the error is raised after the others are tried."""
        result = UsageResult()
        with self._sending:
            while True:
                with self._lock:
                    batch = self._buffer[: self._max_batch]
                if not batch:
                    return result
                stored = UsageResult()
                try:
                    stored = self._client.record_usage(batch)
                except (TransportError, ServiceUnavailable):
                    raise  # kept: sent again on the next flush, same keys
                except BillingError as error:
                    self._on_error(batch, error)
                with self._lock:
                    del self._buffer[: len(batch)]
                result += stored
                self.sent += stored

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(self._interval, 1.0) + 30)
        self.flush()

    def __enter__(self) -> UsageRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except BillingError as error:
                log.warning("usage not sent yet (%s); %d events kept", error, self.pending)
