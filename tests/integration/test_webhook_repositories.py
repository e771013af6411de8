"""Endpoints and deliveries: one contract on Postgres, the embedded SQLite and the fake; a
delivery is created once per message and endpoint and each attempt is claimed once, even by
threads racing for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from domain.model.outbound import INVOICE_PAID, OutboxMessage
from domain.model.webhook_endpoints import DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from domain.services.webhook_delivery import new_delivery
from tests.integration.test_repositories import NOW, add_org
from tests.integration.test_repositories import uow as uow


def endpoint(endpoint_id: str, org_id: str = "org_a", **fields) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=endpoint_id,
        org_id=org_id,
        url=f"https://{endpoint_id}.example.com/h",
        secret="whsec_" + "A" * 8,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )


def seeded(uow):
    add_org(uow)
    add_org(uow, "org_b")
    with uow() as u:
        u.webhook_endpoints.add(endpoint("we_1", event_types=[INVOICE_PAID]))
        u.webhook_endpoints.add(endpoint("we_2"))
        u.webhook_endpoints.add(endpoint("we_b", "org_b"))
        # Stored without its deliveries (announce would fan it out at once): the tests do.
        u.outbox.add_if_absent(OutboxMessage("msg_1", "org_a", INVOICE_PAID, {}, NOW))
        u.commit()
    with uow() as u:
        return u.outbox.get("msg_1")


def race(threads: int, work: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(threads)
    results: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(work())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    try:
        for worker in workers:
            worker.start()
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert errors == []
    return results


def test_endpoints_round_trip_per_tenant(uow):
    seeded(uow)
    with uow() as u:
        assert [e.id for e in u.webhook_endpoints.for_org("org_a")] == ["we_1", "we_2"]
        assert u.webhook_endpoints.get("org_b", "we_1") is None
        found = u.webhook_endpoints.get("org_a", "we_1")
        assert found.event_types == [INVOICE_PAID] and found.enabled
        found.rotate("whsec_" + "B" * 8, NOW)
        found.disable(NOW, "every attempt failed")
        u.webhook_endpoints.save(found)
        u.commit()
    with uow() as u:
        again = u.webhook_endpoints.by_id("we_1")
    assert again.secret == "whsec_" + "B" * 8 and again.previous_secret == "whsec_" + "A" * 8
    assert again.previous_secret_until == NOW + timedelta(hours=24)
    assert not again.enabled and again.disabled_reason == "every attempt failed"


def test_a_delivery_per_message_and_endpoint_and_delete_takes_its_deliveries(uow):
    message = seeded(uow)
    with uow() as u:
        e1, e2 = u.webhook_endpoints.for_org("org_a")
        stored = u.webhook_deliveries.add_if_absent(
            [new_delivery(message, e1, NOW), new_delivery(message, e2, NOW)]
        )
        assert len(stored) == 2
        assert u.webhook_deliveries.add_if_absent([new_delivery(message, e1, NOW)]) == []
        u.webhook_deliveries.start_attempt(DeliveryAttempt(stored[0], 1, NOW))
        u.webhook_deliveries.finish_attempt(DeliveryAttempt(stored[0], 1, NOW, 500, "HTTP 500", 12))
        u.commit()
    with uow() as u:
        assert [a.status_code for a in u.webhook_deliveries.attempts(stored)] == [500]
        assert [d.id for d in u.webhook_deliveries.for_endpoint("org_a", "we_1", 10)] == [stored[0]]
        assert u.webhook_deliveries.for_endpoint("org_b", "we_1", 10) == []
        assert not u.webhook_endpoints.delete("org_b", "we_1")
        assert u.webhook_endpoints.delete("org_a", "we_1")
        u.commit()
    with uow() as u:
        assert u.webhook_deliveries.get(stored[0]) is None
        assert u.webhook_deliveries.attempts(stored) == []
        assert u.webhook_deliveries.get(stored[1]) is not None


def test_claims_leases_due_and_failing_the_pending(uow):
    message = seeded(uow)
    with uow() as u:
        e1 = u.webhook_endpoints.by_id("we_1")
        (delivery_id,) = u.webhook_deliveries.add_if_absent([new_delivery(message, e1, NOW)])
        u.commit()
    with uow() as u:
        assert u.webhook_deliveries.due(NOW, 10) == [delivery_id]
        claimed = u.webhook_deliveries.claim(delivery_id, "t1", NOW, NOW + timedelta(seconds=60))
        assert claimed.attempts == 1 and claimed.lease_token == "t1"
        u.commit()
    with uow() as u:
        later = NOW + timedelta(seconds=59)
        assert u.webhook_deliveries.claim(delivery_id, "t2", later, later) is None
        assert u.webhook_deliveries.due(later, 10) == []
        expired = NOW + timedelta(seconds=60)
        assert u.webhook_deliveries.due(expired, 10) == [delivery_id]
        assert u.webhook_deliveries.fail_pending("we_1", expired, "disabled") == 1
        u.commit()
    with uow() as u:
        failed = u.webhook_deliveries.get(delivery_id)
    assert failed.status is DeliveryStatus.FAILED and failed.last_error == "disabled"
    assert failed.lease_token is None and failed.attempts == 1


def test_racing_fan_outs_make_one_set_of_deliveries(uow):
    message = seeded(uow)

    def fan_out() -> int:
        with uow() as u:
            if not u.outbox.mark_fanned_out(message.id, NOW):
                return 0
            made = [new_delivery(message, e, NOW) for e in u.webhook_endpoints.for_org("org_a")]
            count = len(u.webhook_deliveries.add_if_absent(made))
            u.commit()
            return count

    assert sorted(race(6, fan_out)) == [0, 0, 0, 0, 0, 2]
    with uow() as u:
        assert len(u.webhook_deliveries.for_endpoint("org_a", "we_1", 10)) == 1
        assert len(u.webhook_deliveries.for_endpoint("org_a", "we_2", 10)) == 1


def test_racing_claims_take_an_attempt_once(uow):
    message = seeded(uow)
    with uow() as u:
        e1 = u.webhook_endpoints.by_id("we_1")
        (delivery_id,) = u.webhook_deliveries.add_if_absent([new_delivery(message, e1, NOW)])
        u.commit()

    def claim(token: list[int] = [0]) -> bool:
        token[0] += 1
        with uow() as u:
            got = u.webhook_deliveries.claim(
                delivery_id, f"t{token[0]}", NOW, NOW + timedelta(seconds=60)
            )
            u.commit()
            return got is not None

    assert sorted(race(8, claim)) == [False] * 7 + [True]
    with uow() as u:
        assert u.webhook_deliveries.get(delivery_id).attempts == 1
