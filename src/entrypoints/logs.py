"""Logging: JSON lines on stderr (python-json-logger), one per event, for log shippers."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class RequestContext(logging.Filter):
    """Every line written while serving a request carries its request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            from flask import g, has_request_context

            if has_request_context() and "request_id" in g:
                record.request_id = g.request_id
        return True


# Terminal colour codes: RQ colours queue names and "Job OK" when its stdout is a terminal.
ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class PlainText(logging.Filter):
    """A JSON line carries the message's text, never terminal escape codes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\x1b" in message:
            record.msg, record.args = ESCAPES.sub("", message), None
        return True


class Demote(logging.Filter):
    """Lines that mention one of `subjects` (the periodic jobs' ids, every few seconds) are
    DEBUG, not INFO: written only when the level is DEBUG."""

    def __init__(self, subjects: Iterable[str], level: str) -> None:
        super().__init__()
        self.subjects = tuple(subjects)
        self.show: bool = level.strip().upper() == "DEBUG"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        if not any(subject in message for subject in self.subjects):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.show


def json_formatter() -> logging.Formatter:
    return _JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
    )


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    if any(
        isinstance(h.formatter, _JsonFormatter) and isinstance(h, logging.StreamHandler)
        for h in root.handlers
    ):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContext())
    handler.addFilter(PlainText())
    handler.setFormatter(json_formatter())
    root.addHandler(handler)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
