"""Run every benchmark and print one table: what was measured, our figure, the baseline measured
in the same run, their ratio, the target and whether it is met (`make bench`).

Each benchmark runs as a subprocess with the arguments below; its output streams through as it
comes, and its `BENCH {json}` lines (bench.common.report) become the table's rows. A benchmark
that exits non-zero, times out or prints no row is a failed row; the others still run.

    .venv/bin/python bench/table.py [--ledger] [--only NAME ...]

`--ledger` adds the ledger-size comparison: bench/ingest.py and bench/invoicing.py with the
ledger filled to 1M and then to 20M rows (the 20M fills take most of the time), and a row each
comparing the rate at 20M rows to the rate at 1M (target >= 0.85x).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "BENCH "
TIMEOUT_S = 3600


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    timeout_s: float = TIMEOUT_S


# Arguments sized so that one run of them all takes 10-20 minutes on two cores.
BENCHES = [
    Bench("quota", ("bench/quota.py",)),
    Bench("webhook_intake", ("bench/webhook_intake.py",)),
    Bench("ingest", ("bench/ingest.py",)),
    Bench("invoicing", ("bench/invoicing.py", "--orgs", "2000", "--events", "1000")),
    Bench("invoicing_stripe_limit", ("bench/invoicing.py", "--stripe-limit", "100")),
    Bench("webhook_processing", ("bench/webhook_processing.py",)),
    Bench("reconcile", ("bench/reconcile.py",)),
]

SMALL_LEDGER, LARGE_LEDGER = 1_000_000, 20_000_000
LEDGER_TARGET = ">= 0.85x"


@dataclass(frozen=True)
class LedgerPair:
    """The same benchmark at two ledger sizes; `row` is the start of the path whose `ours` is
    compared."""

    label: str
    args: tuple[str, ...]
    row: str

    def bench(self, rows: int) -> Bench:
        return Bench(f"{self.label} ledger {rows:,}", (*self.args, "--ledger-rows", str(rows)))


LEDGER_PAIRS = [
    LedgerPair("ingest", ("bench/ingest.py",), "ingest: HTTP vs COPY-staging"),
    LedgerPair(
        "invoicing",
        ("bench/invoicing.py", "--orgs", "2000", "--events", "250"),
        "invoicing: run vs raw",
    ),
]


@dataclass(frozen=True)
class Row:
    path: str
    ours: float
    baseline: float
    ratio: float
    target: str
    unit: str = ""
    failure: str = ""  # why there is no figure: the row of a benchmark that failed

    @property
    def met(self) -> bool | None:
        return None if self.failure else target_met(self.ratio, self.target)


@dataclass
class Outcome:
    bench: Bench
    rows: list[Row] = field(default_factory=list)
    returncode: int | None = 0
    seconds: float = 0.0

    @property
    def failure(self) -> str:
        if self.returncode is None:
            return f"timed out after {self.bench.timeout_s:.0f} s"
        if self.returncode != 0:
            return f"exit status {self.returncode}"
        if not self.rows:
            return "printed no BENCH row"
        return ""

    def table_rows(self) -> list[Row]:
        if not self.failure:
            return self.rows
        failed = Row(f"{self.bench.name}: FAILED", 0.0, 0.0, 0.0, "", "", self.failure)
        return [*self.rows, failed]


_TARGET = re.compile(r"\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*x?\s*")


def target_met(ratio: float, target: str) -> bool | None:
    """Whether `ratio` meets a target written `>= 0.9x` or `<= 1.5x` (None: no target)."""
    found = _TARGET.fullmatch(target)
    if found is None:
        return None
    op, bound = found.group(1), float(found.group(2))
    return {
        ">=": ratio >= bound,
        ">": ratio > bound,
        "<=": ratio <= bound,
        "<": ratio < bound,
    }[op]


def parse_row(line: str) -> Row | None:
    """The row a `BENCH {json}` line carries; None for any other line (or a broken row)."""
    if not line.startswith(PREFIX):
        return None
    try:
        data = json.loads(line[len(PREFIX) :])
        return Row(
            str(data["path"]),
            float(data["ours"]),
            float(data["baseline"]),
            float(data["ratio"]),
            str(data.get("target", "")),
            str(data.get("unit", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def run(bench: Bench, echo: Callable[[str], None] = print) -> Outcome:
    """Run one benchmark, echoing its output line by line, and collect its rows."""
    outcome = Outcome(bench)
    started = time.monotonic()
    echo(f"--- {bench.name}: {' '.join(bench.args)}")
    process = subprocess.Popen(
        [sys.executable, *bench.args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    timer = _Deadline(process, bench.timeout_s)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
            row = parse_row(line.strip())
            if row is not None:
                outcome.rows.append(row)
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    outcome.returncode = None if timer.fired else process.returncode
    outcome.seconds = time.monotonic() - started
    return outcome


class _Deadline:
    """Kills the process when its time is up."""

    def __init__(self, process: subprocess.Popen[str], seconds: float) -> None:
        self.fired = False
        self._process = process
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        self._process.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def ledger_row(pair: LedgerPair, small: Outcome, large: Outcome) -> Row:
    """`ours` = the rate with the large ledger, `baseline` = the rate with the small one."""
    path = f"{pair.label} at {LARGE_LEDGER // 1_000_000}M rows vs {SMALL_LEDGER // 1_000_000}M"
    found = [
        next((r for r in outcome.rows if r.path.startswith(pair.row)), None)
        for outcome in (small, large)
    ]
    at_small, at_large = found
    if at_small is None or at_large is None:
        return Row(path, 0.0, 0.0, 0.0, LEDGER_TARGET, "", "a run at one size has no figure")
    ratio = at_large.ours / at_small.ours if at_small.ours else float("inf")
    return Row(path, at_large.ours, at_small.ours, ratio, LEDGER_TARGET, at_large.unit)


def _figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    header = ("path", "ours", "baseline", "ratio", "target", "met")
    body = []
    for row in rows:
        if row.failure:
            body.append((row.path, "-", "-", "-", row.target or "-", row.failure))
            continue
        unit = f" {row.unit}" if row.unit else ""
        met = {True: "yes", False: "NO", None: "-"}[row.met]
        body.append(
            (
                row.path,
                _figure(row.ours) + unit,
                _figure(row.baseline) + unit,
                f"{row.ratio:.2f}x",
                row.target or "-",
                met,
            )
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    right = {1, 2, 3}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(r) for r in body)]
    missed = sum(1 for r in rows if r.met is False)
    failed = sum(1 for r in rows if r.failure)
    targeted = sum(1 for r in rows if r.met is not None)
    out.append(
        f"{targeted - missed} of {targeted} targets met; "
        f"{failed} failed benchmark{'s' if failed != 1 else ''}"
    )
    return "\n".join(out)


def run_all(
    benches: Iterable[Bench],
    pairs: Iterable[LedgerPair] = (),
    runner: Callable[[Bench], Outcome] = run,
) -> list[Row]:
    rows: list[Row] = []
    for bench in benches:
        rows.extend(runner(bench).table_rows())
    for pair in pairs:
        small = runner(pair.bench(SMALL_LEDGER))
        large = runner(pair.bench(LARGE_LEDGER))
        rows.extend([*small.table_rows(), *large.table_rows(), ledger_row(pair, small, large)])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ledger",
        action="store_true",
        help="also ingest and invoicing with the ledger at 1M and 20M rows (the 20M fills: ~1 h)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[b.name for b in BENCHES],
        help="run only these benchmarks (repeatable)",
    )
    args = parser.parse_args(argv)
    benches = [b for b in BENCHES if not args.only or b.name in args.only]
    pairs = LEDGER_PAIRS if args.ledger else []
    started = time.monotonic()
    rows = run_all(benches, pairs)
    print()
    print(format_table(rows))
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if any(r.failure for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
