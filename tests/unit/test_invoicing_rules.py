"""Usage invoices at the rules' edges, on the fakes without the HTTP layer: the invoice model's
state changes, the minimum and maximum charge, what Stripe is sent, and resuming or leaving a
draft that another run holds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import CustomerRequired, PaymentProviderUnavailable, PaymentsNotConfigured
from domain.model.customers import StripeCustomer
from domain.model.invoicing import (
    InvoiceLine,
    InvoiceStatus,
    UsageInvoice,
    UsagePrice,
    price_totals,
    totals_of,
)
from domain.model.metering import UsageEvent
from domain.model.money import Money
from domain.model.plans import Metric
from domain.services.invoicing import (
    InvoicingDeps,
    Outcome,
    assign_unbilled_usage,
    invoice_unbilled_usage,
    preview_usage_invoice,
    push_to_stripe,
)
from domain.services.monthly_invoicing import MonthNotClosed, month_cutoff, run_invoicing
from tests.stripe_fake import FakeStripe
from tests.unit.fakes import FakeClock, FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
CUTOFF = NOW + timedelta(minutes=1)
T1, T2 = datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 9, tzinfo=UTC)


def line(metric=Metric.STT_WORDS, amount=100, start=T1, end=T2, quantity=1_000):
    return InvoiceLine(metric, quantity, Money(amount, "usd"), 1, start, end)


def test_a_line_describes_its_words_and_days():
    assert (
        line(quantity=1_500).description == "1,500 speech-to-text words (2026-11-02 to 2026-11-09)"
    )
    assert (
        line(Metric.TTS_WORDS, quantity=2).description
        == "2 text-to-speech words (2026-11-02 to 2026-11-09)"
    )


def test_lines_come_in_the_catalogs_order_and_only_for_billed_usage():
    events = [
        UsageEvent("org_a", Metric.TTS_WORDS, 700, T2, "t", NOW),
        UsageEvent("org_a", Metric.STT_WORDS, 300, T2, "s1", NOW),
        UsageEvent("org_a", Metric.STT_WORDS, 200, T1, "s2", NOW),
    ]
    lines = price_totals(totals_of(events), UsagePrice(Decimal("1.00")))
    assert [
        (x.metric, x.quantity, x.amount, x.event_count, x.period_start, x.period_end) for x in lines
    ] == [
        (Metric.STT_WORDS, 500, Money(50, "usd"), 2, T1, T2),
        (Metric.TTS_WORDS, 700, Money(70, "usd"), 1, T2, T2),
    ]
    assert price_totals(totals_of(events[:1]), UsagePrice(Decimal("1.00"))) == [
        InvoiceLine(Metric.TTS_WORDS, 700, Money(70, "usd"), 1, T2, T2)
    ]


def test_a_draft_is_empty_and_billing_it_totals_its_lines():
    draft = UsageInvoice.draft("uinv_1", "org_a", CUTOFF, NOW, "eur")
    assert (
        draft.status,
        draft.period_start,
        draft.period_end,
        draft.total,
        draft.created_at,
        draft.updated_at,
    ) == (InvoiceStatus.DRAFT, CUTOFF, CUTOFF, Money(0, "eur"), NOW, NOW)
    assert not draft.finalized
    draft.bill([])
    assert (draft.total, draft.period_start) == (Money(0, "eur"), CUTOFF)
    usd = UsageInvoice.draft("uinv_2", "org_a", CUTOFF, NOW, "usd")
    usd.bill([line(amount=120, start=T2), line(Metric.TTS_WORDS, amount=5, start=T1)])
    assert (usd.total, usd.period_start, usd.period_end) == (Money(125, "usd"), T1, CUTOFF)
    assert len(usd.lines) == 2


def test_holding_an_invoice_records_why_and_when():
    draft = UsageInvoice.draft("uinv_1", "org_a", CUTOFF, NOW, "usd")
    later = NOW + timedelta(hours=1)
    draft.hold("amount_too_large", later)
    assert (draft.status, draft.hold_reason, draft.updated_at) == (
        InvoiceStatus.HELD,
        "amount_too_large",
        later,
    )
    assert draft.finalized


def test_linking_stripe_keeps_a_known_hosted_url():
    draft = UsageInvoice.draft("uinv_1", "org_a", CUTOFF, NOW, "usd")
    draft.link_stripe("in_1", "https://invoice.example/1", NOW + timedelta(seconds=1))
    draft.link_stripe("in_1", None, NOW + timedelta(seconds=2))
    assert (draft.stripe_invoice_id, draft.hosted_invoice_url, draft.updated_at) == (
        "in_1",
        "https://invoice.example/1",
        NOW + timedelta(seconds=2),
    )


def test_a_status_change_tracks_since_when_the_invoice_is_past_due():
    invoice = UsageInvoice.draft("uinv_1", "org_a", CUTOFF, NOW, "usd")
    t = [NOW + timedelta(days=d) for d in range(5)]
    assert invoice.set_status(InvoiceStatus.OPEN, t[1]) is True
    assert (invoice.past_due_since, invoice.updated_at) == (None, t[1])
    assert invoice.set_status(InvoiceStatus.OPEN, t[2]) is False
    assert invoice.updated_at == t[1]
    assert invoice.set_status(InvoiceStatus.PAST_DUE, t[2]) is True
    assert invoice.set_status(InvoiceStatus.PAST_DUE, t[3]) is False
    assert (invoice.past_due_since, invoice.updated_at) == (t[2], t[2])
    assert invoice.set_status(InvoiceStatus.PAID, t[4]) is True
    assert (invoice.status, invoice.past_due_since, invoice.updated_at) == (
        InvoiceStatus.PAID,
        None,
        t[4],
    )


def test_an_invoice_is_overdue_once_past_due_for_the_whole_grace_period():
    grace = timedelta(days=3)
    invoice = UsageInvoice.draft("uinv_1", "org_a", CUTOFF, NOW, "usd")
    assert not invoice.overdue(NOW + timedelta(days=30), grace)
    invoice.set_status(InvoiceStatus.PAST_DUE, NOW)
    assert not invoice.overdue(NOW + grace - timedelta(seconds=1), grace)
    assert invoice.overdue(NOW + grace, grace)
    assert not invoice.overdue(NOW + timedelta(days=1), grace)


class Stripe(FakeStripe):
    """Fake Stripe with hooks: a finalization can run something first, or come back paid (as
    when the customer's credit balance covers the invoice)."""

    def __init__(self) -> None:
        super().__init__(lambda: NOW)
        self.before_finalize = None
        self.pays_on_finalize = False

    def finalize_invoice(self, invoice_id, *, idempotency_key):
        if self.before_finalize is not None:
            hook, self.before_finalize = self.before_finalize, None
            hook()
        if self.pays_on_finalize:
            self.invoices[invoice_id]["status"] = "paid"
        return super().finalize_invoice(invoice_id, idempotency_key=idempotency_key)


@pytest.fixture
def deps() -> InvoicingDeps:
    return InvoicingDeps(
        FakeUnitOfWorkFactory(), FakeClock(NOW), Stripe(), UsagePrice(Decimal("1.00"))
    )


def add_customer(deps, org="org_a") -> str:
    cid = deps.gateway.create_customer(org, None, None, idempotency_key=f"customer:{org}")
    with deps.uow() as uow:
        uow.customers.add_if_absent(StripeCustomer(org, cid, None, None, NOW))
        uow.commit()
    return cid


def use(deps, org="org_a", metric=Metric.STT_WORDS, words=1_000, key=None, at=NOW):
    with deps.uow() as uow:
        uow.usage_events.add_if_absent(
            [UsageEvent(org, metric, words, at, key or f"{org}-{metric}-{words}-{at}", NOW)]
        )
        uow.commit()


def stored(deps, invoice_id) -> UsageInvoice:
    return deps.uow.store.usage_invoices[invoice_id]


@pytest.mark.parametrize(
    ("words", "outcome"),
    [
        (490, Outcome.BELOW_MINIMUM),
        (500, Outcome.INVOICED),
        (999_999_990, Outcome.INVOICED),
        (1_000_000_000, Outcome.HELD),
    ],
)
def test_the_minimum_and_maximum_charge_are_inclusive(deps, words, outcome):
    add_customer(deps)
    use(deps, words=words)
    use(deps, org="org_b", words=10**12)
    preview = preview_usage_invoice(deps, "org_a", CUTOFF)
    assert preview.outcome is outcome and preview.invoice is None
    assert [x.quantity for x in preview.lines] == [words]


def test_a_preview_without_a_customer_or_usage(deps):
    use(deps, org="org_b")
    assert preview_usage_invoice(deps, "org_a", CUTOFF).outcome is Outcome.NOTHING_TO_BILL
    use(deps)
    assert preview_usage_invoice(deps, "org_a", CUTOFF).outcome is Outcome.NO_CUSTOMER


def test_an_invoice_is_one_stripe_invoice_for_the_organizations_customer(deps):
    deps = InvoicingDeps(deps.uow, deps.clock, deps.gateway, UsagePrice(Decimal("2.00"), "eur"))
    cid = add_customer(deps)
    use(deps, words=1_500)
    use(deps, metric=Metric.TTS_WORDS, words=250)
    use(deps, org="org_b", words=9_000)
    opened = len(deps.uow.opened)
    result = invoice_unbilled_usage(deps, "org_a", CUTOFF)
    invoice = result.invoice
    assert result.outcome is Outcome.INVOICED and result.customer_id == cid
    assert result.lines == tuple(invoice.lines) and len(result.lines) == 2
    assert re.fullmatch(r"uinv_[0-9a-f]{32}", invoice.id)
    assert re.fullmatch(r"claim_[0-9a-f]{32}", result.token)
    assert ["invoicing:org_a"] in [uow.locked for uow in deps.uow.opened[opened:]]
    (sent,) = deps.gateway.invoices.values()
    assert (sent["customer"], sent["currency"], sent["metadata"]) == (
        cid,
        "eur",
        {"usage_invoice_id": invoice.id, "org_id": "org_a"},
    )
    assert [
        (i["amount"], i["currency"], i["description"], i["metadata"]) for i in sent["lines"]["data"]
    ] == [
        (
            300,
            "eur",
            "1,500 speech-to-text words (2026-11-15 to 2026-11-15)",
            {"usage_invoice_id": invoice.id, "org_id": "org_a", "metric": "stt_words"},
        ),
        (
            50,
            "eur",
            "250 text-to-speech words (2026-11-15 to 2026-11-15)",
            {"usage_invoice_id": invoice.id, "org_id": "org_a", "metric": "tts_words"},
        ),
    ]
    kept = stored(deps, invoice.id)
    assert (kept.status, kept.stripe_invoice_id, kept.hosted_invoice_url, kept.updated_at) == (
        InvoiceStatus.OPEN,
        sent["id"],
        sent["hosted_invoice_url"],
        NOW,
    )
    assert (kept.period_start, kept.period_end, kept.created_at) == (NOW, CUTOFF, NOW)
    assert {e.org_id: e.invoice_id for e in deps.uow.store.usage_events} == {
        "org_a": invoice.id,
        "org_b": None,
    }
    assert [x.stripe_invoice_item_id for x in kept.lines] == [
        i["id"] for i in sent["lines"]["data"]
    ]


def test_an_invoice_paid_at_finalization_is_paid(deps):
    add_customer(deps)
    use(deps)
    deps.gateway.pays_on_finalize = True
    result = invoice_unbilled_usage(deps, "org_a", CUTOFF)
    assert stored(deps, result.invoice.id).status is InvoiceStatus.PAID


def test_each_stripe_step_is_kept_as_soon_as_stripe_has_it(deps):
    add_customer(deps)
    use(deps)
    deps.gateway.fail_on("invoices.finalize", PaymentProviderUnavailable("down"))
    with pytest.raises(PaymentProviderUnavailable):
        invoice_unbilled_usage(deps, "org_a", CUTOFF)
    (draft,) = deps.uow.store.usage_invoices.values()
    (sent,) = deps.gateway.invoices.values()
    assert (draft.status, draft.stripe_invoice_id, draft.updated_at) == (
        InvoiceStatus.DRAFT,
        sent["id"],
        NOW,
    )
    assert [x.stripe_invoice_item_id for x in draft.lines] == [sent["lines"]["data"][0]["id"]]
    assert deps.uow.store.claims == {}


def test_a_new_invoice_and_an_unfinished_one_are_both_finished(deps):
    add_customer(deps)
    use(deps, words=1_000)
    deps.gateway.fail_on("invoices.finalize", PaymentProviderUnavailable("down"))
    with pytest.raises(PaymentProviderUnavailable):
        invoice_unbilled_usage(deps, "org_a", CUTOFF)
    use(deps, words=2_000)
    result = invoice_unbilled_usage(deps, "org_a", CUTOFF)
    assert result.outcome is Outcome.INVOICED and result.invoice.total == Money(200, "usd")
    assert sorted(
        (i.total.amount_minor, i.status) for i in deps.uow.store.usage_invoices.values()
    ) == [(100, InvoiceStatus.OPEN), (200, InvoiceStatus.OPEN)]


def test_a_draft_that_failed_twice_is_resumed_at_once(deps):
    add_customer(deps)
    use(deps)
    deps.gateway.fail_on("invoices.finalize", PaymentProviderUnavailable("down"), times=2)
    for _ in range(2):
        with pytest.raises(PaymentProviderUnavailable):
            invoice_unbilled_usage(deps, "org_a", CUTOFF)
    result = invoice_unbilled_usage(deps, "org_a", CUTOFF)
    assert result.outcome is Outcome.INVOICED
    assert stored(deps, result.invoice.id).status is InvoiceStatus.OPEN
    assert result.lines == tuple(result.invoice.lines) and len(result.lines) == 1
    assert len(deps.gateway.invoices) == 1


def test_a_draft_being_finished_is_left_to_its_run_for_the_claims_ten_minutes(deps):
    add_customer(deps)
    use(deps)
    seen = []

    def meanwhile():
        deps.clock.advance(minutes=9, seconds=59)
        seen.append(invoice_unbilled_usage(deps, "org_a", CUTOFF))

    deps.gateway.before_finalize = meanwhile
    first = invoice_unbilled_usage(deps, "org_a", CUTOFF)
    (second,) = seen
    assert second.outcome is Outcome.NOTHING_TO_BILL and second.invoice.id == first.invoice.id
    assert [op for op, _ in deps.gateway.calls].count("invoices.finalize") == 1


def test_without_a_customer_nothing_is_linked_and_the_answer_says_so(deps):
    use(deps, org="org_b")
    assert assign_unbilled_usage(deps, "org_a", CUTOFF, "system").outcome is Outcome.NOTHING_TO_BILL
    use(deps)
    result = assign_unbilled_usage(deps, "org_a", CUTOFF, "system")
    assert (result.outcome, result.invoice, result.lines, result.claimed, result.customer_id) == (
        Outcome.NO_CUSTOMER,
        None,
        (),
        (),
        None,
    )
    assert re.fullmatch(r"claim_[0-9a-f]{32}", result.token)
    assert deps.uow.store.usage_invoices == {}
    assert all(e.invoice_id is None for e in deps.uow.store.usage_events)


def test_without_a_customer_nothing_is_claimed_or_answered(deps):
    add_customer(deps)
    for words in (1_000, 2_000, 3_000):
        use(deps, words=words)
        deps.gateway.fail_on("invoices.finalize", PaymentProviderUnavailable("down"))
        with pytest.raises(PaymentProviderUnavailable):
            invoice_unbilled_usage(deps, "org_a", CUTOFF)
        deps.clock.advance(seconds=1)
    drafts = sorted(deps.uow.store.usage_invoices.values(), key=lambda i: i.created_at)
    with deps.uow() as uow:
        for draft in drafts:
            assert uow.usage_invoices.claim(draft.id, "other", NOW, NOW + timedelta(hours=1))
        uow.commit()
    del deps.uow.store.customers["org_a"]
    use(deps, words=4_000)
    result = assign_unbilled_usage(deps, "org_a", CUTOFF, "system")
    assert len(drafts) == 3
    # No customer, so nothing can be sent: no draft is claimed, none is answered.
    assert result.outcome is Outcome.NO_CUSTOMER
    assert result.invoice is None and result.claimed == ()


def test_pushing_needs_payments_and_the_organizations_customer(deps):
    draft = UsageInvoice.draft("uinv_1", "org_a", CUTOFF, NOW, "usd")
    draft.bill([line()])
    with pytest.raises(PaymentsNotConfigured) as caught:
        push_to_stripe(InvoicingDeps(deps.uow, deps.clock, None, deps.price), draft)
    assert str(caught.value) == "payments are not configured: set STRIPE_SECRET_KEY"
    with pytest.raises(CustomerRequired) as missing:
        push_to_stripe(deps, draft)
    assert str(missing.value) == "the organization has no Stripe customer"
    assert deps.gateway.invoices == {}
    cid = add_customer(deps)
    with deps.uow() as uow:
        uow.usage_invoices.add(draft)
        uow.commit()
    pushed = push_to_stripe(deps, draft)
    assert pushed.status is InvoiceStatus.OPEN
    assert deps.gateway.invoices[pushed.stripe_invoice_id]["customer"] == cid


def test_below_the_minimum_the_usage_is_carried_forward_and_the_answer_says_what_it_was(deps):
    cid = add_customer(deps)
    use(deps, words=400)
    result = assign_unbilled_usage(deps, "org_a", CUTOFF, "system")
    assert (result.outcome, result.invoice, result.claimed, result.customer_id) == (
        Outcome.BELOW_MINIMUM,
        None,
        (),
        cid,
    )
    assert [(x.quantity, x.amount) for x in result.lines] == [(400, Money(40, "usd"))]
    assert re.fullmatch(r"claim_[0-9a-f]{32}", result.token)
    assert deps.uow.store.usage_invoices == {}
    assert all(e.invoice_id is None for e in deps.uow.store.usage_events)


def test_an_invoice_over_the_maximum_is_held_when_it_is_made(deps):
    add_customer(deps)
    use(deps, words=10**9)
    deps.clock.advance(minutes=1)
    result = invoice_unbilled_usage(deps, "org_a", CUTOFF + timedelta(minutes=1))
    kept = stored(deps, result.invoice.id)
    assert (result.outcome, kept.status, kept.hold_reason, kept.updated_at) == (
        Outcome.HELD,
        InvoiceStatus.HELD,
        "amount_too_large",
        NOW + timedelta(minutes=1),
    )
    assert [(x.quantity, x.amount) for x in kept.lines] == [(10**9, Money(10**8, "usd"))]
    assert result.lines == tuple(kept.lines) and result.customer_id is not None
    assert deps.gateway.invoices == {} and deps.uow.store.claims == {}


def test_each_invoice_made_or_held_is_in_the_audit_trail(deps):
    add_customer(deps)
    use(deps, words=1_000, at=NOW - timedelta(days=1))
    use(deps, words=2_000)
    made = invoice_unbilled_usage(deps, "org_a", CUTOFF, actor="user:alice").invoice
    use(deps, words=10**9)
    held = invoice_unbilled_usage(deps, "org_a", CUTOFF).invoice
    assert [(e.org_id, e.at, e.actor, e.action, e.details) for e in deps.uow.store.audit] == [
        (
            "org_a",
            NOW,
            "user:alice",
            "usage_invoice.created",
            {"invoice_id": made.id, "total_minor": 300, "events": 2, "cutoff": CUTOFF.isoformat()},
        ),
        (
            "org_a",
            NOW,
            "system",
            "usage_invoice.held",
            {
                "invoice_id": held.id,
                "total_minor": 100_000_000,
                "events": 1,
                "cutoff": CUTOFF.isoformat(),
                "reason": "amount_too_large",
            },
        ),
    ]


def test_a_draft_found_without_payments_configured_is_left_for_a_later_run(deps):
    add_customer(deps)
    use(deps)
    deps.gateway.fail_on("invoices.finalize", PaymentProviderUnavailable("down"))
    with pytest.raises(PaymentProviderUnavailable):
        invoice_unbilled_usage(deps, "org_a", CUTOFF)
    unconfigured = InvoicingDeps(deps.uow, deps.clock, None, deps.price)
    with pytest.raises(PaymentsNotConfigured) as caught:
        invoice_unbilled_usage(unconfigured, "org_a", CUTOFF)
    assert str(caught.value) == "payments are not configured: set STRIPE_SECRET_KEY"
    assert deps.uow.store.claims == {}
    assert invoice_unbilled_usage(deps, "org_a", CUTOFF).outcome is Outcome.INVOICED


def test_a_resumed_draft_is_left_to_the_run_resuming_it_for_the_claims_ten_minutes(deps):
    add_customer(deps)
    use(deps)
    deps.gateway.fail_on("invoices.finalize", PaymentProviderUnavailable("down"))
    with pytest.raises(PaymentProviderUnavailable):
        invoice_unbilled_usage(deps, "org_a", CUTOFF)
    seen = []

    def meanwhile():
        deps.clock.advance(minutes=9, seconds=59)
        seen.append(invoice_unbilled_usage(deps, "org_a", CUTOFF))

    deps.gateway.before_finalize = meanwhile
    resumed = invoice_unbilled_usage(deps, "org_a", CUTOFF)
    (other,) = seen
    assert resumed.outcome is Outcome.INVOICED
    assert other.outcome is Outcome.NOTHING_TO_BILL and other.invoice.id == resumed.invoice.id
    assert [op for op, _ in deps.gateway.calls].count("invoices.finalize") == 2  # failed, done


def test_a_dry_run_without_payments_reports_what_a_real_run_would(deps):
    add_customer(deps)
    use(deps)
    add_customer(deps, "org_small")
    use(deps, "org_small", words=10)
    unconfigured = InvoicingDeps(deps.uow, deps.clock, None, deps.price)
    orgs = ["org_a", "org_small"]
    dry = run_invoicing(unconfigured, CUTOFF, orgs, dry_run=True, actor="test")
    configured = run_invoicing(deps, CUTOFF, orgs, dry_run=True, actor="test")
    real = run_invoicing(unconfigured, CUTOFF, orgs, dry_run=False, actor="test")
    assert dry.counts == real.counts == {"failed": 1, "below_minimum": 1}
    assert "payments not configured" in dry.failures["org_a"]
    assert "not configured" in real.failures["org_a"]
    assert configured.counts == {"invoiced": 1, "below_minimum": 1}


def test_only_a_month_that_has_ended_can_be_closed():
    now = datetime(2026, 12, 15, 9, tzinfo=UTC)
    assert month_cutoff(now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert month_cutoff(now, "2026-11") == datetime(2026, 12, 1, tzinfo=UTC)
    assert month_cutoff(now, "2025-02") == datetime(2025, 3, 1, tzinfo=UTC)
    for open_or_future in ("2026-12", "2027-01", "2030-06"):
        with pytest.raises(MonthNotClosed, match="latest month to close is 2026-11"):
            month_cutoff(now, open_or_future)
