"""The body of POST /api/v1/quota/consume, read on every request a product serves.

The common body (`{"metric": "queries"}`, with an amount or an idempotency key) is read with
`json` alone; any other body goes through `ConsumeRequest` with the API's parser, so that what is
refused is refused exactly as before: 422 `validation_failed` naming the field, 415, or 400."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import Request

from domain.model.plans import Metric
from entrypoints.api.blueprint import Blueprint, bounded_int
from entrypoints.api.fields import Text

METRICS = [m.value for m in Metric]
MAX_AMOUNT = 2**53 - 1
FIELDS = frozenset({"metric", "amount", "idempotency_key"})
_KNOWN_METRICS = frozenset(METRICS)
_ABSENT = object()


class ConsumeRequest(ma.Schema):
    metric = Text(required=True, validate=ma.validate.OneOf(METRICS))
    amount = ma.fields.Integer(
        load_default=1, strict=True, validate=ma.validate.Range(min=1, max=MAX_AMOUNT)
    )
    idempotency_key = Text(
        load_default=None,
        validate=ma.validate.Length(min=1, max=255),
        metadata={"description": "a repeat is not counted twice"},
    )


SCHEMA = ConsumeRequest()


def consume_request(request: Request) -> dict[str, Any]:
    """`{"metric", "amount", "idempotency_key"}` as ConsumeRequest loads it; aborts as it does."""
    body = plain_body(request)
    if body is None:
        loaded: dict[str, Any] = Blueprint.ARGUMENTS_PARSER.parse(SCHEMA, request, location="json")
        return loaded
    return body


def plain_body(request: Request) -> dict[str, Any] | None:
    """The body when it is plainly valid, else None (the schema then decides)."""
    if request.mimetype != "application/json":
        return None
    return plain_json(request.get_data(cache=True))


def plain_json(raw: bytes) -> dict[str, Any] | None:
    """A JSON body's bytes read as `plain_body` reads them: the body, or None."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=bounded_int)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return None
    if type(data) is not dict or not data.keys() <= FIELDS:
        return None
    metric = data.get("metric")
    amount = data.get("amount", 1)
    key = data.get("idempotency_key", _ABSENT)
    if type(metric) is not str or metric not in _KNOWN_METRICS:
        return None
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        return None
    if key is _ABSENT:
        key = None
    elif type(key) is not str or not 1 <= len(key) <= 255 or min(key) < " ":
        return None
    return {"metric": metric, "amount": amount, "idempotency_key": key}
