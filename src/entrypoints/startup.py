"""Operator errors at startup: one clear line on stderr and exit status 2, not a traceback.

A configuration error (a missing or invalid variable) or an unreachable database at startup is
for the operator to fix, and the message says what to set. The traceback comes only with
`--debug` on the command line or LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from entrypoints.config import ConfigError, debug_requested

EXIT_OPERATOR_ERROR = 2


class OperatorError(Exception):
    """Something the operator must fix before the command can run; the message says what."""


def debug() -> bool:
    return "--debug" in sys.argv or debug_requested()


def fail(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)  # as the flask commands word theirs
    raise SystemExit(EXIT_OPERATOR_ERROR)


@contextmanager
def operator_errors() -> Iterator[None]:
    try:
        yield
    except (ConfigError, OperatorError) as exc:
        if debug():
            raise
        fail(str(exc))
