"""Our own record ids; the idempotency keys of provider calls are derived from them."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
