"""Redis connections: the real server, a Redis Cluster, or an in-process stand-in for the
embedded default."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
QuotaRedis = redis.Redis | RedisCluster
# A cluster that covers no node for a slot raises RedisClusterException, not a RedisError.
REDIS_ERRORS = (redis.RedisError, RedisClusterException)


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


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def connect_quota_redis(url: str, *, timeout_s: float) -> QuotaRedis:
    """The quota counters' store: a single Redis (`redis://`), or a Redis Cluster named by
    `redis+cluster://[user:password@]host:port[,host:port...]` (the scheme `limits` reads
    too), any node of it being enough to discover the others.

    On a cluster, MOVED and ASK redirections and TRYAGAIN (a multi-key script in a slot being
    migrated) are followed by redis-py before anything ran, so following them never counts a
    consumption twice. A timeout or a lost connection is not retried: the script may have run,
    so the caller answers a retryable error instead."""
    if not is_cluster_url(url):
        return connect_redis(url, timeout_s=timeout_s)
    parts = urlsplit(url)
    nodes = []
    for location in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = location.rpartition(":")
        node = ClusterNode(host.strip("[]") or "127.0.0.1", int(port or 6379))  # type: ignore[no-untyped-call]
        nodes.append(node)
    return RedisCluster(
        startup_nodes=nodes,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme.lower().startswith("rediss"),
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
    def __init__(self, client: QuotaRedis) -> None:
        self.client = client

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except REDIS_ERRORS:
            return False
