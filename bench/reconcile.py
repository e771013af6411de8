"""Reconciliation over 10,000 organizations against a Stripe stand-in that pages its lists by
100 and answers each call after 20 ms, with the real StripeClient pointed at it (api_base).

Each organization has a customer and a Pro subscription, one in five a usage invoice; ten
subscriptions were canceled at Stripe behind our back and 50 events were never delivered. In the
same run, two baselines: the raw paging of the same lists with the same client (no comparison,
no database), and one retrieve per object (measured on 200 retrieves, extrapolated).

Prints Stripe calls made, calls per 100 objects compared (target: <= 1.2), wall time and the
ratios. Needs Postgres (the test default, or BENCH_DATABASE_URL).

    .venv/bin/python bench/reconcile.py [--orgs 10000] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters import stripe_mapping as mapping
from adapters.db import rows, tables
from adapters.stripe_gateway import StripeGateway, make_stripe_client
from bench.common import fresh_database, report
from domain.model.invoicing import InvoiceLine, InvoiceStatus, UsageInvoice
from domain.model.money import Money
from domain.model.plans import Metric, Tier
from domain.model.subscriptions import Subscription
from domain.services.reconciliation import ReconcileDeps, open_run, reconcile
from entrypoints.bootstrap import bootstrap
from entrypoints.config import Settings
from tests.stripe_fake import FakeStripe, catalog_prices
from tests.unit.fakes import FakeJobQueue

PAGE = 100
PORT = 17491


class ListStandIn:
    """Stripe's list endpoints (newest first, `limit` up to 100, `starting_after`, `has_more`)
    and the subscription retrieve, each answered after `delay_s`; counts every call."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]], delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Serialized once: the stand-in's own JSON work must not be what is measured.
        self.kinds = {
            kind: [(o["id"], int(o.get("created") or 0), json.dumps(o)) for o in reversed(found)]
            for kind, found in objects.items()
        }
        self.index = {
            kind: {oid: n for n, (oid, _, _) in enumerate(found)}
            for kind, found in self.kinds.items()
        }
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 20  # headers and body in one write: no delayed-ACK stall per call

            def do_GET(self) -> None:  # http.server dispatches on this name
                stand_in.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        kind = parts.path.removeprefix("/v1/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.calls[kind if kind in self.kinds else kind.split("/")[0] + ".retrieve"] += 1
        time.sleep(self.delay_s)
        if kind in self.kinds:
            body = self._page(kind, query)
        else:
            sub_id = kind.split("/", 1)[1]
            body = self.kinds["subscriptions"][self.index["subscriptions"][sub_id]][2]
        data = body.encode()
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _page(self, kind: str, query: dict[str, str]) -> str:
        found = self.kinds[kind]
        gte = int(query.get("created[gte]", 0))
        start = 0
        if "starting_after" in query:
            start = self.index[kind][query["starting_after"]] + 1
        limit = min(PAGE, int(query.get("limit", 10)))
        page: list[str] = []
        n = start
        while n < len(found) and len(page) < limit:
            if found[n][1] >= gte:
                page.append(found[n][2])
            n += 1
        more = any(c >= gte for _, c, _ in found[n:]) if n < len(found) else False
        return (
            f'{{"object": "list", "url": "/v1/{kind}", "has_more": {json.dumps(more)}, '
            f'"data": [{", ".join(page)}]}}'
        )

    def __enter__(self) -> ListStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def build(orgs: int) -> tuple[FakeStripe, list[dict[str, Any]], list[dict[str, Any]]]:
    """Stripe's objects, and our rows for them (customers, subscriptions, usage invoices)."""
    stripe = FakeStripe()
    prices = catalog_prices(stripe)
    now = stripe.now()
    ours_subs, ours_invoices = [], []
    for n in range(orgs):
        org_id, cus = f"org_{n:05d}", f"cus_bench{n:05d}"
        stripe.customers[cus] = {
            "id": cus,
            "object": "customer",
            "created": int(now.timestamp()),
            "metadata": {"org_id": org_id},
            "email": None,
            "name": None,
        }
        sub = stripe.put_subscription(cus, prices["pro"], "active", org_id=org_id)
        local = Subscription.from_snapshot(org_id, mapping.subscription_snapshot(sub), now)
        local.tier = Tier.PRO
        ours_subs.append(local)
        if n % 5 == 0:
            invoice = stripe.put_invoice(cus, None, "paid", amount=250)  # one line of 250
            usage = UsageInvoice.draft(f"uinv_{n:05d}", org_id, now, now, "usd")
            usage.bill([InvoiceLine(Metric.STT_WORDS, 2500, Money(250, "usd"), 1, now, now)])
            usage.link_stripe(invoice["id"], invoice["hosted_invoice_url"], now)
            usage.set_status(InvoiceStatus.PAID, now)
            ours_invoices.append(usage)
    for sub in list(stripe.subscriptions.values())[:10]:
        sub.update(status="canceled", canceled_at=int(now.timestamp()))
    for n in range(50):
        sub = next(iter(stripe.subscriptions.values()))
        stripe.event("customer.subscription.updated", sub, event_id=f"evt_missed_{n:03d}")
    return stripe, ours_subs, ours_invoices


def seed(url: str, stripe: FakeStripe, subs: list[Subscription], invoices: list[UsageInvoice]):
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            tables.organizations.insert(),
            [{"id": s.org_id, "name": None, "created_at": now} for s in subs],
        )
        conn.execute(
            tables.stripe_customers.insert(),
            [
                {
                    "org_id": s.org_id,
                    "stripe_customer_id": s.stripe_customer_id,
                    "email": None,
                    "name": None,
                    "created_at": now,
                }
                for s in subs
            ],
        )
        conn.execute(tables.subscriptions.insert(), [rows.subscription_values(s) for s in subs])
        conn.execute(
            tables.usage_invoices.insert(), [rows.usage_invoice_values(i) for i in invoices]
        )
        conn.execute(
            tables.usage_invoice_lines.insert(),
            [rows.invoice_line_values(i.id, line) for i in invoices for line in i.lines],
        )
    engine.dispose()


def page_everything(gateway: StripeGateway, since: datetime) -> int:
    """The raw floor: the same lists, paged by the same client, nothing compared or stored."""
    return (
        sum(1 for _ in gateway.list_customers())
        + sum(1 for _ in gateway.list_subscriptions())
        + sum(1 for _ in gateway.list_invoices(created_since=since))
        + sum(1 for _ in gateway.list_completed_checkout_sessions(created_since=since))
        + sum(1 for _ in gateway.list_events(created_since=since, types=["x"]))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    stripe, subs, invoices = build(args.orgs)
    objects = {
        "customers": list(stripe.customers.values()),
        "subscriptions": list(stripe.subscriptions.values()),
        "invoices": list(stripe.invoices.values()),
        "checkout/sessions": [],
        "events": copy.deepcopy(stripe.events_sent),
    }
    with fresh_database() as url, ListStandIn(objects, args.latency_ms / 1000) as stand_in:
        seed(url, stripe, subs, invoices)
        base = f"http://127.0.0.1:{PORT}"
        settings = Settings(
            _env_file=None,
            app_env="test",
            database_url=url,
            stripe_secret_key="sk_test_bench",
            stripe_api_base=base,
            stripe_rate_limit=10_000,  # unpaced, like the raw paging baseline's client
            jwt_secret_key="bench",
            log_level="ERROR",
        )
        container = bootstrap(settings)
        deps = ReconcileDeps(container.payments, FakeJobQueue())
        gateway = StripeGateway(make_stripe_client("sk_test_bench", api_base=base))

        started = time.perf_counter()
        first = reconcile(deps, open_run(deps))
        wall = time.perf_counter() - started
        calls = sum(stand_in.calls.values())
        by_list = dict(stand_in.calls)
        second = reconcile(deps, open_run(deps))

        stand_in.calls.clear()
        started = time.perf_counter()
        since = datetime.now(UTC) - timedelta(days=30)
        paged = page_everything(gateway, since)
        raw_wall = time.perf_counter() - started
        raw_calls = sum(stand_in.calls.values())

        sample = [s.stripe_subscription_id for s in subs[:200]]
        started = time.perf_counter()
        for sub_id in sample:
            gateway.retrieve_subscription(sub_id)
        per_retrieve = (time.perf_counter() - started) / len(sample)
        container.engine.dispose() if container.engine else None

    counts = first.run.counts
    compared = counts.objects_compared
    one_by_one = len(stripe.customers) + len(stripe.subscriptions) + len(stripe.invoices)
    print(
        f"organizations: {args.orgs:,}; Stripe objects compared: {compared:,}; "
        f"stand-in latency {args.latency_ms:g} ms, pages of {PAGE}"
    )
    print(
        f"reconcile: {calls} Stripe calls ({', '.join(f'{k} {v}' for k, v in by_list.items())}), "
        f"{calls / (compared / 100):.2f} calls per 100 objects compared (target <= 1.2), "
        f"wall {wall:.1f} s"
    )
    kinds = dict(Counter(d.kind.value for d in first.drifts))
    print(
        f"  drifts {counts.drifts} ({counts.new_drifts} new, {kinds}), events recovered "
        f"{counts.events_recovered} of {counts.events_listed} listed; second run: "
        f"{second.run.counts.drifts} drifts ({second.run.counts.new_drifts} new)"
    )
    print(
        f"raw paging of the same lists (same client, nothing compared): {raw_calls} calls, "
        f"{paged:,} objects, wall {raw_wall:.1f} s; reconcile / raw = {wall / raw_wall:.2f}x"
    )
    print(
        f"one retrieve per object: {one_by_one:,} calls, {per_retrieve * 1000:.1f} ms each "
        f"(measured on {len(sample)}), ~{one_by_one * per_retrieve:.0f} s sequential; "
        f"calls {one_by_one / calls:.0f}x ours, time {one_by_one * per_retrieve / wall:.1f}x ours"
    )
    # ours / baseline is the number of calls per 100 objects compared.
    report("reconcile: Stripe calls per 100 objects compared", calls, compared / 100, "<= 1.2x")
    report("reconcile: wall vs raw paging of the same lists", wall, raw_wall, "", "s")


if __name__ == "__main__":
    main()
