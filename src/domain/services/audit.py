"""Billing changes are kept in the audit table and announced as an INFO log line (routine:
a change of plan is not a warning)."""

from __future__ import annotations

import logging

from domain.model.audit import AuditEntry
from domain.ports import UnitOfWork

log = logging.getLogger("billing.security")


def record_billing_change(uow: UnitOfWork, entry: AuditEntry) -> None:
    uow.audit.record(entry)
    log.info(
        "security event: billing_change",
        extra={
            "security_event": "billing_change",
            "org_id": entry.org_id,
            "actor": entry.actor,
            "action": entry.action,
        },
    )
