"""Retrying a unit of work that lost a database race (StorageConflict)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from domain.errors import StorageConflict

T = TypeVar("T")


def retrying(work: Callable[[], T], attempts: int = 6) -> T:
    """Run `work` (one whole unit of work) again after a deadlock, a serialization failure or
    a busy embedded database, with a short jittered backoff; the last failure propagates."""
    for attempt in range(attempts - 1):
        try:
            return work()
        except StorageConflict:
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not secrecy
    return work()


def usage_lock(org_id: str) -> str:
    """Recorders of an organization's usage hold this shared; a counter rebuild exclusively,
    so no usage is stored between the rebuild's read of the ledger and its seed."""
    return f"usage:{org_id}"
