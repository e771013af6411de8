"""Organizations (tenants): created on their first authenticated call, keyed by org_id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidOrganization

# Organization ids come from the product's tokens; keep them printable and bounded so they are safe
# as Redis keys, Stripe metadata values and idempotency-key parts.
_ORG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def validate_org_id(org_id: object) -> str:
    if not isinstance(org_id, str) or not _ORG_ID.match(org_id):
        raise InvalidOrganization(
            "org_id must be 1-64 characters of letters, digits, '_', '.', ':' or '-'"
        )
    return org_id


@dataclass
class Organization:
    id: str
    created_at: datetime
    name: str | None = None
    # The operator's own organization (seen with a platform_admin token): not a customer, so
    # left out of the customer figures of the analytics.
    operator: bool = False

    @classmethod
    def new(
        cls, org_id: str, now: datetime, name: str | None = None, operator: bool = False
    ) -> Organization:
        return cls(validate_org_id(org_id), now, name, operator)
