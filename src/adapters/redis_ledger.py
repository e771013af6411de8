"""The quota ledger's streams in Redis: one per organization, drained to Postgres by the flush.

  quota:{org}:ledger      stream of the organization's acknowledged consumptions
  quota:{<tag>}:pending   set of the organizations of one hash slot whose stream holds entries
                          (on a single Redis, one set: quota:pending)
  quota:ledger            the single stream of earlier versions, drained first (single Redis)

The pending set shares the hash slot of the organizations it lists (its tag is chosen for that
slot), so the consume script adds to it and the acknowledgement removes from it atomically, on
a Redis Cluster too. A flush therefore reads only the streams that hold something: on a cluster
the 16,384 sets in one script call per master and 256 slots, whatever the number of
organizations.
"""

from __future__ import annotations

import functools
import hashlib
from binascii import crc_hqx
from collections.abc import Iterable, Sequence
from typing import Any, cast

from redis.cluster import RedisCluster
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot
from redis.exceptions import NoScriptError

from adapters.redis_client import QuotaRedis
from adapters.redis_replies import as_text, from_ms, spent_and_cap
from domain.model.plans import Metric
from domain.model.quotas import FiredThreshold, LedgerEntry

LEGACY_STREAM = "quota:ledger"
SINGLE_PENDING = "quota:pending"
READ_CHUNK = 200  # organizations whose streams one pipelined round trip reads
SETS_PER_CALL = 256  # pending sets one script call reads (about a millisecond of a master)
# The pending sets of some slots of one master, read by one script: the sets live in different
# slots of one node, which a script may read with this flag (Redis 7). The sets' tags are
# written into the script, so a flush sends only its sha. A set the node does not serve (a slot
# moving, a stale map) is skipped and counted, not an error.
PENDING_ON_NODE = """#!lua flags=no-writes,allow-cross-slot-keys
local found, skipped = {}, 0
for _, tag in ipairs({%s}) do
  local members = redis.pcall('SMEMBERS', 'quota:{' .. tag .. '}:pending')
  if members.err then skipped = skipped + 1
  else for _, m in ipairs(members) do found[#found + 1] = m end end
end
table.insert(found, 1, skipped)
return found
"""


@functools.cache
def slot_tags() -> tuple[str, ...]:
    """For every hash slot, a short hash tag that lands in it."""
    tags: list[str | None] = [None] * REDIS_CLUSTER_HASH_SLOTS
    missing, n = REDIS_CLUSTER_HASH_SLOTS, 0
    while missing:  # about 170,000 tries, a tenth of a second, once per process
        tag = b"p%d" % n
        slot = crc_hqx(tag, 0) % REDIS_CLUSTER_HASH_SLOTS  # redis.crc.key_slot, without braces
        if tags[slot] is None:
            tags[slot] = tag.decode()
            missing -= 1
        n += 1
    return tuple(cast(list[str], tags))


@functools.lru_cache(maxsize=64)
def _sets_script(tags: tuple[str, ...]) -> str:
    return PENDING_ON_NODE % ",".join(f'"{tag}"' for tag in tags)


def stream_key(org_id: str) -> str:
    return f"quota:{{{org_id}}}:ledger"


def entry_id(org_id: str, stream_id: str) -> str:
    """The ledger's id of a stream entry. Stream ids are unique within one stream only, so the
    organization's digest is added (64 bits: the ledger's column holds 64 characters, and an
    organization id may be as long). Entries of the single earlier stream keep their bare id,
    so one flushed before an upgrade is still recognised."""
    digest = hashlib.blake2b(org_id.encode(), digest_size=8).hexdigest()
    return f"{stream_id}/{digest}"


class LedgerStreams:
    def __init__(self, client: QuotaRedis) -> None:
        self.client = client
        self.cluster = isinstance(client, RedisCluster)
        if self.cluster:
            slot_tags()  # built with the client, not on a request

    def pending_key(self, org_id: str) -> str:
        if not self.cluster:
            return SINGLE_PENDING
        return f"quota:{{{slot_tags()[key_slot(org_id.encode())]}}}:pending"

    def pending_orgs(self) -> list[str]:
        if not self.cluster:
            members = cast(set[bytes], self.client.smembers(SINGLE_PENDING))
            return sorted(as_text(m) for m in members)
        cluster = cast(RedisCluster, self.client)
        for _ in range(3):
            orgs, stale = self._pending_on_masters()
            if not stale:
                break
            # A slot moved since the map was read: read the map again, then every set again.
            cluster.nodes_manager.initialize()
        return sorted(orgs)

    def _pending_on_masters(self) -> tuple[set[str], bool]:
        cluster = cast(RedisCluster, self.client)
        if not cluster.nodes_manager.slots_cache:
            cluster.nodes_manager.initialize()
        tags = slot_tags()
        by_node: dict[str, tuple[Any, list[str]]] = {}
        for slot, nodes in list(cluster.nodes_manager.slots_cache.items()):
            by_node.setdefault(nodes[0].name, (nodes[0], []))[1].append(tags[slot])
        orgs: set[str] = set()
        stale = False
        for node, node_tags in by_node.values():
            for start in range(0, len(node_tags), SETS_PER_CALL):
                reply = self._read_sets(node, tuple(node_tags[start : start + SETS_PER_CALL]))
                stale = stale or int(reply[0]) > 0
                orgs.update(as_text(m) for m in reply[1:])
        return orgs, stale

    def _read_sets(self, node: Any, tags: tuple[str, ...]) -> list[Any]:
        cluster = cast(RedisCluster, self.client)
        body = _sets_script(tags)
        sha = hashlib.sha1(body.encode()).hexdigest()  # noqa: S324 - Redis names scripts so
        run = cluster.execute_command  # untyped in redis-py
        try:
            return cast(list[Any], run("EVALSHA", sha, 0, target_nodes=node))  # type: ignore[no-untyped-call]
        except NoScriptError:
            return cast(list[Any], run("EVAL", body, 0, target_nodes=node))  # type: ignore[no-untyped-call]

    def read(self, limit: int, org_id: str | None = None) -> list[LedgerEntry]:
        """Up to `limit` entries: the earlier single stream's first, then the organizations'
        (or one organization's: no walk over the others)."""
        if not self.cluster:
            legacy = cast(list[Any], self.client.xrange(LEGACY_STREAM, count=limit)) or []
            mine = [e for e in (parse(row, None) for row in legacy) if e is not None]
            mine = [e for e in mine if org_id in (None, e.org_id)]
            if mine:
                return mine
        entries: list[LedgerEntry] = []
        orgs = self.pending_orgs() if org_id is None else [org_id]
        for start in range(0, len(orgs), READ_CHUNK):
            chunk = orgs[start : start + READ_CHUNK]
            pipe = self.client.pipeline(transaction=False)
            for org in chunk:
                pipe.xrange(stream_key(org), count=limit - len(entries))
            for org, rows in zip(chunk, pipe.execute(), strict=True):
                entries += [e for e in (parse(row, org) for row in rows or []) if e is not None]
            if len(entries) >= limit:
                return entries[:limit]
        return entries

    def backlog(self) -> tuple[int, int | None]:
        """Entries waiting for the flush, and the oldest one's time in epoch ms."""
        streams = [stream_key(org) for org in self.pending_orgs()]
        if not self.cluster:
            streams.append(LEGACY_STREAM)
        count, oldest = 0, None
        for start in range(0, len(streams), READ_CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for key in streams[start : start + READ_CHUNK]:
                pipe.xlen(key)
                pipe.xrange(key, count=1)
            replies = pipe.execute()
            for length, first in zip(replies[::2], replies[1::2], strict=True):
                count += int(length)
                if first:
                    ms = int(as_text(first[0][0]).split("-")[0])
                    oldest = ms if oldest is None else min(oldest, ms)
        return count, oldest


def by_stream(entries: Iterable[LedgerEntry]) -> dict[str | None, list[LedgerEntry]]:
    """Entries grouped by organization; None for the earlier single stream's."""
    groups: dict[str | None, list[LedgerEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.org_id if "/" in entry.entry_id else None, []).append(entry)
    return groups


def parse(row: Sequence[Any], org: str | None) -> LedgerEntry | None:
    raw_id, raw = row[0], row[1]
    if raw_id is None or raw is None:
        return None
    fields = {as_text(k): as_text(v) for k, v in raw.items()}
    metric = Metric(fields["metric"])
    limit = int(fields.get("limit", "-1"))
    fired = tuple(
        FiredThreshold(
            metric, threshold_id, int(level), int(fields["used"]), None if limit < 0 else limit
        )
        for threshold_id, level in (
            item.split("|") for item in fields.get("fired", "").split(",") if item
        )
    )
    period, capped = fields.get("period"), fields.get("capped")
    stream_id = as_text(raw_id)
    return LedgerEntry(
        stream_id if org is None else entry_id(org, stream_id),
        fields["org"],
        metric,
        int(fields["amount"]),
        from_ms(fields["at"]),
        fields.get("idem") or None,
        from_ms(period) if period is not None else None,
        fired,
        spent_and_cap(capped) if capped is not None else None,
        from_ms(fields["end"]) if "end" in fields else None,
    )


def stream_id(entry: LedgerEntry) -> str:
    return entry.entry_id.split("/", 1)[0]
