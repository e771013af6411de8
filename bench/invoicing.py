"""The monthly invoicing run at scale: organizations x events in Postgres, invoiced with a
Stripe stand-in that stores nothing; organizations/s and peak memory, against a raw SQL
baseline measured in the same run (aggregate + insert one invoice per organization, each in its
own transaction). Target: >= 0.5x the baseline, memory flat as organizations grow.

With `--ledger-rows N` the ledger holds N rows before anything is measured: the billed
organizations' month plus bench/ledger_fill.py's twelve invoiced months (for them and for other
organizations) and other organizations' unbilled month; organizations/s at 1M and at 20M rows
is meant to stay within 15%.

    .venv/bin/python bench/invoicing.py [--orgs 10000] [--events 1000] [--ledger-rows N]
    .venv/bin/python bench/invoicing.py --stripe-limit 100 [--orgs 10000]  (bench/stripe_limit.py)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database, report
from bench.ledger_fill import add_months, fill

CUTOFF = datetime(2026, 11, 1, tzinfo=UTC)


def populate(dsn: str, orgs: int, events: int) -> None:
    start = CUTOFF - timedelta(days=31)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY organizations (id, created_at) FROM STDIN") as copy:
            for n in range(orgs):
                copy.write_row((f"org_{n:06d}", start))
        with cur.copy(
            "COPY stripe_customers (org_id, stripe_customer_id, created_at) FROM STDIN"
        ) as copy:
            for n in range(orgs):
                copy.write_row((f"org_{n:06d}", f"cus_{n:06d}", start))
        columns = "org_id, metric, quantity, occurred_at, received_at, idempotency_key"
        with cur.copy(f"COPY usage_events ({columns}) FROM STDIN") as copy:
            for n in range(orgs):
                org = f"org_{n:06d}"
                for i in range(events):
                    at = start + timedelta(seconds=(i * 2591) % (30 * 86400))
                    copy.write_row(
                        (
                            org,
                            "stt_words" if i % 3 else "tts_words",
                            100 + i % 900,
                            at,
                            at,
                            f"{org}-{i}",
                        )
                    )
        conn.commit()
        conn.execute("ANALYZE usage_events")


def baseline(dsn: str, orgs: int, assign: bool = False) -> float:
    """The raw SQL baseline; with `assign`, it also links each event to its invoice (what
    billing exactly once needs), then undoes that so the run starts from the same state."""
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        for n in range(orgs):
            org = f"org_{n:06d}"
            with conn.transaction():
                totals = conn.execute(
                    "SELECT metric, sum(quantity), count(*), min(occurred_at) FROM usage_events "
                    "WHERE org_id = %s AND invoice_id IS NULL AND occurred_at < %s AND metric "
                    "IN ('stt_words', 'tts_words') GROUP BY metric",
                    (org, CUTOFF),
                ).fetchall()
                cents = sum(round(int(words) / 10) for _, words, _, _ in totals)
                conn.execute(
                    "INSERT INTO usage_invoices (id, org_id, status, period_start, period_end, "
                    "total_minor, currency, created_at, updated_at) VALUES (%s, %s, 'draft', "
                    "%s, %s, %s, 'usd', now(), now())",
                    (f"base_{n}", org, min(t[3] for t in totals), CUTOFF, cents),
                )
                if assign:
                    conn.execute(
                        "UPDATE usage_events SET invoice_id = %s WHERE org_id = %s AND "
                        "invoice_id IS NULL AND occurred_at < %s AND metric IN "
                        "('stt_words', 'tts_words')",
                        (f"base_{n}", org, CUTOFF),
                    )
        rate = orgs / (time.perf_counter() - started)
        conn.execute("UPDATE usage_events SET invoice_id = NULL WHERE invoice_id LIKE 'base_%'")
        conn.execute("DELETE FROM usage_invoices WHERE id LIKE 'base_%'")
        conn.commit()
    return rate


class NullStripe:
    """Answers like Stripe and keeps nothing, so memory measures the invoicing run alone."""

    def __init__(self) -> None:
        self.calls = 0

    def _invoice(self, invoice_id: str, customer_id: str, status: str) -> Any:
        from domain.model.money import Money
        from domain.model.payments import InvoiceSnapshot

        self.calls += 1
        return InvoiceSnapshot(
            invoice_id,
            customer_id,
            None,
            status,
            Money(0, "usd"),
            Money(0, "usd"),
            f"https://invoice.stripe.com/i/{invoice_id}",
        )

    def create_invoice(
        self, customer_id: str, currency: str, metadata: dict[str, str], *, idempotency_key: str
    ) -> Any:
        return self._invoice("in_" + metadata["usage_invoice_id"], customer_id, "draft")

    def add_invoice_item(self, *args: Any, idempotency_key: str, **kwargs: Any) -> str:
        self.calls += 1
        return "ii_" + idempotency_key

    def finalize_invoice(self, invoice_id: str, *, idempotency_key: str) -> Any:
        return self._invoice(invoice_id, "", "open")


def worker(url: str, first: int, last: int) -> None:
    """Invoice organizations [first, last) and print the rate and this process's peak RSS."""
    from domain.services.monthly_invoicing import run_invoicing
    from entrypoints.bootstrap import bootstrap
    from entrypoints.config import Settings

    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=url,
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        jwt_secret_key="bench-" + "x" * 40,
        log_level="WARNING",
    )
    container = bootstrap(settings, gateway=NullStripe())
    invoicing = container.invoicing
    orgs = [f"org_{n:06d}" for n in range(first, last)]
    started = time.perf_counter()
    summary = run_invoicing(invoicing, CUTOFF, orgs, False, actor="bench")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "orgs": len(orgs),
                "rate": len(orgs) / seconds,
                "peak_mb": peak_mb,
                "summary": dict(summary.counts),
            }
        )
    )


def run_worker(url: str, first: int, last: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", url, str(first), str(last)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--ledger-rows", type=int, default=0, help="fill the ledger first")
    parser.add_argument("--stripe-limit", type=float, help="ops/s: run bench/stripe_limit.py")
    parser.add_argument("--workers", type=int, default=4, help="processes, with --stripe-limit")
    parser.add_argument("--threads", type=int, default=4, help="per process, with --stripe-limit")
    parser.add_argument("--port", type=int, default=0, help="the stand-in's, with --stripe-limit")
    args = parser.parse_args()
    if args.stripe_limit:
        from bench.stripe_limit import run

        run(args.orgs, args.stripe_limit, args.workers, args.port, args.threads)
        return
    own = args.orgs * args.events
    if args.ledger_rows and args.ledger_rows < own:
        parser.error(f"--ledger-rows must hold the {own:,} events billed")
    with fresh_database() as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        started = time.perf_counter()
        populate(dsn, args.orgs, args.events)
        print(
            f"populated {args.orgs:,} organizations x {args.events:,} events in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if args.ledger_rows:
            billed = [f"org_{n:06d}" for n in range(args.orgs)]
            month = add_months(CUTOFF, -1)
            print(fill(dsn, args.ledger_rows - own, month, billed).line(), flush=True)
        base = baseline(dsn, args.orgs)
        with_assignment = baseline(dsn, args.orgs // 10, assign=True)
        small = run_worker(url, 0, args.orgs // 10)
        large = run_worker(url, args.orgs // 10, args.orgs)
    ledger = f", ledger of {args.ledger_rows:,} rows" if args.ledger_rows else ""
    ours = (small["orgs"] + large["orgs"]) / (
        small["orgs"] / small["rate"] + large["orgs"] / large["rate"]
    )
    print(f"raw SQL baseline (aggregate + insert per organization): {base:,.0f} orgs/s")
    print(f"raw SQL baseline + linking each event to its invoice: {with_assignment:,.0f} orgs/s")
    print(
        f"invoicing run (assign, price, lines, audit, Stripe calls): {ours:,.0f} orgs/s "
        f"-> {ours / base:.2f}x the baseline (target >= 0.5x), "
        f"{ours / with_assignment:.2f}x the baseline with linking"
    )
    print(
        f"peak memory: {small['orgs']:,} orgs {small['peak_mb']:.0f} MB; "
        f"{large['orgs']:,} orgs {large['peak_mb']:.0f} MB (flat if alike)"
    )
    print(
        json.dumps(
            {
                "baseline_orgs_per_s": round(base),
                "baseline_with_linking": round(with_assignment),
                "orgs_per_s": round(ours),
                "ratio": round(ours / base, 3),
                "peak_mb_small": round(small["peak_mb"]),
                "peak_mb_large": round(large["peak_mb"]),
                "outcomes": large["summary"],
                "ledger_rows": args.ledger_rows,
            }
        )
    )
    report(f"invoicing: run vs raw aggregate + insert{ledger}", ours, base, ">= 0.5x", "orgs/s")
    report(
        f"invoicing: peak memory, {large['orgs']:,} vs {small['orgs']:,} orgs{ledger}",
        large["peak_mb"],
        small["peak_mb"],
        "<= 1.2x",
        "MB",
    )


if __name__ == "__main__":
    main()
