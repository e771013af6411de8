"""The in-memory ReconciliationRepository (wired into the fake unit of work)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.model.reconciliation import Drift, LocalBooks, ReconciliationRun, RunStatus


def _unique(message: str) -> Exception:
    from tests.unit.fakes import UniqueViolation

    return UniqueViolation(message)


class FakeReconciliation:
    def __init__(self, uow: Any) -> None:
        self.uow = uow
        self.store = uow.store

    def add_run(self, run: ReconciliationRun) -> None:
        self.uow.begin_write()
        if run.id in self.store.reconciliation_runs:
            raise _unique(f"run {run.id} exists")
        self.store.reconciliation_runs[run.id] = copy.deepcopy(run)

    def save_run(self, run: ReconciliationRun) -> None:
        self.uow.begin_write()
        if run.id in self.store.reconciliation_runs:
            self.store.reconciliation_runs[run.id] = copy.deepcopy(run)

    def get_run(self, run_id: str) -> ReconciliationRun | None:
        return copy.deepcopy(self.store.reconciliation_runs.get(run_id))

    def latest_run(self, *, finished: bool = False) -> ReconciliationRun | None:
        runs = [
            r
            for r in self.store.reconciliation_runs.values()
            if not finished or r.status is RunStatus.FINISHED
        ]
        runs.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return copy.deepcopy(runs[0]) if runs else None

    def add_drifts(self, drifts: Sequence[Drift]) -> None:
        self.uow.begin_write()
        stored = dict(self.store.drifts)
        for drift in drifts:
            key = (drift.run_id, drift.key)
            if key in stored:
                raise _unique(f"drift {key} exists")
            stored[key] = copy.deepcopy(drift)
        self.store.drifts = stored

    def drifts_of(self, run_id: str, limit: int, offset: int = 0) -> list[Drift]:
        mine = [copy.deepcopy(d) for (r, _), d in self.store.drifts.items() if r == run_id]
        mine.sort(key=lambda d: (d.org_id or "", d.object_type, d.object_id, d.kind))
        return mine[offset : offset + limit]

    def last_seen(self, keys: Sequence[str]) -> dict[str, Drift]:
        runs = self.store.reconciliation_runs
        found: dict[str, Drift] = {}
        for (run_id, key), drift in self.store.drifts.items():
            if key not in keys:
                continue
            seen = found.get(key)
            if seen is None or runs[run_id].created_at > runs[seen.run_id or ""].created_at:
                found[key] = copy.deepcopy(drift)
        return found

    def books(self, org_id: str | None) -> LocalBooks:
        def mine(values: Any) -> list[Any]:
            return [copy.deepcopy(v) for v in values if org_id is None or v.org_id == org_id]

        return LocalBooks(
            customers=mine(self.store.customers.values()),
            subscriptions=mine(self.store.subscriptions.values()),
            invoices=[
                i
                for i in mine(self.store.usage_invoices.values())
                if i.stripe_invoice_id is not None
            ],
            purchases=mine(self.store.purchases.values()),
            checkouts=mine(self.store.checkouts.values()),
        )

    def newest_event_at(self) -> datetime | None:
        created = [e.stripe_created_at for e in self.store.inbox.values() if e.stripe_created_at]
        return max(created) if created else None

    def known_events(self, event_ids: Sequence[str]) -> set[str]:
        return {e for e in event_ids if e in self.store.inbox}

    def other_api_version_events(self, since: datetime, pinned: str) -> int:
        return sum(
            1
            for e in self.store.inbox.values()
            if e.received_at >= since and e.api_version is not None and e.api_version != pinned
        )
