"""The organization's one Stripe customer."""

from __future__ import annotations

import hashlib

from domain.model.customers import StripeCustomer
from domain.services.payment_deps import PaymentDeps


def ensure_customer(
    deps: PaymentDeps, org_id: str, email: str | None = None, name: str | None = None
) -> tuple[StripeCustomer, bool]:
    """The organization's customer, created once; a changed email or name is sent to Stripe.

    Concurrent first calls create one Stripe customer: the create call's parameters are fixed
    and its idempotency key is the organization id, and the local row is insert-if-absent."""
    gateway = deps.require_gateway()
    with deps.uow() as uow:
        customer = uow.customers.for_org(org_id)
    created = False
    if customer is None:
        customer_id = gateway.create_customer(
            org_id, None, None, idempotency_key=f"customer-create:{org_id}"
        )
        with deps.uow() as uow:
            created = uow.customers.add_if_absent(
                StripeCustomer(org_id, customer_id, None, None, deps.clock.now())
            )
            customer = uow.customers.for_org(org_id)
            uow.commit()
        assert customer is not None
    if customer.update_contact(email, name):
        digest = hashlib.sha256(f"{customer.email}\x00{customer.name}".encode()).hexdigest()[:24]
        gateway.update_customer(
            customer.stripe_customer_id,
            customer.email,
            customer.name,
            idempotency_key=f"customer-update:{org_id}:{digest}",
        )
        with deps.uow() as uow:
            uow.customers.save(customer)
            uow.commit()
    return customer, created
