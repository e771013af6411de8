"""Logging: JSON lines on stderr (python-json-logger), one per event, for log shippers."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class RequestContext(logging.Filter):
    """Every line written while serving a request carries its request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            from flask import g, has_request_context

            if has_request_context() and "request_id" in g:
                record.request_id = g.request_id
        return True


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
    handler.setFormatter(json_formatter())
    root.addHandler(handler)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
