"""Reconciliation jobs, on their own queue (never delaying a webhook or the ledger flush)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.model.reconciliation import RunStatus
from domain.services.reconciliation import ReconcileDeps, open_run, reconcile

if TYPE_CHECKING:
    from entrypoints.bootstrap import Container


def reconcile_books(container: Container, run_id: str) -> str | None:
    """Carry out a run an operator queued; a second job for it does nothing."""
    deps = ReconcileDeps(container.payments, container.jobs)
    with container.uow() as uow:
        run = uow.reconciliation.get_run(run_id)
    if run is None or run.status is not RunStatus.QUEUED:
        return run.status.value if run else None
    result = reconcile(deps, run)
    return f"{result.run.status.value}: {len(result.drifts)} drifts"


def schedule_reconciliation(container: Container) -> str:
    """Daily: every organization, repairing what Stripe owns."""
    deps = ReconcileDeps(container.payments, container.jobs)
    run = open_run(deps, fix=True, actor="scheduler:reconciliation")
    result = reconcile(deps, run)
    return f"{run.id}: {len(result.drifts)} drifts"
