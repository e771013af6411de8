"""Bearer-JWT authentication, roles and tenancy.

The organization comes only from the verified token: never from a body, header or path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import JWTManager, get_jwt, verify_jwt_in_request

from domain.errors import InvalidOrganization
from domain.model.organizations import validate_org_id
from domain.services.organizations import ensure_organization
from entrypoints.api.errors import edge_error
from entrypoints.api.limits import org_limits
from entrypoints.bootstrap import Container

F = TypeVar("F", bound=Callable[..., Any])

REQUIRED_CLAIMS = ("sub", "org_id", "role", "exp")


class Role(StrEnum):
    MEMBER = "member"  # reads billing
    OWNER = "owner"  # changes billing
    SERVICE = "service"  # the product's backend: records usage, consumes quota
    PLATFORM_ADMIN = "platform_admin"  # analytics and operations across organizations


READ_BILLING = (Role.MEMBER, Role.OWNER, Role.PLATFORM_ADMIN)
CHANGE_BILLING = (Role.OWNER,)
USE_QUOTA = (Role.SERVICE, Role.OWNER)
OPERATE = (Role.PLATFORM_ADMIN,)


@dataclass(frozen=True)
class Principal:
    sub: str
    org_id: str
    role: Role


def configure_jwt(app: Flask, container: Container) -> None:
    settings = container.settings
    app.config.update(
        JWT_TOKEN_LOCATION=["headers"],
        JWT_ALGORITHM=settings.jwt_algorithm,
        JWT_DECODE_ALGORITHMS=[settings.jwt_algorithm],  # fixed: never taken from the token
        JWT_IDENTITY_CLAIM="sub",
        JWT_DECODE_LEEWAY=settings.jwt_leeway_s,
        JWT_SECRET_KEY=container.jwt_secret,
        JWT_PUBLIC_KEY=settings.jwt_public_key,
        JWT_PRIVATE_KEY=settings.jwt_private_key,
    )
    jwt = JWTManager(app)

    def unauthorized(code: str, message: str) -> Response:
        response = edge_error(code, message)
        response.headers["WWW-Authenticate"] = 'Bearer realm="billing"'
        return response

    jwt.unauthorized_loader(
        lambda reason: unauthorized("token_missing", "send Authorization: Bearer <token>")
    )
    jwt.invalid_token_loader(
        lambda reason: unauthorized(
            "token_invalid", "the token is malformed or its signature does not verify"
        )
    )
    jwt.expired_token_loader(
        lambda header, payload: unauthorized("token_expired", "the token has expired")
    )
    jwt.token_verification_failed_loader(
        lambda header, payload: unauthorized("token_invalid", "the token's claims did not verify")
    )
    jwt.revoked_token_loader(
        lambda header, payload: unauthorized("token_revoked", "the token was revoked")
    )


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def register_auth_errors(app: Flask) -> None:
    @app.errorhandler(AuthError)
    def _auth_error(error: AuthError) -> Response:
        response = edge_error(error.code, error.message)
        if response.status_code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="billing"'
        return response


class VerifiedTokens:
    """Tokens already verified, by their exact bytes, until they expire: a product's service
    token is checked once per process, not once per request. Expiry is checked every time.
    Each entry keeps the principal the claims name (tokens whose claims are refused are not
    kept: they are verified, and refused, every time)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, header: str, leeway_s: int) -> Principal | None:
        entry = self._entries.get(header)
        if entry is None:
            return None
        expires, principal = entry
        if expires + leeway_s <= time.time():
            self._entries.pop(header, None)
            return None
        return principal

    def put(self, header: str, expires: float, principal: Principal) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[header] = (expires, principal)


def _verified_principal() -> Principal:
    container: Container = current_app.extensions["billing"]
    tokens: VerifiedTokens | None = container.extras.get("verified_tokens")
    if tokens is None:
        tokens = container.extras.setdefault("verified_tokens", VerifiedTokens())
    header = request.headers.get("Authorization", "")
    found = tokens.get(header, container.settings.jwt_leeway_s) if header else None
    if found is not None:
        return found
    verify_jwt_in_request()  # flask-jwt-extended: signature, algorithm, expiry
    claims = dict(get_jwt())
    principal = _principal_of(claims)
    if header and isinstance(claims["exp"], int | float):
        tokens.put(header, claims["exp"], principal)
    return principal


def _principal_of(claims: dict[str, Any]) -> Principal:
    missing = [name for name in REQUIRED_CLAIMS if claims.get(name) in (None, "")]
    if missing:
        raise AuthError("token_invalid", f"the token lacks required claims: {missing}")
    try:
        org_id = validate_org_id(claims["org_id"])
    except InvalidOrganization as exc:
        raise AuthError("token_invalid", exc.message) from None
    try:
        role = Role(claims["role"])
    except (ValueError, TypeError):
        raise AuthError("forbidden_role", f"unknown role {claims['role']!r}") from None
    return Principal(str(claims["sub"]), org_id, role)


def authenticate(allowed: tuple[Role, ...]) -> Principal:
    principal = _verified_principal()
    g.principal = principal  # verified, if not allowed
    if principal.role not in allowed:
        names = ", ".join(r.value for r in allowed)
        raise AuthError(
            "forbidden_role", f"this needs the role {names}; the token has {principal.role.value}"
        )
    _ensure_known(principal.org_id, operator=principal.role is Role.PLATFORM_ADMIN)
    return principal


def _ensure_known(org_id: str, operator: bool) -> None:
    """Create the organization on its first call (marked the operator's own when the token is
    a platform_admin's); remembered per process to spare the database."""
    container: Container = current_app.extensions["billing"]
    known: set[tuple[str, bool]] = container.extras.setdefault("known_orgs", set())
    if (org_id, operator) in known:
        return
    ensure_organization(container.uow, container.clock, org_id, operator)
    if len(known) > 100_000:
        known.clear()
    known.add((org_id, operator))


def requires(*roles: Role, limit: str = "org") -> Callable[[F], F]:
    """Authenticate with one of `roles`, then apply the organization's rate limit of that kind
    ("org", "sensitive" or "metered", see limits.py)."""

    def decorator(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate(tuple(roles))
            org_limits().hit(limit, principal.org_id)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def principal() -> Principal:
    value: Principal = g.principal
    return value
