"""Access to the composition root from inside a request."""

from __future__ import annotations

from flask import current_app

from entrypoints.bootstrap import Container


def container() -> Container:
    value: Container = current_app.extensions["billing"]
    return value
