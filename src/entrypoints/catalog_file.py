"""An operator's own plan catalog, from a JSON file (BILLING_CATALOG_FILE):

    {"default_tier": "free",
     "plans": [{"tier": "free", "name": "Free", "price": "0.00", "currency": "usd",
                "interval": "month", "queries": 1000, "documents": 5,
                "features": ["basic support"], "lookup_key": "billing_free"}, ...]}

Tiers are the catalog's tier names; `null` (or leaving a metric out) means unlimited; prices are
decimal strings in major units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domain.model.money import Money
from domain.model.plans import Catalog, Interval, Metric, Plan, Quota, parse_tier


def _plan(raw: dict[str, Any]) -> Plan:
    quotas = {
        metric: Quota(metric, raw.get(metric.value)) for metric in Metric if not metric.is_voice
    }
    tier = parse_tier(raw["tier"])
    return Plan(
        tier,
        raw.get("name", tier.value.title()),
        Money.of(str(raw.get("price", "0")), raw.get("currency", "usd")),
        Interval(raw.get("interval", "month")),
        quotas,
        tuple(raw.get("features", ())),
        raw.get("lookup_key", f"billing_{tier.value}"),
        tuple(raw.get("aliases", ())),
    )


def load_catalog(path: Path, default_tier: str) -> Catalog:
    raw = json.loads(path.read_text())
    return Catalog(
        [_plan(p) for p in raw["plans"]], parse_tier(raw.get("default_tier", default_tier))
    )
