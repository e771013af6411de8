"""Log lines: JSON without terminal escape codes, periodic jobs at DEBUG, billing changes at
INFO."""

from __future__ import annotations

import io
import json
import logging

from entrypoints import logs
from entrypoints.config import Settings
from entrypoints.worker.scheduler import periodic_jobs


def capture(*filters: logging.Filter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.PlainText())
    handler.setFormatter(logs.json_formatter())
    logger = logging.getLogger(f"test.lines.{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    for f in filters:
        logger.addFilter(f)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_colour_codes_never_reach_a_json_line():
    logger, stream = capture()
    logger.info("*** Listening on %s...", "\x1b[32mbilling-urgent\x1b[39;49;00m")
    logger.info("%s: %s (%s)", "\x1b[32mq\x1b[0m", "\x1b[34mJob OK\x1b[0m", "id-1")
    assert [line["message"] for line in lines(stream)] == [
        "*** Listening on billing-urgent...",
        "q: Job OK (id-1)",
    ]
    assert "\\u001b" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_periodic_jobs_are_debug_and_other_jobs_stay_info():
    ids = [job.id for job in periodic_jobs(Settings(_env_file=None))]
    assert "billing-flush-quota-ledger" in ids
    logger, stream = capture(logs.Demote(ids, "INFO"))
    logger.info("Worker w1: billing-urgent: billing-flush-quota-ledger")
    logger.info("Successfully completed job billing-sweep-webhook-inbox in 0:00:00.01s")
    logger.info("Worker w1: billing-webhooks: webhook-evt_123")
    logger.warning("job billing-flush-quota-ledger failed")
    assert [(line["level"], line["message"][:22]) for line in lines(stream)] == [
        ("INFO", "Worker w1: billing-web"),
        ("WARNING", "job billing-flush-quot"),
    ]
    debug, stream = capture(logs.Demote(ids, "DEBUG"))
    debug.info("Worker w1: billing-urgent: billing-flush-quota-ledger")
    assert [line["level"] for line in lines(stream)] == ["DEBUG"]


def test_a_billing_change_is_info(caplog):
    from datetime import UTC, datetime

    from domain.model.audit import AuditEntry
    from domain.services.audit import record_billing_change
    from tests.unit.fakes import FakeUnitOfWorkFactory

    caplog.set_level(logging.DEBUG, logger="billing.security")
    with FakeUnitOfWorkFactory()() as uow:
        entry = AuditEntry("org_a", datetime.now(UTC), "user:u", "subscription.status_changed")
        record_billing_change(uow, entry)
        uow.commit()
    (line,) = [r for r in caplog.records if getattr(r, "security_event", "") == "billing_change"]
    assert line.levelname == "INFO" and line.action == "subscription.status_changed"
