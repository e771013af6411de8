"""The QuotaCounter on Redis: one Lua script checks and consumes atomically in one round trip.

Keys (all of one organization share the hash tag {org}, ready for Redis Cluster):
  quota:{org}:window          hash: start, end (ms), tier, limit:<metric> (-1 = unlimited)
  quota:{org}:c:<metric>      hash: period (start ms), end (ms), used
  quota:{org}:i:<metric>:<k>  the answer to an idempotency key, kept a day
  quota:{org}:r:<token>       a recording of usage already counted (an hour), so a retry after
                              a lost reply counts it once, and an undo takes it back once
  quota:{org}:marks           hash: alert thresholds fired and the cap's first refusal, per
                              period (see adapters/redis_scripts.py)
  quota:{org}:ledger          stream of acknowledged consumptions, drained to Postgres, with
                              the pending set of the org's slot (see adapters/redis_ledger.py)
Every script touches the keys of one organization's hash slot only, so the counter runs on a
Redis Cluster as on a single Redis.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import redis

from adapters.redis_client import REDIS_ERRORS, QuotaRedis
from adapters.redis_ledger import (
    LEGACY_STREAM,
    SINGLE_PENDING,
    LedgerStreams,
    by_stream,
    stream_id,
    stream_key,
)
from adapters.redis_replies import as_text, from_ms, record_outcome, to_ms
from adapters.redis_scripts import ACK, CONSUME, RECORD, SEED
from domain.errors import QuotaUnavailable
from domain.model.plans import Metric
from domain.model.quotas import (
    CounterReply,
    CounterStatus,
    LedgerEntry,
    QuotaWindow,
    RecordOutcome,
)

GAUGE_END_MS = 253_370_764_800_000  # 9999-01-01, as GAUGE_PERIOD_END
IDEMPOTENCY_TTL_S = 86_400
WINDOW_TTL_MS = 60_000  # a window is reloaded at least every minute (grace periods, renewals)
MARKS_TTL_MS = 86_400_000  # marks outlive their period by a day
VOICE = (Metric.STT_WORDS, Metric.TTS_WORDS)


class RedisQuotaCounter:
    def __init__(self, client: QuotaRedis) -> None:
        self.client = client
        self.streams = LedgerStreams(client)
        # RedisCluster registers scripts as Redis does (its stubs type `self` as Redis only).
        scripts = cast(redis.Redis, client)
        self._consume = scripts.register_script(CONSUME)
        self._seed = scripts.register_script(SEED)
        self._record = scripts.register_script(RECORD)
        self._ack = scripts.register_script(ACK)

    def _keys(self, org_id: str, metric: Metric, idempotency_key: str | None = None) -> list[str]:
        tag = f"quota:{{{org_id}}}"
        idem = f"{tag}:i:{metric.value}:{idempotency_key}" if idempotency_key else f"{tag}:i:-"
        other = Metric.TTS_WORDS if metric is Metric.STT_WORDS else Metric.STT_WORDS
        return [
            f"{tag}:window",
            f"{tag}:c:{metric.value}",
            idem,
            stream_key(org_id),
            f"{tag}:marks",
            f"{tag}:c:{other.value}",
            self.streams.pending_key(org_id),
        ]

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
            to_ms(now),
            idempotency_key or "",
            IDEMPOTENCY_TTL_S,
            org_id,
            "1" if metric.is_gauge else "0",
            GAUGE_END_MS,
            "1" if metric.is_voice else "0",
        ]
        try:
            raw = self._consume(keys=self._keys(org_id, metric, idempotency_key), args=args)
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc
        status = CounterStatus(as_text(raw[0]))
        if len(raw) == 1:
            return CounterReply(status)
        limit = int(raw[2])
        spent, cap = (int(raw[5]), int(raw[6])) if len(raw) > 6 else (None, None)
        return CounterReply(
            status,
            int(raw[1]),
            None if limit < 0 else limit,
            from_ms(raw[3]),
            from_ms(raw[4]),
            spent,
            cap,
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
            "start": str(to_ms(window.period_start)),
            "end": str(to_ms(window.period_end)),
            "tier": window.tier,
        }
        for metric, limit in window.limits.items():
            fields[f"limit:{metric.value}"] = str(-1 if limit is None else limit)
        for metric, levels in window.alerts.items():
            if levels:
                fields[f"alerts:{metric.value}"] = ",".join(f"{i}|{v}" for i, v in levels.items())
        if window.cap_words is not None:
            fields["cap"] = str(window.cap_words)
        expires = min(to_ms(window.period_end), to_ms(now) + WINDOW_TTL_MS)
        marks_key = self._keys(window.org_id, Metric.QUERIES)[4]
        marks = {self._mark(window, m, t): "1" for m, t in window.fired}
        unmarked = [self._mark(window, m, t) for m, t in window.resolved]
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(key)
                pipe.hset(key, mapping=cast(Any, fields))  # redis-py's Mapping is invariant
                pipe.pexpireat(key, expires)
                if unmarked:
                    pipe.hdel(marks_key, *unmarked)
                if marks:
                    pipe.hset(marks_key, mapping=cast(Any, marks))
                pipe.pexpireat(marks_key, to_ms(window.period_end) + MARKS_TTL_MS)
                pipe.execute()
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc

    @staticmethod
    def _mark(window: QuotaWindow, metric: str, threshold_id: str) -> str:
        period = to_ms(window.mark_period(metric))
        return (
            f"cap:{period}" if threshold_id == "spend_cap" else f"{metric}:{threshold_id}:{period}"
        )

    def forget_window(self, org_id: str) -> None:
        try:
            self.client.delete(self._keys(org_id, Metric.QUERIES)[0])
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable") from exc

    def seed(
        self, org_id: str, metric: Metric, period_start: datetime, period_end: datetime, used: int
    ) -> None:
        counter = self._keys(org_id, metric)[1]
        start = "0" if metric.is_gauge else str(to_ms(period_start))
        end = GAUGE_END_MS if metric.is_gauge else to_ms(period_end)
        # Counters outlive their period by a day for late reads; gauges never expire.
        expire = "" if metric.is_gauge else str(to_ms(period_end) + 86_400_000)
        try:
            self._seed(keys=[counter], args=[start, used, expire, end])
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc

    def record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> RecordOutcome:
        return record_outcome(self._record_usage("apply", org_id, usage, token))

    def undo_record(
        self, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> None:
        self._record_usage("undo", org_id, usage, token)

    def _record_usage(
        self, mode: str, org_id: str, usage: Sequence[tuple[Metric, datetime, int]], token: str
    ) -> list[Any]:
        base = self._keys(org_id, Metric.QUERIES)
        keys = [f"quota:{{{org_id}}}:r:{token}", base[0], base[4]]
        metrics = list(dict.fromkeys(m for m, _, _ in usage))
        if any(m.is_voice for m in metrics):  # the cap needs the period's words of both
            metrics += [m for m in VOICE if m not in metrics]
        index = {metric: n + 1 for n, metric in enumerate(metrics)}
        keys += [self._keys(org_id, m)[1] for m in metrics]
        totals: dict[tuple[int, int], int] = {}
        for metric, at, quantity in usage:
            slot = (index[metric], to_ms(at))  # a batch mostly shares one timestamp
            totals[slot] = totals.get(slot, 0) + quantity
        sign = -1 if mode == "undo" else 1
        args: list[str | int] = [mode, len(metrics)]
        args += [m.value for m in metrics] + ["1" if m.is_voice else "0" for m in metrics]
        args += [part for (k, ms), q in totals.items() for part in (k, ms, sign * q)]
        try:
            return cast(list[Any], self._record(keys=keys, args=args))
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable; retry shortly") from exc

    def pending_ledger(self, limit: int, org_id: str | None = None) -> list[LedgerEntry]:
        try:
            return self.streams.read(limit, org_id)
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable") from exc

    def ack_ledger(
        self, entries: Sequence[LedgerEntry], refunds: Sequence[LedgerEntry] = ()
    ) -> None:
        refunded = {e.entry_id for e in refunds if e.period_start is not None}
        try:
            for org, group in by_stream(entries).items():
                self._ack_stream(org, group, [e for e in group if e.entry_id in refunded])
        except REDIS_ERRORS as exc:
            raise QuotaUnavailable("the quota counter is unavailable") from exc

    def _ack_stream(
        self, org: str | None, entries: list[LedgerEntry], refunds: list[LedgerEntry]
    ) -> None:
        if org is None:
            keys = [LEGACY_STREAM, SINGLE_PENDING]
        else:
            keys = [stream_key(org), self.streams.pending_key(org)]
        args: list[str | int] = [org or "", len(refunds)]
        for e in refunds:
            assert e.period_start is not None
            args += [stream_id(e), to_ms(e.period_start), e.amount]
        ids = {e.entry_id for e in refunds}
        args += [stream_id(e) for e in entries if e.entry_id not in ids]
        keys += [self._keys(e.org_id, e.metric)[1] for e in refunds]
        self._ack(keys=keys, args=args)

    def ledger_backlog(self) -> tuple[int, int | None]:
        """Entries waiting for the flush, and the oldest one's time in epoch ms."""
        return self.streams.backlog()
