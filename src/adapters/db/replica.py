"""Reads a streaming replica may serve, and the rule that sends each one there or to the primary.

The rule, in WAL positions (LSNs, compared as bytes): a read goes to the replica only if the
replica has replayed at least `required`, else to the primary. `required` is the largest of

- the staleness floor: the primary's position at some moment within the last `max_lag_s`
  (the router samples it at most once a second), so a replica read is never
  older than `max_lag_s`, whoever wrote, even when the replica stopped streaming;
- the organization's write mark: the primary's position right after the last commit made on
  behalf of the organization by an API request (kept in Redis for `max_lag_s` + 60 s, after
  which the floor covers it), so a later request sees its own writes whichever process serves it;
- the position after the current request's own commits.

Replay only moves forward, so a replica that has replayed `required` when asked keeps showing at
least that state to every later statement. A replica that is down, not a standby, or failing a
read never fails the request: the read runs on the primary, the replica is left alone for
`retry_after_s`, and the outcome is counted (`observe(purpose, database, reason)`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import redis
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from adapters.db.uow import SqlUnitOfWorkFactory
from domain.ports import UnitOfWorkFactory

T = TypeVar("T")
Observe = Callable[[str, str, str], None]  # purpose, database (replica, primary), reason
log = logging.getLogger("billing.replica")

# The insert position: at or past the end of every record written so far, commit records of
# asynchronous commits (synchronous_commit=off) included, which the write position may not be.
# Right after a page boundary it counts the next page's header (24 bytes, 40 on a segment's
# first page), which no standby replays until a record follows: there, with everything written
# up to the boundary, the boundary itself is the end of the last record.
PRIMARY_POSITION = text(
    "SELECT pg_wal_lsn_diff(CASE WHEN "
    "pg_wal_lsn_diff(pg_current_wal_insert_lsn(), pg_current_wal_lsn()) IN (24, 40) AND "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') % current_setting('wal_block_size')::int = 0 "
    "THEN pg_current_wal_lsn() ELSE pg_current_wal_insert_lsn() END, '0/0')::bigint"
)
REPLAYED = text(
    "SELECT CASE WHEN pg_is_in_recovery() "
    "THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint END"
)
# serialization_failure and deadlock_detected: what a standby's conflicts with recovery raise.
RECOVERY_CONFLICTS = frozenset({"40001", "40P01"})
SAMPLE_EVERY_S = 1.0
MARK_MARGIN_S = 60
# Keep the larger of the stored and the new position: two processes may write in either order.
REMEMBER = """
local stored = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > stored then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else redis.call('EXPIRE', KEYS[1], ARGV[2]) end
"""


def replica_failure(exc: DBAPIError) -> str | None:
    """ "down" when the replica cannot be reached, "conflict" when recovery cancelled the read
    (replaying a vacuum or a lock the read was in the way of), None for any other error."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RECOVERY_CONFLICTS:
        return "conflict"
    if exc.connection_invalidated or (isinstance(exc, OperationalError) and sqlstate is None):
        return "down"
    if sqlstate is not None and sqlstate[:2] in ("08", "57") and sqlstate != "57014":
        return "down"  # connection exceptions, operator intervention (a shutdown)
    return None


def _noop(purpose: str, database: str, reason: str) -> None:
    return None


class WriteMarks:
    """Each organization's write mark, in Redis (shared by every web process). A mark older
    than `max_lag_s` is implied by the staleness floor; it is kept a minute longer."""

    def __init__(self, client: redis.Redis, max_lag_s: float, prefix: str = "billing:write-mark:"):
        self.client, self.prefix = client, prefix
        self.ttl_s = math.ceil(max_lag_s) + MARK_MARGIN_S
        self._remember = client.register_script(REMEMBER)

    def remember(self, org_id: str, position: int) -> None:
        self._remember(keys=[self.prefix + org_id], args=[position, self.ttl_s])

    def get(self, org_id: str) -> int:
        value = self.client.get(self.prefix + org_id)
        return int(value) if value is not None else 0  # type: ignore[arg-type]


class ReplicaRouter:
    def __init__(
        self,
        primary: Engine,
        replica: Engine,
        marks: WriteMarks,
        max_lag_s: float,
        *,
        retry_after_s: float = 5.0,
        observe: Observe = _noop,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary, self.replica, self.marks = primary, replica, marks
        self.max_lag_s, self.retry_after_s = max_lag_s, retry_after_s
        self.observe, self.clock = observe, clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()  # (when, primary position)
        self._replayed = 0  # the replica's replayed position when last asked: a lower bound
        # of what it shows now, trusted for SAMPLE_EVERY_S (a restarted standby may start lower)
        self._replayed_at = float("-inf")
        self._down_until = float("-inf")

    # -- writes ------------------------------------------------------------------------
    def position(self, conn: Connection) -> int:
        """The primary's WAL position, asked on a connection that has just committed."""
        return int(conn.execute(PRIMARY_POSITION).scalar_one())

    def remember(self, org_id: str, position: int) -> None:
        try:
            self.marks.remember(org_id, position)
        except redis.RedisError:
            log.warning("write mark of %s not stored; its reads may see the replica", org_id)

    # -- reads -------------------------------------------------------------------------
    def read(
        self,
        purpose: str,
        fn: Callable[[Engine], T],
        org_id: str | None = None,
        seen: int = 0,
    ) -> T:
        """`fn` run on the replica when the rule allows, else on the primary."""
        reason = self._choose(org_id, seen)
        if reason != "caught_up":
            self.observe(purpose, "primary", reason)
            return fn(self.primary)
        try:
            result = fn(self.replica)
        except DBAPIError as exc:
            failure = replica_failure(exc)
            if failure is None:
                raise  # the read's own fault (a statement timeout, a bug): the primary's too
            if failure == "down":
                self._went_down(exc)
            self.observe(purpose, "primary", "failed")
            return fn(self.primary)
        self.observe(purpose, "replica", reason)
        return result

    def read_uow(
        self,
        purpose: str,
        fn: Callable[[UnitOfWorkFactory], T],
        org_id: str | None = None,
        seen: int = 0,
    ) -> T:
        """`fn` given units of work over the chosen database (reads only: nothing commits)."""
        return self.read(purpose, lambda engine: fn(SqlUnitOfWorkFactory(engine)), org_id, seen)

    def _choose(self, org_id: str | None, seen: int) -> str:
        if self.clock() < self._down_until:
            return "unreachable"
        required = max(self._floor(), seen)
        if org_id is not None:
            try:
                required = max(required, self.marks.get(org_id))
            except redis.RedisError:
                return "mark_unknown"
        if self._replayed >= required and self.clock() - self._replayed_at < SAMPLE_EVERY_S:
            return "caught_up"
        try:
            replayed = self._ask_replica()
        except DBAPIError as exc:
            self._went_down(exc)
            return "unreachable"
        if replayed is None:
            self._went_down(None)
            return "not_a_standby"
        return "caught_up" if replayed >= required else "behind"

    def _floor(self) -> int:
        """The primary's position at a moment no longer than `max_lag_s` ago."""
        now = self.clock()
        with self._lock:
            while self._samples and self._samples[0][0] < now - self.max_lag_s:
                self._samples.popleft()
            fresh = self._samples and now - self._samples[-1][0] < SAMPLE_EVERY_S
        if not fresh:
            with self.primary.connect() as conn:
                position = self.position(conn)
            with self._lock:
                self._samples.append((now, position))
        with self._lock:
            return self._samples[0][1]

    def _ask_replica(self) -> int | None:
        with self.replica.connect() as conn:
            value = conn.execute(REPLAYED).scalar_one()
        if value is None:
            return None
        was_down = self._down_until > float("-inf")
        with self._lock:
            self._replayed, self._replayed_at = int(value), self.clock()
            self._down_until = float("-inf")
        if was_down:
            log.info("read replica answers again; eligible reads go to it")
        return int(value)

    def _went_down(self, exc: BaseException | None) -> None:
        first = self._down_until == float("-inf")
        with self._lock:
            self._down_until = self.clock() + self.retry_after_s
            self._replayed_at = float("-inf")
        if first:
            why = "it is not a standby" if exc is None else type(exc).__name__
            log.warning(
                "read replica unusable (%s); reads go to the primary, retried every %.0f s",
                why,
                self.retry_after_s,
            )
