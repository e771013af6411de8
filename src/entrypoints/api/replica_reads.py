"""Reads a read replica may serve on behalf of the authenticated organization, and the write
marks that keep its own writes visible to it (the rule: adapters/db/replica.py).

Every commit made while a request is served notes the primary's WAL position in the request;
reads later in the same request need the replica to have replayed it, and when the request ends
the position becomes the organization's write mark for the requests that follow, in any web
process. Without DATABASE_REPLICA_URL nothing here runs and every read is the primary's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, g, has_request_context
from sqlalchemy import Connection

from domain.ports import UnitOfWorkFactory
from entrypoints.api.container import container
from entrypoints.bootstrap import Container

T = TypeVar("T")
POSITION = "billing_write_position"
UNKNOWN = 2**62  # a commit whose position could not be read: only the primary is sure to have it
log = logging.getLogger("billing.replica")


def read_as_org(purpose: str, fn: Callable[[UnitOfWorkFactory], T]) -> T:
    """`fn`, given units of work for reading only, on the replica when it has replayed the
    organization's own writes, else on the primary."""
    c = container()
    if c.reads is None:
        return fn(c.uow)
    return c.reads.read_uow(purpose, fn, g.principal.org_id, g.get(POSITION, 0))


def install(app: Flask) -> None:
    c: Container = app.extensions["billing"]
    if c.reads is None or not hasattr(c.uow, "on_commit"):
        return
    c.uow.on_commit = _note_commit(c)
    app.after_request(_remember)


def _note_commit(c: Container) -> Callable[[Connection], None]:
    def note(conn: Connection) -> None:
        if not has_request_context() or c.reads is None:
            return  # a job or a command: no later read of this process is waiting for it
        try:
            position = c.reads.position(conn)
        except Exception:  # the commit stands; this organization's reads stay on the primary
            log.warning("WAL position after a commit not read", exc_info=True)
            position = UNKNOWN
        setattr(g, POSITION, max(g.get(POSITION, 0), position))

    return note


def _remember(response: Response) -> Response:
    position: int = g.get(POSITION, 0)
    principal: Any = g.get("principal")
    reads = container().reads
    if position and principal is not None and reads is not None:
        reads.remember(principal.org_id, position)
    return response
