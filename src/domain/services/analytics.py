"""Operator analytics over the recorded history. The SQL lives behind AnalyticsReader; the
formulas live here and are the ones the API documents:

- MRR(t) = sum of the monthly amounts of subscriptions in a paying state (active, past_due) at t;
  ARR = 12 x MRR. One-time purchases add nothing to MRR.
- ARPU = MRR(to) / organizations paying at `to`.
- Logo churn of a plan = organizations paying on it at `from` that pay for nothing at `to`,
  divided by those paying on it at `from`. Revenue churn = their MRR at `from` / the plan's MRR
  at `from`.
- CLV = ARPU / monthly logo churn, monthly logo churn = period logo churn x 30 / period days.
- Checkout completion = sessions created in the period and completed / sessions created.
- Free to paid = organizations created in the period that paid before its end / created.
- Upgrade (downgrade) rate = moves to a higher (lower) monthly amount in the period / paying
  subscriptions at `from`.
- Quota utilization = usage in the period / the limit of the plan each organization has at `to`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.model.plans import Catalog, Metric
from domain.model.quotas import calendar_month


class AnalyticsReader(Protocol):
    def paying_at(self, t: datetime) -> list[tuple[str, str, int]]: ...

    def usage_revenue(self, since: datetime, until: datetime) -> int: ...

    def one_time_revenue(self, since: datetime, until: datetime) -> int: ...

    def checkouts(self, since: datetime, until: datetime) -> list[tuple[str, int, int]]: ...

    def signups_and_conversions(self, since: datetime, until: datetime) -> tuple[int, int]: ...

    def plan_moves(self, since: datetime, until: datetime) -> tuple[int, int]: ...

    def usage_by_org(self, metric: str, since: datetime, until: datetime) -> list[tuple[str, int]]:
        """Each organization's use of the metric in the period, the largest first."""
        ...

    def usage_by_time(
        self, metric: str, since: datetime, until: datetime
    ) -> tuple[list[int], list[int]]: ...


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def buckets(since: datetime, until: datetime, interval: str) -> Iterator[tuple[datetime, datetime]]:
    start = since
    while start < until:
        end = start + timedelta(days=1) if interval == "day" else calendar_month(start)[1]
        yield start, min(end, until)
        start = end


def mrr_by_plan(paying: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    plans: dict[str, dict[str, int]] = defaultdict(lambda: {"mrr_minor": 0, "subscriptions": 0})
    for _, tier, amount in paying:
        plans[tier]["mrr_minor"] += amount
        plans[tier]["subscriptions"] += 1
    return dict(plans)


def revenue(
    reader: AnalyticsReader, since: datetime, until: datetime, interval: str
) -> dict[str, Any]:
    paying = reader.paying_at(until)
    mrr = sum(amount for _, _, amount in paying)
    payers = len({org for org, _, _ in paying})
    series = [
        {
            "start": a,
            "end": b,
            "mrr_minor": mrr if b == until else sum(x for _, _, x in reader.paying_at(b)),
            "usage_revenue_minor": reader.usage_revenue(a, b),
            "one_time_revenue_minor": reader.one_time_revenue(a, b),
        }
        for a, b in buckets(since, until, interval)
    ]
    return {
        "mrr_minor": mrr,
        "arr_minor": 12 * mrr,
        "by_plan": mrr_by_plan(paying),
        "usage_revenue_minor": sum(b["usage_revenue_minor"] for b in series),
        "one_time_revenue_minor": sum(b["one_time_revenue_minor"] for b in series),
        "paying_organizations": payers,
        "arpu_minor": round(mrr / payers) if payers else None,
        "series": series,
    }


def churn(reader: AnalyticsReader, since: datetime, until: datetime) -> dict[str, Any]:
    at_start, at_end = reader.paying_at(since), reader.paying_at(until)
    still_paying = {org for org, _, _ in at_end}
    plans: dict[str, dict[str, Any]] = {}
    for org, tier, amount in at_start:
        plan = plans.setdefault(
            tier,
            {
                "organizations_at_start": set(),
                "churned": set(),
                "mrr_at_start_minor": 0,
                "mrr_churned_minor": 0,
            },
        )
        plan["organizations_at_start"].add(org)
        plan["mrr_at_start_minor"] += amount
        if org not in still_paying:
            plan["churned"].add(org)
            plan["mrr_churned_minor"] += amount
    by_plan = {
        tier: {
            "organizations_at_start": len(p["organizations_at_start"]),
            "churned": len(p["churned"]),
            "logo_churn": _ratio(len(p["churned"]), len(p["organizations_at_start"])),
            "mrr_at_start_minor": p["mrr_at_start_minor"],
            "mrr_churned_minor": p["mrr_churned_minor"],
            "revenue_churn": _ratio(p["mrr_churned_minor"], p["mrr_at_start_minor"]),
        }
        for tier, p in sorted(plans.items())
    }
    start_orgs = {org for org, _, _ in at_start}
    churned = start_orgs - still_paying
    logo = len(churned) / len(start_orgs) if start_orgs else None
    days = (until - since).total_seconds() / 86400
    monthly = logo * 30 / days if logo is not None and days else None
    mrr_end = sum(amount for _, _, amount in at_end)
    arpu = mrr_end / len(still_paying) if still_paying else None
    clv = round(arpu / monthly) if arpu is not None and monthly else None
    return {
        "by_plan": by_plan,
        "logo_churn": round(logo, 4) if logo is not None else None,
        "monthly_logo_churn": round(monthly, 4) if monthly is not None else None,
        "arpu_minor": round(arpu) if arpu is not None else None,
        "clv_minor": clv,
    }


def conversion(reader: AnalyticsReader, since: datetime, until: datetime) -> dict[str, Any]:
    checkouts = {
        tier: {
            "created": created,
            "completed": completed,
            "completion_rate": _ratio(completed, created),
        }
        for tier, created, completed in reader.checkouts(since, until)
    }
    signups, paid = reader.signups_and_conversions(since, until)
    up, down = reader.plan_moves(since, until)
    paying = len(reader.paying_at(since))
    return {
        "checkout_by_plan": checkouts,
        "signups": signups,
        "converted_to_paid": paid,
        "free_to_paid": _ratio(paid, signups),
        "upgrades": up,
        "downgrades": down,
        "upgrade_rate": _ratio(up, paying),
        "downgrade_rate": _ratio(down, paying),
    }


def usage(
    reader: AnalyticsReader, catalog: Catalog, since: datetime, until: datetime, top: int
) -> dict[str, Any]:
    hours, days = reader.usage_by_time(Metric.QUERIES.value, since, until)
    plan_of = {org: tier for org, tier, _ in reader.paying_at(until)}
    utilization: dict[str, dict[str, Any]] = {}
    by_org = reader.usage_by_org(Metric.QUERIES.value, since, until)
    for org, used in by_org:
        plan = catalog.get(plan_of.get(org, catalog.default_tier.value))
        limit = plan.quota(Metric.QUERIES).limit
        if limit is None:
            continue
        share = utilization.setdefault(
            plan.tier.value,
            {"organizations": 0, "limit": limit, "above_50": 0, "above_80": 0, "above_100": 0},
        )
        share["organizations"] += 1
        for pct in (50, 80, 100):
            if used * 100 >= pct * limit:
                share[f"above_{pct}"] += 1
    for share in utilization.values():
        for pct in (50, 80, 100):
            share[f"share_above_{pct}"] = _ratio(share[f"above_{pct}"], share["organizations"])
    return {
        "top_workspaces": [{"org_id": org, "queries": used} for org, used in by_org[:top]],
        "by_hour_of_day": hours,
        "by_day_of_week": days,
        "quota_utilization": utilization,
    }
