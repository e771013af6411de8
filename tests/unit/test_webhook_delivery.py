"""Delivery with the in-memory ports: fan-out once, the lease, the retry schedule, disabling
and replay, signing secrets and the address check at every attempt."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from domain.model.organizations import Organization
from domain.model.outbound import INVOICE_PAID, QUOTA_EXHAUSTED, OutboxMessage
from domain.model.webhook_endpoints import MAX_ATTEMPTS, RETRY_SCHEDULE, DeliveryStatus
from domain.services import webhook_delivery as delivery
from domain.services.announce import announce
from domain.services.webhook_endpoints import create_endpoint, replay, rotate_secret
from tests.unit.fakes import (
    FakeClock,
    FakeJobQueue,
    FakeResolver,
    FakeUnitOfWorkFactory,
    FakeWebhookSender,
)

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def deps():
    uow = FakeUnitOfWorkFactory()
    jobs = FakeJobQueue()
    uow.after_commit = lambda ids: delivery.enqueue_deliveries(jobs, ids)
    uow.store.organizations["org_a"] = Organization.new("org_a", NOW)
    return delivery.OutboundDeps(
        uow=uow,
        clock=FakeClock(NOW),
        jobs=jobs,
        sender=FakeWebhookSender(),
        resolver=FakeResolver(),
        lease=timedelta(seconds=60),
    )


def say(deps, event_type=INVOICE_PAID, key=None, **data):
    """Announce and commit, as a producer does; answer the new message's id."""
    before = set(deps.uow.store.outbox)
    with deps.uow() as uow:
        now = deps.clock.now()
        announce(uow, org_id="org_a", event_type=event_type, data=data, now=now, dedupe_key=key)
        uow.commit()
    (new,) = set(deps.uow.store.outbox) - before
    return new


def run_jobs(deps) -> list[str]:
    """Run what is enqueued, as a worker would, until nothing is left."""
    outcomes = []
    while deps.jobs.enqueued:
        job, args, _ = deps.jobs.enqueued.pop(0)
        if job == delivery.FAN_OUT_JOB:
            delivery.fan_out(deps, *args)
        else:
            outcomes.append(delivery.deliver(deps, *args))
    return outcomes


def deliveries(deps):
    return sorted(deps.uow.store.webhook_deliveries.values(), key=lambda d: d.created_at)


def test_fan_out_makes_one_delivery_per_subscribed_enabled_endpoint_once(deps):
    every = create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    paid_only = create_endpoint(deps, "org_a", "user:u", "https://b.example.com/h", [INVOICE_PAID])
    create_endpoint(deps, "org_a", "user:u", "https://c.example.com/h", [QUOTA_EXHAUSTED])
    message_id = say(deps, amount=1)  # fanned out in the announcing transaction
    assert delivery.fan_out(deps, message_id) == []  # a fan-out job finds it done
    assert {d.endpoint_id for d in deliveries(deps)} == {every.id, paid_only.id}
    assert run_jobs(deps) == ["delivered", "delivered"]
    sent = deps.sender.sent
    assert {s.url for s in sent} == {"https://a.example.com/h", "https://b.example.com/h"}
    body = json.loads(sent[0].body)
    assert body["id"] == message_id == sent[0].message_id
    assert body["type"] == INVOICE_PAID and body["organization"] == "org_a"
    assert body["data"] == {"amount": 1} and body["timestamp"] == "2026-11-15T12:00:00Z"


def test_an_attempt_is_claimed_once(deps):
    create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    say(deps)
    (only,) = deliveries(deps)
    token_now = deps.clock.now()
    claimed = deps.uow().webhook_deliveries.claim(
        only.id, "other", token_now, token_now + timedelta(60)
    )
    assert claimed is not None and claimed.attempts == 1
    assert delivery.deliver(deps, only.id) == "skipped"  # another holder's lease runs
    assert deps.sender.sent == []


def test_a_stopped_workers_attempt_is_taken_again_after_its_lease(deps):
    create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    say(deps)
    deps.jobs.enqueued.clear()
    (only,) = deliveries(deps)
    now = deps.clock.now()
    with deps.uow() as uow:  # a worker claimed it and stopped before the call ended
        uow.webhook_deliveries.claim(only.id, "lost", now, now + deps.lease)
        uow.commit()
    assert delivery.sweep(deps) == {"messages": 0, "deliveries": 0}
    deps.clock.advance(seconds=60)
    assert delivery.sweep(deps) == {"messages": 0, "deliveries": 1}
    assert run_jobs(deps) == ["delivered"]
    (done,) = deliveries(deps)
    assert done.status is DeliveryStatus.DELIVERED and done.attempts == 2
    assert len(deps.sender.sent) == 1


def test_failures_follow_the_schedule_then_disable_the_endpoint_with_an_audit_entry(deps):
    endpoint = create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    deps.sender.statuses = [500] * MAX_ATTEMPTS
    started = deps.clock.now()
    say(deps)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        outcome = run_jobs(deps)
        (d,) = deliveries(deps)
        assert d.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert outcome == ["retrying"] and d.status is DeliveryStatus.PENDING
            waits.append(d.next_attempt_at - deps.clock.now())
            deps.clock.set(d.next_attempt_at - timedelta(seconds=1))
            assert delivery.sweep(deps)["deliveries"] == 0  # not due yet
            deps.clock.advance(seconds=1)
            assert delivery.sweep(deps)["deliveries"] == 1
    assert outcome == ["failed"]
    assert tuple(waits) == RETRY_SCHEDULE
    window = deps.clock.now() - started
    assert window == timedelta(hours=67, minutes=35, seconds=5)
    assert d.status is DeliveryStatus.FAILED and d.last_status_code == 500
    stored = deps.uow.store.webhook_endpoints[endpoint.id]
    assert not stored.enabled and "failed" in stored.disabled_reason
    audit = [e for e in deps.uow.store.audit if e.action == delivery.DISABLED_ACTION]
    assert len(audit) == 1 and audit[0].details["endpoint_id"] == endpoint.id
    attempts = deps.uow.store.webhook_attempts
    assert [a.number for a in attempts] == list(range(1, MAX_ATTEMPTS + 1))
    assert all(a.status_code == 500 and a.error == "HTTP 500" for a in attempts)
    # Disabled: a new message makes no delivery for it.
    say(deps)
    assert len(deliveries(deps)) == 1


def test_replay_enables_and_sends_what_the_endpoint_missed_once(deps):
    endpoint = create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    deps.sender.statuses = [500] * MAX_ATTEMPTS
    say(deps, n=1)
    while deliveries(deps)[0].status is DeliveryStatus.PENDING:
        run_jobs(deps)
        deps.clock.set(deliveries(deps)[0].next_attempt_at or deps.clock.now())
        delivery.sweep(deps)
    deps.jobs.enqueued.clear()
    say(deps, n=2)  # sent while disabled: no delivery made
    assert not deps.uow.store.webhook_endpoints[endpoint.id].enabled
    deps.sender.sent.clear()
    shown, count = replay(deps, "org_a", "user:u", endpoint.id, NOW - timedelta(days=1))
    assert shown.enabled and count == 2
    assert run_jobs(deps) == ["delivered", "delivered"]
    assert sorted(json.loads(s.body)["data"]["n"] for s in deps.sender.sent) == [1, 2]
    _, count = replay(deps, "org_a", "user:u", endpoint.id, NOW - timedelta(days=1))
    assert count == 0  # delivered messages are not sent again
    actions = [e.action for e in deps.uow.store.audit]
    assert "webhook_endpoint.enabled" in actions and "webhook_endpoint.replayed" in actions


def test_a_rotated_secret_signs_beside_the_new_one_for_24_hours(deps):
    endpoint = create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    rotated = rotate_secret(deps, "org_a", "user:u", endpoint.id)
    say(deps)
    run_jobs(deps)
    assert deps.sender.sent[-1].secrets == [rotated.secret, endpoint.secret]
    deps.clock.advance(hours=24)
    say(deps)
    run_jobs(deps)
    assert deps.sender.sent[-1].secrets == [rotated.secret]


def test_a_host_re_pointed_to_a_private_address_is_not_called(deps):
    create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    deps.resolver.hosts["a.example.com"] = ["127.0.0.1"]  # DNS rebinding after registration
    say(deps)
    assert run_jobs(deps) == ["retrying"]
    (d,) = deliveries(deps)
    assert "private, loopback" in d.last_error and d.last_status_code is None
    assert deps.sender.sent == []


def test_a_refused_connection_is_a_failed_attempt(deps):
    create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    deps.sender.statuses = [None, 204]
    say(deps)
    assert run_jobs(deps) == ["retrying"]
    deps.clock.advance(seconds=5)
    delivery.sweep(deps)
    assert run_jobs(deps) == ["delivered"]
    first, second = deps.uow.store.webhook_attempts
    assert first.status_code is None and "refused" in first.error
    assert second.status_code == 204 and second.error is None


def test_the_sweep_sends_what_a_lost_dispatch_left(deps, monkeypatch):
    create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")

    def redis_down(job, *args, job_id=None):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(deps.jobs, "enqueue", redis_down)
    say(deps)  # committed: its delivery stored, though not enqueued
    monkeypatch.undo()
    assert deps.jobs.enqueued == []
    assert delivery.sweep(deps) == {"messages": 0, "deliveries": 1}
    assert run_jobs(deps) == ["delivered"]


def test_a_message_stored_without_its_deliveries_is_fanned_out_by_the_sweep_once(deps):
    create_endpoint(deps, "org_a", "user:u", "https://a.example.com/h")
    message = OutboxMessage(
        "msg_raw", "org_a", INVOICE_PAID, {"type": INVOICE_PAID}, deps.clock.now()
    )
    with deps.uow() as uow:
        uow.outbox.add_if_absent(message)
        uow.commit()
    assert delivery.sweep(deps)["messages"] == 0  # too fresh: its own fan-out may still come
    deps.clock.advance(seconds=31)
    assert delivery.sweep(deps)["messages"] == 1
    assert run_jobs(deps) == ["delivered"]
    assert delivery.fan_out(deps, "msg_raw") == []  # a second fan-out job makes nothing
    assert delivery.sweep(deps) == {"messages": 0, "deliveries": 0}
