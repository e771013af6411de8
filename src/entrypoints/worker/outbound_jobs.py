"""RQ jobs of the webhooks to the product (domain.services.webhook_delivery). Each is safe to
run twice: a fan-out is marked once, an attempt is claimed under a lease."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from domain.services.webhook_delivery import OutboundDeps, deliver, fan_out, sweep

if TYPE_CHECKING:
    from entrypoints.bootstrap import Container

log = logging.getLogger(__name__)


def _deps(container: Container) -> OutboundDeps:
    if container.outbound is None:
        raise RuntimeError("the container has no outbound webhooks")
    return container.outbound


def fan_out_message(container: Container, message_id: str) -> int:
    """One delivery per subscribed endpoint, enqueued."""
    return len(fan_out(_deps(container), message_id))


def deliver_webhook(container: Container, delivery_id: str) -> str:
    """One attempt, when due; failures are recorded and retried by the sweep on schedule."""
    return deliver(_deps(container), delivery_id)


def sweep_outbound_webhooks(container: Container) -> dict[str, int]:
    """Periodic: retries that are due, and what a lost job or a stopped worker left."""
    found = sweep(_deps(container))
    if any(found.values()):
        log.info("outbound webhooks swept", extra=found)
    return found
