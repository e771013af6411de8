"""Use cases about organizations (tenants)."""

from __future__ import annotations

from domain.model.organizations import Organization
from domain.ports import Clock, UnitOfWorkFactory


def ensure_organization(
    uow_factory: UnitOfWorkFactory, clock: Clock, org_id: str, operator: bool = False
) -> bool:
    """Create the organization on its first call; safe under concurrent first calls. An
    organization seen with an operator's token is the operator's own, from then on."""
    organization = Organization.new(org_id, clock.now(), operator=operator)
    with uow_factory() as uow:
        created = uow.organizations.add_if_absent(organization)
        if not created and operator:
            uow.organizations.mark_operator(org_id)
        uow.commit()
    return created
