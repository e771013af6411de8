"""Security events: one structured JSON log line each (logger `billing.security`) with the
request id, organization and actor, also kept in the audit table for platform admins.

Never a secret, a token, a card-like number or a webhook payload: only ids, codes and paths."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, request

from domain.model.audit import AuditEntry

log = logging.getLogger("billing.security")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

KINDS = (
    "auth_failed",
    "role_refused",
    "cross_tenant",
    "signature_failed",
    "rate_limited",
    "billing_change",
)


def request_id() -> str:
    if not has_request_context():
        return "-"
    value: str | None = g.get("request_id")
    if value is None:
        value = g.request_id = _given_or_new()
    return value


def _given_or_new() -> str:
    return request_id_of(request.headers.get("X-Request-Id", ""))


def request_id_of(given: str) -> str:
    """The request id a caller sent in X-Request-Id when it is a plain one, else a new one."""
    return given if _REQUEST_ID.match(given) else secrets.token_hex(16)


def tags(request_id: str) -> list[tuple[str, str]]:
    """The headers every answer carries (its request id)."""
    return [("X-Request-Id", request_id)]


def security_event(kind: str, org_id: str | None = None, **fields: Any) -> None:
    principal = g.get("principal") if has_request_context() else None
    org = org_id or (principal.org_id if principal else None)
    actor = f"user:{principal.sub}" if principal else "anonymous"
    context = {
        "security_event": kind,
        "request_id": request_id(),
        "org_id": org,
        "actor": actor,
        **fields,
    }
    if has_request_context():
        context.update(method=request.method, path=request.path, ip=request.remote_addr)
    log.warning("security event: %s", kind, extra=context)
    if principal is not None or _first_in_a_while(kind, context.get("ip")):
        _keep(kind, org, actor, context)


_ANONYMOUS_EVERY_S = 10.0
_last_kept: dict[tuple[str, str | None], float] = {}


def _first_in_a_while(kind: str, ip: str | None) -> bool:
    """Unauthenticated events (bad signatures, missing tokens) reach the audit table at most
    once per kind and address every 10 s, so a flood cannot turn into a flood of writes; every
    one of them is still a log line."""
    now = time.monotonic()
    key = (kind, ip)
    if now - _last_kept.get(key, float("-inf")) < _ANONYMOUS_EVERY_S:
        return False
    if len(_last_kept) > 10_000:
        _last_kept.clear()
    _last_kept[key] = now
    return True


def _keep(kind: str, org_id: str | None, actor: str, details: dict[str, Any]) -> None:
    """Write the event to the audit table; a failure here never changes the answer."""
    try:
        container = current_app.extensions["billing"]
        with container.uow() as uow:
            uow.audit.record(
                AuditEntry(
                    org_id or "-",
                    container.clock.now(),
                    actor,
                    f"security.{kind}",
                    {k: v for k, v in details.items() if v is not None},
                )
            )
            uow.commit()
    except Exception:
        log.exception("security event not stored", extra={"security_event": kind})


def install(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = _given_or_new()

    @app.after_request
    def _tag(response: Response) -> Response:
        for name, value in tags(g.get("request_id") or request_id()):
            response.headers[name] = value
        if response.status_code in (401, 403, 429):
            _event_for(response)
        return response


def _event_for(response: Response) -> None:
    body = response.get_json(silent=True) or {}
    code = body.get("code") if isinstance(body, dict) else None
    if response.status_code == 401:
        security_event("auth_failed", code=code)
    elif response.status_code == 403:
        security_event("role_refused", code=code)
    elif code == "rate_limited":
        security_event("rate_limited", code=code)
