"""Redis connections: the real server, or an in-process stand-in for the embedded default."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect_redis(url: str, *, timeout_s: float | None = 0.1) -> redis.Redis:
    """A client whose calls fail fast (never a hung request) when Redis is unreachable.

    Request-path clients do not retry (redis-py's default retries would turn one 100 ms timeout
    into seconds); workers pass `timeout_s=None`: their blocking dequeue waits as long as it
    needs, with redis-py's default retries (a connect attempt still gives up after 5 s, and
    keepalive finds a peer that vanished without closing the connection)."""
    if timeout_s is None:
        return redis.Redis.from_url(
            url, health_check_interval=30, socket_connect_timeout=5, socket_keepalive=True
        )
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
    )


def embedded_redis() -> redis.Redis:
    """fakeredis with Lua, one server per process: the embedded default has no Redis to run."""
    import fakeredis  # imported here: only the embedded default needs it

    return fakeredis.FakeRedis(server=fakeredis.FakeServer())


class RedisProbe:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
