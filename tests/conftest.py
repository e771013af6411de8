"""Every log line written during the whole test run is kept and scanned for secrets at the end:
a Stripe key, a webhook secret, a JWT or a card-like number in any line fails the run."""

from __future__ import annotations

import logging

import pytest

from entrypoints.logs import json_formatter
from tests.secret_scan import find_secrets


class KeepEveryLine(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(json_formatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001
            self.lines.append(str(record.getMessage()))


KEPT = KeepEveryLine()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(KEPT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    hits = [(line[:200], what) for line in KEPT.lines for what in find_secrets(line)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"secret scan: {len(KEPT.lines)} log lines, {len(hits)} secrets")
    if hits:
        for line, (kind, value) in hits[:20]:
            if reporter is not None:
                reporter.write_line(f"  {kind}: {value[:12]}... in {line}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
