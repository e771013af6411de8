"""`make bench`'s table: rows parsed from the benchmarks' output, targets judged, and a failed
benchmark shown as a failed row while the others still count."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from bench import table
from bench.common import report
from bench.table import Bench, LedgerPair, Outcome, Row


def bench_line(path: str, ours: float, baseline: float, target: str, unit: str = "") -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report(path, ours, baseline, target, unit)
    return out.getvalue().strip()


def test_a_report_line_becomes_a_row_and_other_lines_do_not() -> None:
    row = table.parse_row(bench_line("ingest: HTTP vs COPY", 18000, 30000, ">= 0.5x", "events/s"))
    assert row == Row("ingest: HTTP vs COPY", 18000, 30000, 0.6, ">= 0.5x", "events/s")
    assert table.parse_row("raw Postgres: 30000 events/s") is None
    assert table.parse_row('BENCH {"path": "no figures"}') is None
    assert table.parse_row("BENCH not json") is None


@pytest.mark.parametrize(
    ("ratio", "target", "met"),
    [
        (0.9, ">= 0.9x", True),
        (0.89, ">= 0.9x", False),
        (1.5, "<= 1.5x", True),
        (1.51, "<= 1.5x", False),
        (1.1, "<= 1.2", True),
        (0.5, "> 0.5x", False),
        (3.0, "", None),
        (3.0, "fast", None),
    ],
)
def test_targets_are_judged_on_the_ratio(ratio: float, target: str, met: bool | None) -> None:
    assert table.target_met(ratio, target) is met


def test_a_row_that_misses_its_target_says_so_and_is_counted() -> None:
    rows = [
        Row("quota: HTTP consume vs bare EVALSHA", 5300, 10000, 0.53, ">= 0.9x", "calls/s"),
        Row("ingest: HTTP vs COPY-staging", 18000, 30000, 0.6, ">= 0.5x", "events/s"),
        Row("reconcile: wall vs raw paging", 12.5, 10.0, 1.25, "", "s"),
    ]
    text = table.format_table(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["path", "ours", "baseline", "ratio", "target", "met"]
    quota = next(line for line in lines if line.startswith("quota"))
    assert quota.split()[-4:] == ["0.53x", ">=", "0.9x", "NO"]
    assert "5,300 calls/s" in quota and "10,000 calls/s" in quota
    ingest = next(line for line in lines if line.startswith("ingest"))
    assert ingest.endswith("yes")
    reconcile = next(line for line in lines if line.startswith("reconcile"))
    assert reconcile.split()[-2:] == ["-", "-"] and "12.50 s" in reconcile
    assert lines[-1] == "1 of 2 targets met; 0 failed benchmarks"


def script(tmp_path: Path, name: str, body: str) -> tuple[str, ...]:
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return (str(path),)


def test_a_failing_bench_is_a_failed_row_and_the_rest_still_run(tmp_path: Path) -> None:
    half = bench_line("half done", 1.0, 2.0, ">= 0.4x")
    failing = Bench("broken", script(tmp_path, "broken", f"print({half!r})\nraise SystemExit(3)"))
    ok = bench_line("ok", 2.0, 1.0, "<= 3x")
    passing = Bench("fine", script(tmp_path, "fine", f"print({ok!r})"))
    echoed: list[str] = []
    rows = table.run_all([failing, passing], runner=lambda b: table.run(b, echoed.append))
    assert [r.path for r in rows] == ["half done", "broken: FAILED", "ok"]
    assert rows[1].failure == "exit status 3" and rows[1].met is None
    assert rows[0].met is True and rows[2].met is True
    assert any(e.startswith("BENCH ") for e in echoed)  # the output streams through
    text = table.format_table(rows)
    assert "broken: FAILED" in text and "exit status 3" in text
    assert text.splitlines()[-1] == "2 of 2 targets met; 1 failed benchmark"


def test_a_bench_that_prints_no_row_or_hangs_fails(tmp_path: Path) -> None:
    quiet = Bench("silent", script(tmp_path, "silent", "print('no rows')"))
    silent = table.run(quiet, lambda _: None)
    assert silent.returncode == 0 and silent.failure == "printed no BENCH row"
    hung = table.run(
        Bench("hung", ("-c", "import time; time.sleep(60)"), timeout_s=0.5), lambda _: None
    )
    assert hung.returncode is None and hung.failure.startswith("timed out after")
    assert hung.seconds < 10


def test_the_ledger_row_compares_the_large_ledger_to_the_small() -> None:
    pair = LedgerPair("ingest", ("bench/ingest.py",), "ingest: HTTP vs COPY-staging")
    assert pair.bench(1_000_000).args == ("bench/ingest.py", "--ledger-rows", "1000000")

    def outcome(rows: int, rate: float | None) -> Outcome:
        path = f"ingest: HTTP vs COPY-staging, ledger of {rows:,} rows"
        found = [Row(path, rate, 1.0, rate, ">= 0.5x", "events/s")] if rate else []
        return Outcome(pair.bench(rows), found, 0 if rate else 1)

    row = table.ledger_row(pair, outcome(1_000_000, 20000), outcome(20_000_000, 16000))
    assert row.path == "ingest at 20M rows vs 1M"
    assert (row.ours, row.baseline, row.ratio) == (16000, 20000, 0.8)
    assert row.target == ">= 0.85x" and row.met is False
    broken = table.ledger_row(pair, outcome(1_000_000, 20000), outcome(20_000_000, None))
    assert broken.failure and broken.met is None

    calls: list[str] = []

    def runner(bench: Bench) -> Outcome:
        calls.append(bench.name)
        return outcome(int(bench.args[-1]), 20000.0)

    rows = table.run_all([], [pair], runner=runner)
    assert calls == ["ingest ledger 1,000,000", "ingest ledger 20,000,000"]
    assert rows[-1].ratio == 1.0 and rows[-1].met is True


def test_the_ledger_fill_plans_exactly_its_rows_over_invoiced_months_and_the_current_one() -> None:
    from datetime import UTC, datetime

    from bench.ledger_fill import add_months, plan, rows_of

    month = datetime(2026, 10, 1, tzinfo=UTC)
    new, slots = plan(10_000, month, ["org_billed"])
    assert sum(s.rows for s in slots) == 10_000
    assert len(new) == 8  # 100 events per organization-month over 13 months
    billed = [s for s in slots if s.org == "org_billed"]
    assert len(billed) == 12 and all(s.invoice_id and s.month < month for s in billed)
    assert {s.month for s in billed} == {add_months(month, -n) for n in range(1, 13)}
    current = [s for s in slots if s.month == month]
    assert {s.org for s in current} == set(new) and all(s.invoice_id is None for s in current)
    until = datetime(2026, 10, 2, tzinfo=UTC)
    rows = list(rows_of(current[0], until))
    assert len(rows) == current[0].rows and all(month < r[3] < until for r in rows)
    assert len({r[5] for r in rows}) == len(rows)  # idempotency keys never collide
