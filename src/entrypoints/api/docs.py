"""OpenAPI documentation of error answers: each status with the codes it can carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from entrypoints.api.blueprint import Blueprint
from entrypoints.api.errors import ErrorSchema

F = Callable[..., Any]


def errors(blp: Blueprint, *statuses: int, codes: dict[int, list[str]] | None = None) -> \
        Callable[[F], F]:
    """Document error responses: `codes` names the stable codes each status can carry."""

    def decorator(fn: F) -> F:
        for status in statuses:
            listed = (codes or {}).get(status) or DEFAULT_CODES.get(status, [])
            description = "Error codes: " + ", ".join(f"`{c}`" for c in listed) if listed \
                else "Error"
            fn = blp.alt_response(status, schema=ErrorSchema, description=description)(fn)
        return fn

    return decorator


DEFAULT_CODES: dict[int, list[str]] = {
    400: ["bad_request"],
    401: ["token_missing", "token_invalid", "token_expired"],
    403: ["forbidden_role"],
    413: ["payload_too_large"],
    415: ["unsupported_media_type"],
    422: ["validation_error"],
}
