"""The outbox's contract on Postgres, on the embedded SQLite and on the fake: a message is
written in the caller's transaction, once per organization and dedupe key."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from domain.model.outbound import INVOICE_PAID, QUOTA_EXHAUSTED, OutboxMessage
from domain.model.webhook_endpoints import WebhookEndpoint
from domain.services.announce import announce
from tests.integration.test_repositories import NOW, add_org
from tests.integration.test_repositories import uow as uow


def test_announce_writes_nothing_without_commit(uow):
    add_org(uow)
    with uow() as u:
        announce(u, org_id="org_a", event_type=INVOICE_PAID, data={"id": "inv_1"}, now=NOW)
    with uow() as u:
        assert u.outbox.since("org_a", NOW - timedelta(days=1), 10) == []


def test_announce_once_per_org_and_dedupe_key(uow):
    add_org(uow)
    add_org(uow, "org_b")
    for _ in range(2):
        with uow() as u:
            announce(
                u,
                org_id="org_a",
                event_type=INVOICE_PAID,
                data={"id": "i"},
                now=NOW,
                dedupe_key="evt_1:invoice.paid",
            )
            announce(
                u,
                org_id="org_b",
                event_type=INVOICE_PAID,
                data={"id": "i"},
                now=NOW,
                dedupe_key="evt_1:invoice.paid",
            )
            # No key: always a new message.
            announce(u, org_id="org_a", event_type=QUOTA_EXHAUSTED, data={}, now=NOW)
            u.commit()
    with uow() as u:
        a = u.outbox.since("org_a", NOW, 10)
        b = u.outbox.since("org_b", NOW, 10)
    assert sorted(m.event_type for m in a) == [INVOICE_PAID, QUOTA_EXHAUSTED, QUOTA_EXHAUSTED]
    assert len(b) == 1
    paid = next(m for m in a if m.event_type == INVOICE_PAID)
    assert paid.payload == {
        "type": INVOICE_PAID,
        "id": paid.id,
        "timestamp": "2026-11-15T12:00:00Z",
        "organization": "org_a",
        "data": {"id": "i"},
    }


def test_fan_out_is_marked_once_and_unsent_lists_the_rest(uow):
    add_org(uow)
    with uow() as u:  # stored without their deliveries, as announce never leaves them
        for minutes in (0, 1, 2):
            at = NOW + timedelta(minutes=minutes)
            u.outbox.add_if_absent(OutboxMessage(f"msg_{minutes}", "org_a", INVOICE_PAID, {}, at))
        u.commit()
    with uow() as u:
        first, second, third = u.outbox.since("org_a", NOW, 10)
        assert u.outbox.mark_fanned_out(first.id, NOW)
        assert not u.outbox.mark_fanned_out(first.id, NOW)
        u.commit()
    with uow() as u:
        assert u.outbox.unsent(NOW + timedelta(minutes=5), 10) == [second.id, third.id]
        assert u.outbox.unsent(NOW + timedelta(minutes=2), 10) == [second.id]
        assert u.outbox.get(first.id).fanned_out_at == NOW
        assert [m.id for m in u.outbox.since("org_a", NOW + timedelta(minutes=1), 10)] == [
            second.id,
            third.id,
        ]


def test_announce_fans_out_in_its_transaction_and_the_commit_hands_over_the_deliveries(uow):
    add_org(uow)
    told: list[list[str]] = []
    uow.after_commit = lambda ids: told.append(list(ids))
    with uow() as u:  # no endpoint: nothing to deliver, nothing handed over
        announce(u, org_id="org_a", event_type=INVOICE_PAID, data={}, now=NOW)
        u.commit()
    with uow() as u:
        for endpoint_id, types in (
            ("we_all", []),
            ("we_paid", [INVOICE_PAID]),
            ("we_q", ["quota.reset"]),
        ):
            u.webhook_endpoints.add(
                WebhookEndpoint(
                    endpoint_id,
                    "org_a",
                    "https://x.example.com",
                    "whsec_" + "A" * 8,
                    NOW,
                    NOW,
                    types,
                )
            )
        u.commit()
    with uow() as u:  # rolled back: nothing handed over
        announce(u, org_id="org_a", event_type=INVOICE_PAID, data={}, now=NOW, dedupe_key="r")
    with uow() as u:
        announce(u, org_id="org_a", event_type=INVOICE_PAID, data={}, now=NOW, dedupe_key="k")
        announce(u, org_id="org_a", event_type=INVOICE_PAID, data={}, now=NOW, dedupe_key="k")
        u.commit()
    with uow() as u:
        keyed = next(m for m in u.outbox.since("org_a", NOW, 10) if m.dedupe_key == "k")
        made = [u.webhook_deliveries.of_message(keyed.id, e) for e in ("we_all", "we_paid", "we_q")]
        assert all(m.dedupe_key != "r" for m in u.outbox.since("org_a", NOW, 10))
    assert keyed.fanned_out_at == NOW
    assert made[2] is None  # not subscribed to the type
    assert len(told) == 1 and sorted(told[0]) == sorted(d.id for d in made[:2])


@pytest.mark.parametrize("threads", [8])
def test_concurrent_announces_of_one_key_store_one_message(uow, threads):
    add_org(uow)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def announce_once() -> None:
        try:
            barrier.wait(timeout=10)
            with uow() as u:
                announce(
                    u,
                    org_id="org_a",
                    event_type=INVOICE_PAID,
                    data={},
                    now=NOW,
                    dedupe_key="evt_race",
                )
                u.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=announce_once) for _ in range(threads)]
    try:
        for worker in workers:
            worker.start()
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert errors == []
    with uow() as u:
        assert len(u.outbox.since("org_a", NOW, 10)) == 1


def test_an_unknown_event_type_is_refused(uow):
    with uow() as u, pytest.raises(ValueError, match="unknown event type"):
        announce(u, org_id="org_a", event_type="invoice.exploded", data={}, now=NOW)
