"""Logging: JSON lines on stderr (python-json-logger), one per event, for log shippers."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(
        "{asctime}{levelname}{name}{message}", style="{",
        rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"}))
    root.addHandler(handler)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
