"""Use cases about organizations (tenants)."""

from __future__ import annotations

from domain.model.organizations import Organization
from domain.ports import Clock, UnitOfWorkFactory


def ensure_organization(uow_factory: UnitOfWorkFactory, clock: Clock, org_id: str) -> bool:
    """Create the organization on its first call; safe under concurrent first calls."""
    organization = Organization.new(org_id, clock.now())
    with uow_factory() as uow:
        created = uow.organizations.add_if_absent(organization)
        uow.commit()
    return created
