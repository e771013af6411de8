"""Access to the composition root from inside a request."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, g

from domain.services.metering import FUTURE_SKEW
from domain.services.payment_deps import PaymentDeps
from domain.services.webhook_delivery import OutboundDeps
from entrypoints.bootstrap import Container


def container() -> Container:
    value: Container = current_app.extensions["billing"]
    return value


def payments() -> PaymentDeps:
    """The payment use cases' dependencies, acting as the authenticated caller (audit trail)."""
    principal = g.get("principal")
    deps = container().payments
    return deps.acting_as(f"user:{principal.sub}") if principal else deps


def unbilled_cutoff() -> datetime:
    """The cutoff for "everything unbilled now": events may be stamped up to 5 minutes ahead."""
    return container().clock.now() + FUTURE_SKEW


def outbound() -> OutboundDeps:
    """The webhooks to the product (always built by the bootstrap)."""
    deps = container().outbound
    if deps is None:
        raise RuntimeError("the container has no outbound webhooks")
    return deps
