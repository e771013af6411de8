"""RQ job functions. Each takes ids only, after the container its worker hands it (see
entrypoints.worker.job_class): no job finds its dependencies in a global."""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rq import get_current_job

if TYPE_CHECKING:
    from entrypoints.bootstrap import Container

from domain.services.dunning import check_dunning
from domain.services.invoicing import invoice_unbilled_usage
from domain.services.monthly_invoicing import month_cutoff, organizations_to_invoice
from domain.services.quotas import flush_ledger
from domain.services.stripe_events import handle_stripe_event, record_failure
from domain.services.webhook_intake import requeue_stale_events
from entrypoints.metrics import count_invoicing

log = logging.getLogger(__name__)


def process_webhook_event(container: Container, event_id: str) -> str | None:
    """Apply one stored Stripe event. On failure the attempt and error are kept; RQ retries with
    backoff, and after the last retry the event is parked as dead for an operator."""
    try:
        status = handle_stripe_event(container.payments, event_id)
    except Exception:
        job = get_current_job()
        final = job is None or not job.retries_left
        status = record_failure(
            container.uow, container.clock, event_id, traceback.format_exc(), final
        )
        log.warning(
            "stripe event failed",
            extra={
                "event_id": event_id,
                "final": final,
                "status": status.value if status else None,
            },
        )
        raise
    return status.value if status else None


def invoice_organization(container: Container, org_id: str, cutoff_iso: str) -> str:
    """Bill one organization's usage before the cutoff (or finish its unfinalized invoice)."""
    result = invoice_unbilled_usage(
        container.invoicing,
        org_id,
        datetime.fromisoformat(cutoff_iso),
        actor="scheduler:monthly-invoicing",
    )
    log.info(
        "usage invoicing",
        extra={
            "org_id": org_id,
            "outcome": result.outcome.value,
            "invoice_id": result.invoice.id if result.invoice else None,
        },
    )
    count_invoicing(result.outcome.value)
    return result.outcome.value


def schedule_monthly_invoicing(container: Container) -> int:
    """Hourly: fan out one job per organization with usage before this month's start. A second
    run, or two at once, only finds nothing left to bill."""
    cutoff = month_cutoff(container.clock.now())
    orgs = organizations_to_invoice(container.invoicing, cutoff)
    for org_id in orgs:
        container.jobs.enqueue("invoice_organization", org_id, cutoff.isoformat())
    return len(orgs)


def check_dunning_job(container: Container) -> dict[str, list[str]]:
    """Hourly: record entitlements dropped after the grace period, or restored by a payment."""
    report = check_dunning(container.quota)
    return {"downgraded": report.downgraded, "restored": report.restored}


def create_usage_partitions(container: Container) -> list[str]:
    """Daily: the ledger's monthly partitions from last month to three months ahead; answers
    the ones it created (none on a second run)."""
    from entrypoints.bootstrap import create_usage_partitions as create

    created = create(container)
    if created:
        log.info("usage partitions created", extra={"partitions": created})
    return created


def flush_quota_ledger(container: Container) -> int:
    """Move acknowledged quota consumptions from Redis to the Postgres ledger (periodic)."""
    return flush_ledger(container.quota)


def sweep_webhook_inbox(container: Container) -> int:
    """Re-enqueue events stored but never processed (periodic, from rq-scheduler)."""
    settings = container.settings
    count = requeue_stale_events(
        container.uow,
        container.jobs,
        container.clock,
        never_tried_after=timedelta(seconds=settings.webhook_stale_after_s),
        retried_after=timedelta(seconds=settings.webhook_retry_stale_after_s),
    )
    if count:
        log.info("re-enqueued stale webhook events", extra={"count": count})
    return count
