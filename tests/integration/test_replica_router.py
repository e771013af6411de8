"""The replica router on a real primary and streaming standby: which reads it runs again on
the primary when the replica loses them, and which it does not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from adapters.db.engine import make_engine
from adapters.db.replica import ReplicaRouter, WriteMarks
from tests.integration.conftest import REDIS_URL
from tests.integration.replica_support import StreamingPair

Outcomes = list[tuple[str, str, str]]


@pytest.fixture(scope="module")
def pair() -> Iterator[StreamingPair]:
    servers = StreamingPair(25436, 25437)
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def frozen_router(primary: Engine, replica: Engine, outcomes: Outcomes) -> ReplicaRouter:
    """A router whose clock never moves: the replica's last answer stays fresh, and the one
    sample of the primary it takes stays the floor."""
    return ReplicaRouter(
        primary,
        replica,
        WriteMarks(redis.Redis.from_url(REDIS_URL), 10),
        3600,
        observe=lambda *outcome: outcomes.append(outcome),
        clock=lambda: 1000.0,
    )


def in_recovery(engine: Engine) -> bool:
    """True where a standby ran the read."""
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one())


def test_a_read_that_fails_on_the_replica_runs_again_on_the_primary(pair: StreamingPair) -> None:
    """The replica answered the check, then stopped before the read: the primary answers."""
    primary, replica = pair.engine("primary"), pair.engine("standby")
    outcomes: Outcomes = []
    router = frozen_router(primary, replica, outcomes)
    try:
        router.read("analytics", in_recovery)  # takes the floor's one sample
        pair.wait_caught_up()
        outcomes.clear()
        assert router.read("analytics", in_recovery) is True
        pair.stop_node("standby")
        assert router.read("analytics", in_recovery) is False
        assert outcomes == [
            ("analytics", "replica", "caught_up"),
            ("analytics", "primary", "failed"),
        ]
        assert router.read("analytics", in_recovery) is False  # left alone for retry_after_s
        assert outcomes[-1] == ("analytics", "primary", "unreachable")
    finally:
        pair.start_node("standby")
        primary.dispose()
        replica.dispose()


def test_a_read_that_times_out_on_the_replica_is_not_blamed_on_it(pair: StreamingPair) -> None:
    """A statement timeout is the read's own fault: it fails as it would on the primary, and
    the replica keeps serving."""
    primary = pair.engine("primary")
    replica = make_engine(pair.url("standby"), statement_timeout_ms=100)
    outcomes: Outcomes = []
    router = frozen_router(primary, replica, outcomes)

    def slow(engine: Engine) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(2)"))

    try:
        router.read("analytics", in_recovery)
        pair.wait_caught_up()
        assert router.read("analytics", in_recovery) is True
        with pytest.raises(OperationalError, match="statement timeout"):
            router.read("analytics", slow)
        assert router.read("analytics", in_recovery) is True
        assert ("analytics", "primary", "failed") not in outcomes
    finally:
        primary.dispose()
        replica.dispose()
