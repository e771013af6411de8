"""The monthly run: every organization's usage before the current month's start, once that
month has closed; one job per organization, safe to run twice or concurrently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.errors import PaymentsNotConfigured
from domain.model.invoicing import BILLED_METRICS, InvoiceStatus
from domain.model.quotas import calendar_month
from domain.services.invoicing import (
    InvoicingDeps,
    InvoicingResult,
    Outcome,
    invoice_unbilled_usage,
    preview_usage_invoice,
)

FAILED = "failed"


class MonthNotClosed(ValueError):
    """The month asked for has not ended yet: its usage is still arriving."""


def month_cutoff(now: datetime, period: str | None = None) -> datetime:
    """The end of the month to bill: the start of the current month (UTC), or of the month
    after `period` ("2026-10"), which must have ended."""
    current = calendar_month(now)[0]
    if period is None:
        return current
    year, month = (int(part) for part in period.split("-"))
    cutoff = calendar_month(datetime(year, month, 1, tzinfo=now.tzinfo))[1]
    if cutoff > current:
        raise MonthNotClosed(
            f"{period} has not closed yet: the latest month to close is "
            f"{calendar_month(current - timedelta(days=1))[0]:%Y-%m}"
        )
    return cutoff


def organizations_to_invoice(deps: InvoicingDeps, cutoff: datetime) -> list[str]:
    with deps.uow() as uow:
        unbilled = uow.usage_events.orgs_with_unbilled(cutoff, BILLED_METRICS)
        drafts = uow.usage_invoices.orgs_with_status(InvoiceStatus.DRAFT)
    return sorted(set(unbilled) | set(drafts))


def _preview(deps: InvoicingDeps, org_id: str, cutoff: datetime) -> InvoicingResult:
    """What a real run would do for one organization, including failing where it would."""
    result = preview_usage_invoice(deps, org_id, cutoff)
    if result.outcome is Outcome.INVOICED and deps.gateway is None:
        raise PaymentsNotConfigured("payments not configured: set STRIPE_SECRET_KEY")
    return result


@dataclass
class RunSummary:
    counts: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        names = [o.value for o in Outcome] + [FAILED]
        return ", ".join(f"{name}: {self.counts.get(name, 0)}" for name in names)


def run_invoicing(
    deps: InvoicingDeps,
    cutoff: datetime,
    orgs: Iterable[str],
    dry_run: bool,
    actor: str,
    on_each: Callable[[str, str], None] | None = None,
) -> RunSummary:
    summary = RunSummary()
    for org_id in orgs:
        try:
            result: InvoicingResult = (
                _preview(deps, org_id, cutoff)
                if dry_run
                else invoice_unbilled_usage(deps, org_id, cutoff, actor)
            )
            outcome = result.outcome.value
        except Exception as exc:  # noqa: BLE001 - one organization's failure stops no other
            outcome = FAILED
            summary.failures[org_id] = f"{type(exc).__name__}: {exc}"
        summary.counts[outcome] += 1
        if on_each is not None:
            on_each(org_id, outcome)
    return summary
