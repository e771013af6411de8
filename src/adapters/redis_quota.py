"""The QuotaCounter on Redis: one Lua script checks and consumes atomically in one round trip.

Keys (all of one organization share the hash tag {org}, ready for Redis Cluster):
  quota:{org}:window          hash: start, end (ms), tier, limit:<metric> (-1 = unlimited)
  quota:{org}:c:<metric>      hash: period (start ms), end (ms), used
  quota:{org}:i:<metric>:<k>  the answer to an idempotency key, kept a day
  quota:{org}:r:<token>       a recording of usage already counted (an hour), so a retry after
                              a lost reply counts it once, and an undo takes it back once
  quota:ledger                stream of acknowledged consumptions, drained to Postgres
The single ledger stream is the one key shared by every organization: on Redis Cluster it
would be split per hash slot first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis

from domain.errors import QuotaUnavailable
from domain.model.plans import Metric
from domain.model.quotas import CounterReply, CounterStatus, LedgerEntry, QuotaWindow

LEDGER_STREAM = "quota:ledger"
GAUGE_END_MS = 253_370_764_800_000  # 9999-01-01, as GAUGE_PERIOD_END
IDEMPOTENCY_TTL_S = 86_400
WINDOW_TTL_MS = 60_000  # a window is reloaded at least every minute (grace periods, renewals)

CONSUME = """
-- Lua numbers are doubles: tostring writes 2^53 as 9.007199254741e+15, so counts go out as %d.
local function int(n) return string.format('%d', n) end
local w = redis.call('HMGET', KEYS[1], 'start', 'end', 'limit:' .. ARGV[2])
if not w[1] then return {'no_window'} end
if tonumber(ARGV[4]) >= tonumber(w[2]) then return {'no_window'} end
local start, finish = w[1], w[2]
if ARGV[8] == '1' then start = '0'; finish = ARGV[9] end
if ARGV[5] ~= '' then
  local previous = redis.call('GET', KEYS[3])
  if previous then return {'duplicate', previous, w[3], start, finish} end
end
local c = redis.call('HMGET', KEYS[2], 'period', 'used')
if c[1] ~= start then return {'no_counter', '0', w[3], start, finish} end
local used = tonumber(c[2])
local amount = tonumber(ARGV[3])
if ARGV[1] == 'peek' then return {'ok', int(used), w[3], start, finish} end
if ARGV[1] == 'release' then
  if amount > used then amount = used end
  amount = -amount
elseif tonumber(w[3]) >= 0 and used + amount > tonumber(w[3]) then
  return {'refused', int(used), w[3], start, finish}
end
if amount ~= 0 then
  used = redis.call('HINCRBY', KEYS[2], 'used', amount)
  redis.call('XADD', KEYS[4], '*', 'org', ARGV[7], 'metric', ARGV[2], 'amount', int(amount),
             'at', ARGV[4], 'idem', ARGV[5], 'period', start)
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], int(used), 'EX', ARGV[6]) end
return {'ok', int(used), w[3], start, finish}
"""

SEED = """
if redis.call('HGET', KEYS[1], 'period') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'period', ARGV[1], 'used', ARGV[2], 'end', ARGV[4])
if ARGV[3] ~= '' then redis.call('PEXPIREAT', KEYS[1], ARGV[3])
else redis.call('PERSIST', KEYS[1]) end
return 1
"""

# Recorded usage. KEYS[1] marks the recording (its token) so that a retry after a lost reply
# applies it once; ARGV[1] is 'apply' (when the mark is new) or 'undo' (when it is there, with
# the quantities negated), then (key index, occurred ms, quantity) triples: each counts into
# KEYS[1 + index] when that counter's period holds it. A missing counter stays missing.
RECORD = """
if ARGV[1] == 'apply' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 3600) then return 0 end
elseif redis.call('DEL', KEYS[1]) == 0 then return 0 end
local period = {}
for i = 2, #ARGV, 3 do
  local k = 1 + tonumber(ARGV[i])
  if period[k] == nil then
    local c = redis.call('HMGET', KEYS[k], 'period', 'end')
    if c[1] and c[2] then period[k] = {tonumber(c[1]), tonumber(c[2])}
    else
      if c[1] then redis.call('DEL', KEYS[k]) end  -- no end: rebuild it from the ledger
      period[k] = false
    end
  end
  local p = period[k]
  local at = tonumber(ARGV[i + 1])
  -- The quantity goes to HINCRBY as its digits: Lua's numbers are doubles, exact to 2^53 only.
  if p and at >= p[1] and at < p[2] then redis.call('HINCRBY', KEYS[k], 'used', ARGV[i + 2]) end
end
return 1
"""

# Flushed entries leave the stream (KEYS[1]); ARGV[1] is how many of them are refunds, each
# an (id, period, amount) triple for the counter KEYS[1 + n], then the plain ids. A refund is
# applied only by the call whose XDEL removes the entry, so at most once.
ACK = """
local refunds = tonumber(ARGV[1])
for n = 1, refunds do
  local i = 2 + (n - 1) * 3
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 and
     redis.call('HGET', KEYS[1 + n], 'period') == ARGV[i + 1] then
    redis.call('HINCRBY', KEYS[1 + n], 'used', -tonumber(ARGV[i + 2]))
  end
end
local first = 2 + refunds * 3
for i = first, #ARGV, 1000 do
  redis.call('XDEL', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 0
"""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ms(moment: datetime) -> int:
    # Integer arithmetic: a float round trip could move a period boundary by a millisecond.
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _at(ms: str | bytes) -> datetime:
    return EPOCH + timedelta(milliseconds=int(ms))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisQuotaCounter:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._consume = client.register_script(CONSUME)
        self._seed = client.register_script(SEED)
        self._record = client.register_script(RECORD)
        self._ack = client.register_script(ACK)

    @staticmethod
    def _keys(org_id: str, metric: Metric, idempotency_key: str | None = None) -> list[str]:
        tag = f"quota:{{{org_id}}}"
        idem = f"{tag}:i:{metric.value}:{idempotency_key}" if idempotency_key else f"{tag}:i:-"
        return [f"{tag}:window", f"{tag}:c:{metric.value}", idem, LEDGER_STREAM]

    def _run(
        self,
        mode: str,
        org_id: str,
        metric: Metric,
        amount: int,
        now: datetime,
        idempotency_key: str | None,
    ) -> CounterReply:
        args = [
            mode,
            metric.value,
            amount,
            _ms(now),
            idempotency_key or "",
            IDEMPOTENCY_TTL_S,
            org_id,
            "1" if metric.is_gauge else "0",
            GAUGE_END_MS,
        ]
        try:
            raw = self._consume(keys=self._keys(org_id, metric, idempotency_key), args=args)
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc
        status = CounterStatus(_text(raw[0]))
        if len(raw) == 1:
            return CounterReply(status)
        limit = int(raw[2])
        return CounterReply(
            status, int(raw[1]), None if limit < 0 else limit, _at(raw[3]), _at(raw[4])
        )

    def consume(
        self, org_id: str, metric: Metric, amount: int, now: datetime, idempotency_key: str | None
    ) -> CounterReply:
        return self._run("consume", org_id, metric, amount, now, idempotency_key)

    def release(self, org_id: str, metric: Metric, amount: int, now: datetime) -> CounterReply:
        return self._run("release", org_id, metric, amount, now, None)

    def peek(self, org_id: str, metric: Metric, now: datetime) -> CounterReply:
        return self._run("peek", org_id, metric, 0, now, None)

    def set_window(self, window: QuotaWindow, now: datetime) -> None:
        key = self._keys(window.org_id, Metric.QUERIES)[0]
        fields: dict[str, str] = {
            "start": str(_ms(window.period_start)),
            "end": str(_ms(window.period_end)),
            "tier": window.tier,
        }
        for metric, limit in window.limits.items():
            fields[f"limit:{metric.value}"] = str(-1 if limit is None else limit)
        expires = min(_ms(window.period_end), _ms(now) + WINDOW_TTL_MS)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=cast(Any, fields))  # redis-py's Mapping is invariant
                pipe.pexpireat(key, expires)
                pipe.execute()
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc

    def forget_window(self, org_id: str) -> None:
        try:
            self.client.delete(self._keys(org_id, Metric.QUERIES)[0])
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable") from exc

    def seed(
        self, org_id: str, metric: Metric, period_start: datetime, period_end: datetime, used: int
    ) -> None:
        counter = self._keys(org_id, metric)[1]
        start = "0" if metric.is_gauge else str(_ms(period_start))
        end = GAUGE_END_MS if metric.is_gauge else _ms(period_end)
        # Counters outlive their period by a day for late reads; gauges never expire.
        expire = "" if metric.is_gauge else str(_ms(period_end) + 86_400_000)
        try:
            self._seed(keys=[counter], args=[start, used, expire, end])
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc

    def record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> None:
        self._record_usage("apply", org_id, usage, token)

    def undo_record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> None:
        self._record_usage("undo", org_id, usage, token)

    def _record_usage(
        self, mode: str, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> None:
        keys = [f"quota:{{{org_id}}}:r:{token}"]
        index: dict[Metric, int] = {}
        totals: dict[tuple[int, int], int] = {}
        for metric, at, quantity in usage:
            if metric not in index:
                keys.append(self._keys(org_id, metric)[1])
                index[metric] = len(keys) - 1
            slot = (index[metric], _ms(at))  # a batch mostly shares one timestamp
            totals[slot] = totals.get(slot, 0) + quantity
        sign = -1 if mode == "undo" else 1
        args = [mode] + [part for (k, ms), q in totals.items() for part in (k, ms, sign * q)]
        try:
            self._record(keys=keys, args=args)
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc

    def pending_ledger(self, limit: int) -> list[LedgerEntry]:
        try:
            rows: list[Any] = cast(list[Any], self.client.xrange(LEDGER_STREAM, count=limit)) or []
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable") from exc
        entries = []
        for entry_id, raw in rows:
            if entry_id is None or raw is None:
                continue
            fields = {_text(k): _text(v) for k, v in raw.items()}
            period = fields.get("period")
            entries.append(
                LedgerEntry(
                    _text(entry_id),
                    fields["org"],
                    Metric(fields["metric"]),
                    int(fields["amount"]),
                    _at(fields["at"]),
                    fields.get("idem") or None,
                    _at(period) if period is not None else None,
                )
            )
        return entries

    def ack_ledger(self, entry_ids: Sequence[str], refunds: Sequence[LedgerEntry] = ()) -> None:
        refunded = [e for e in refunds if e.period_start is not None]
        ids = {e.entry_id for e in refunded}
        args: list[str | int] = [len(refunded)]
        for e in refunded:
            assert e.period_start is not None
            args += [e.entry_id, _ms(e.period_start), e.amount]
        args += [i for i in entry_ids if i not in ids]
        keys = [LEDGER_STREAM] + [self._keys(e.org_id, e.metric)[1] for e in refunded]
        try:
            self._ack(keys=keys, args=args)
        except redis.RedisError as exc:
            raise QuotaUnavailable("the quota counter is unavailable") from exc
