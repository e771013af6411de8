"""GET/PUT/DELETE /api/v1/billing/spend-cap: the cap on a period's metered voice charge."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from domain.errors import QuotaUnavailable, SpendCapInvalid
from domain.services.alerts import set_spend_cap, spend_cap_status
from entrypoints.api import presenters
from entrypoints.api.auth import CHANGE_BILLING, READ_BILLING, principal, requires
from entrypoints.api.blueprint import Blueprint
from entrypoints.api.container import container
from entrypoints.api.docs import errors
from entrypoints.api.fields import Text
from entrypoints.api.schemas import SpendCapSchema

blp = Blueprint(
    "spend_cap",
    __name__,
    url_prefix="/api/v1/billing/spend-cap",
    description="The spend cap: metered voice usage stops at it until the period resets.",
)


class MoneyInput(ma.Schema):
    amount_minor = ma.fields.Integer(required=True, strict=True)
    currency = Text(required=True, validate=ma.validate.Length(min=1, max=8))


class SpendCapRequest(ma.Schema):
    amount = ma.fields.Nested(
        MoneyInput, required=True, allow_none=True, metadata={"description": "null removes it"}
    )


def _set(amount: dict[str, Any] | None) -> dict[str, Any]:
    who = principal()
    cap = None if amount is None else (amount["amount_minor"], amount["currency"])
    return presenters.spend_cap(
        set_spend_cap(container().quota, who.org_id, cap, actor=f"user:{who.sub}")
    )


@blp.route("")
class SpendCap(MethodView):
    @requires(*READ_BILLING)
    @blp.response(200, SpendCapSchema)
    @errors(blp, 401, 403, QuotaUnavailable)
    def get(self) -> dict[str, Any]:
        """The cap, the metered voice charge so far this period and when it resets."""
        return presenters.spend_cap(spend_cap_status(container().quota, principal().org_id))

    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.arguments(SpendCapRequest())
    @blp.response(200, SpendCapSchema)
    @errors(blp, 401, 403, 413, 415, 422, SpendCapInvalid, QuotaUnavailable)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Cap the period's metered voice charge ((stt_words + tts_words) / 1,000 x the usage
        rate): a voice consumption that would pass it answers 429 `spend_cap_reached`;
        recorded usage is stored and flagged. In the usage currency; `null` removes it."""
        return _set(body["amount"])

    @requires(*CHANGE_BILLING, limit="sensitive")
    @blp.response(200, SpendCapSchema)
    @errors(blp, 401, 403, QuotaUnavailable)
    def delete(self) -> dict[str, Any]:
        """Remove the cap."""
        return _set(None)
