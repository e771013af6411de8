"""The README's Stripe CLI flow, run with the real Stripe CLI against a loopback stand-in of
Stripe (its CLI session, websocket and the API objects involved) and the service as deployed:
gunicorn and the RQ worker on a fresh Postgres database and Redis."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.job import Job
from sqlalchemy import Engine, text

from adapters.db.engine import make_engine
from domain.services.stripe_events import HANDLERS
from entrypoints import migrate
from tests.integration.conftest import REDIS_URL, create_database, drop_database
from tests.integration.stripe_cli_standin import StripeCliStandIn
from tests.integration.stripe_cli_support import (
    API_KEY,
    Processes,
    cli_env,
    free_port,
    localized,
    readme_stripe,
    require_cli,
    service_env,
    wait_until_up,
)

ORG = "org_cli_demo"
SETTLED = ("processed", "ignored", "parked", "dead")


@dataclass
class Stack:
    stripe: StripeCliStandIn
    service_url: str
    engine: Engine
    processes: Processes
    env: dict[str, str]
    answers: dict[str, str]  # what each CLI command answered, for the failure report

    def inbox(self, *event_ids: str) -> dict[str, tuple[str, str | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, status, last_error FROM webhook_events WHERE id = ANY(:ids)"),
                {"ids": list(event_ids)},
            ).all()
        return {row.id: (row.status, row.last_error) for row in rows}

    def jobs_naming(self, event_id: str) -> list[str]:
        """Every RQ job in the test's Redis database (queued, running or finished: RQ keeps
        finished ones for minutes) whose arguments name the event."""
        connection = redis.Redis.from_url(REDIS_URL)
        try:
            ids = [
                key.decode().split(":")[2]
                for key in connection.scan_iter("rq:job:*")
                if key.count(b":") == 2
            ]
            return [
                job.id
                for job in Job.fetch_many(ids, connection=connection)
                if job is not None and event_id in job.args
            ]
        finally:
            connection.close()

    def settled(self, *event_ids: str, timeout_s: float = 60) -> dict[str, tuple[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.inbox(*event_ids)
            if len(found) == len(event_ids) and all(s in SETTLED for s, _ in found.values()):
                return found
            self.processes.check_running("worker")
            time.sleep(0.2)
        pytest.fail(
            f"not settled in {timeout_s} s: {self.inbox(*event_ids)}\n"
            f"{self.processes.log('worker')}",
            pytrace=False,
        )


def test_readme_forwards_exactly_the_handled_events_with_the_cli_secret():
    listens = [argv for argv in readme_stripe("listen") if "--print-secret" not in argv]
    assert len(listens) == 1, "the README's block should run one `stripe listen` that forwards"
    events = listens[0][listens[0].index("--events") + 1].split(",")
    assert sorted(events) == sorted(set(events)) == sorted(HANDLERS)
    assert [["stripe", "listen", "--print-secret"]] == [
        argv for argv in readme_stripe("listen") if "--print-secret" in argv
    ]
    assert readme_stripe("trigger"), "the README's block shows no `stripe trigger`"


def run(
    answers: dict[str, str], argv: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    answers[shlex.join(argv)] = f"exit {done.returncode}: {done.stdout}{done.stderr}".strip()
    return done


def connect_or_fail(stripe: StripeCliStandIn, processes: Processes, timeout_s: float = 30) -> None:
    """Wait for the CLI's websocket; a CLI that refuses its command line fails with its words."""
    deadline = time.monotonic() + timeout_s
    while True:
        processes.check_running("listen")
        try:
            stripe.wait_connected(timeout_s=0.5)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_client: redis.Redis) -> Iterator[Stack]:
    cli = require_cli()
    root = tmp_path_factory.mktemp("stripe_cli")
    processes = Processes(root)
    stripe = StripeCliStandIn(API_KEY, free_port(), free_port())
    database_url = create_database("billing_cli")
    engine = make_engine(database_url)
    env = cli_env(root / "home", f"http://127.0.0.1:{stripe.port}")
    answers: dict[str, str] = {}
    try:
        run(answers, [str(cli), "--version"], env)
        stripe.start()
        migrate.upgrade(database_url)
        redis_client.flushdb()
        (print_secret,) = [a for a in readme_stripe("listen") if "--print-secret" in a]
        secret = run(answers, localized(print_secret, stripe.api_base), env).stdout.strip()
        assert secret == stripe.secret
        port = free_port()
        service = service_env(database_url, REDIS_URL, stripe.api_base, secret, root)
        venv = Path(sys.executable).parent
        processes.start(
            "gunicorn",
            [str(venv / "gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            service,
        )
        processes.start("worker", [sys.executable, "-m", "entrypoints.worker"], service)
        service_url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{service_url}/healthz", processes, "gunicorn")
        (listen,) = [a for a in readme_stripe("listen") if "--print-secret" not in a]
        listening = localized(listen, stripe.api_base, service_url)
        processes.start("listen", listening, env)
        connect_or_fail(stripe, processes)
        yield Stack(stripe, service_url, engine, processes, env, answers)
        answers[shlex.join(listening)] = processes.log("listen")
    finally:
        processes.stop_all()
        print(*(f"$ {command}\n{answer}" for command, answer in answers.items()), sep="\n")
        stripe.stop()
        engine.dispose()
        drop_database(database_url)


def test_every_handled_event_through_the_cli_is_answered_200_and_processed(stack: Stack):
    stripe = stack.stripe
    assert stripe.sessions[-1]["forward_to_url"] == [f"{stack.service_url}/api/v1/billing/webhook"]
    customer = stripe.put("cus", metadata={"org_id": ORG})
    price = stripe.put("price", currency="usd", unit_amount=9900, lookup_key=None)
    live = stripe.subscription(customer["id"], price["id"], {"org_id": ORG, "plan_tier": "pro"})
    ended = stripe.subscription(customer["id"], price["id"], {"org_id": ORG}, status="canceled")
    session = stripe.put(
        "cs",
        mode="subscription",
        status="complete",
        payment_status="paid",
        customer=customer["id"],
        subscription=live["id"],
        client_reference_id=ORG,
        metadata={"org_id": ORG},
    )
    invoice = stripe.put(
        "in",
        customer=customer["id"],
        status="paid",
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": live["id"]},
        },
    )
    objects = {
        "checkout.session.completed": session,
        "checkout.session.expired": session,
        "customer.subscription.created": live,
        "customer.subscription.updated": live,
        "customer.subscription.deleted": ended,
        "invoice.paid": invoice,
        "invoice.payment_succeeded": invoice,
        "invoice.payment_failed": invoice,
        "invoice.voided": invoice,
        "invoice.marked_uncollectible": invoice,
        "invoice.updated": invoice,
    }
    assert sorted(objects) == sorted(HANDLERS)
    events = [stripe.event(type_, obj) for type_, obj in objects.items()]
    for event in events:
        answer = stripe.deliver(event)
        assert (event["type"], answer["status"]) == (event["type"], 200), answer["body"]
        assert json.loads(answer["body"])["event_id"] == event["id"]
        assert answer["request_headers"]["Stripe-Signature"].startswith("t=")
    settled = stack.settled(*(e["id"] for e in events))
    assert {e["type"]: settled[e["id"]][0] for e in events} == dict.fromkeys(HANDLERS, "processed")
    with stack.engine.connect() as conn:
        subs = dict(
            conn.execute(
                text(
                    "SELECT stripe_subscription_id, status FROM subscriptions WHERE org_id = :org"
                ),
                {"org": ORG},
            ).all()
        )
    assert subs == {live["id"]: "active", ended["id"]: "canceled"}
    assert all(stack.jobs_naming(e["id"]) for e in events)


def test_events_outside_the_readme_list_are_not_forwarded(stack: Stack):
    event = stack.stripe.event("customer.created", stack.stripe.put("cus"))
    conversation = stack.stripe.push(event)
    assert stack.stripe.acked(event["id"])
    time.sleep(1)  # a forward would have answered by now
    assert conversation not in stack.stripe.responses
    assert stack.inbox(event["id"]) == {}


def test_event_signed_with_another_secret_is_refused_and_stored_nowhere(stack: Stack):
    sub = stack.stripe.subscription(
        stack.stripe.put("cus")["id"],
        stack.stripe.put("price", currency="usd")["id"],
        {"org_id": ORG},
    )
    event = stack.stripe.event("customer.subscription.updated", sub)
    answer = stack.stripe.deliver(event, secret="whsec_" + "someone_else_0123456789abcdef")
    assert answer["status"] == 400 and "webhook_signature_invalid" in answer["body"]
    time.sleep(0.5)
    assert stack.inbox(event["id"]) == {}
    assert stack.jobs_naming(event["id"]) == []
    stack.processes.check_running("listen")


def test_readme_trigger_api_calls_are_answered_and_its_event_processed(stack: Stack):
    stripe = stack.stripe
    for argv in readme_stripe("trigger"):
        before = len(stripe.api_calls)
        pushed = set(stripe.pushed)
        done = run(stack.answers, localized(argv, stripe.api_base), stack.env)
        assert done.returncode == 0, done.stdout + done.stderr
        calls = [c for c in stripe.api_calls[before:] if c[0] == "cli"]
        assert calls == [
            ("cli", "POST", path, 200)
            for path in ("/v1/customers", "/v1/products", "/v1/prices", "/v1/subscriptions")
        ]
        new = {e: stripe.pushed[e] for e in stripe.pushed if e not in pushed}
        assert sorted(t for t, _ in new.values()) == sorted(
            [
                "customer.created",
                "product.created",
                "price.created",
                "customer.subscription.created",
            ]
        )
        (created,) = [e for e, (t, _) in new.items() if t == "customer.subscription.created"]
        assert stripe.response(new[created][1])["status"] == 200
        settled = stack.settled(created)
        assert settled[created][0] == "processed", settled
        assert set(stack.inbox(*new)) == {created}  # the others are not in the README's list
        org = dict(a.split("=", 1) for a in argv if a.startswith("subscription:metadata."))
        with stack.engine.connect() as conn:
            subs = conn.execute(
                text("SELECT org_id, status, tier FROM subscriptions WHERE org_id = :org"),
                {"org": org["subscription:metadata.org_id"]},
            ).all()
        assert [tuple(s) for s in subs] == [
            (
                org["subscription:metadata.org_id"],
                "active",
                org.get("subscription:metadata.plan_tier"),
            )
        ]
