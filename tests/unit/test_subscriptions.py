from datetime import UTC, datetime, timedelta

from domain.model.entitlements import entitlement_for
from domain.model.plans import Tier, default_catalog
from domain.model.subscriptions import Subscription, SubscriptionSnapshot, SubscriptionStatus

NOW = datetime(2026, 11, 15, tzinfo=UTC)
GRACE = timedelta(days=7)


def snapshot(
    status: SubscriptionStatus, tier: Tier | None = Tier.PRO, **kw
) -> SubscriptionSnapshot:
    values = dict(
        stripe_subscription_id="sub_1",
        stripe_customer_id="cus_1",
        status=status,
        tier=tier,
        stripe_price_id="price_pro",
        current_period_start=NOW,
        current_period_end=NOW + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=None,
    )
    values.update(kw)
    return SubscriptionSnapshot(**values)


def test_apply_takes_stripes_state_and_reports_change():
    sub = Subscription.from_snapshot("org_a", snapshot(SubscriptionStatus.INCOMPLETE), NOW)
    assert sub.apply(snapshot(SubscriptionStatus.ACTIVE), NOW + timedelta(minutes=1))
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.updated_at == NOW + timedelta(minutes=1)
    assert not sub.apply(snapshot(SubscriptionStatus.ACTIVE), NOW + timedelta(minutes=2))
    assert sub.updated_at == NOW + timedelta(minutes=1)


def test_past_due_since_is_set_once_and_cleared_on_recovery():
    sub = Subscription.from_snapshot("org_a", snapshot(SubscriptionStatus.ACTIVE), NOW)
    sub.apply(snapshot(SubscriptionStatus.PAST_DUE), NOW + timedelta(days=1))
    assert sub.past_due_since == NOW + timedelta(days=1)
    sub.apply(snapshot(SubscriptionStatus.PAST_DUE), NOW + timedelta(days=2))
    assert sub.past_due_since == NOW + timedelta(days=1)
    sub.apply(snapshot(SubscriptionStatus.ACTIVE), NOW + timedelta(days=3))
    assert sub.past_due_since is None


def test_a_snapshot_without_tier_keeps_the_known_tier():
    sub = Subscription.from_snapshot("org_a", snapshot(SubscriptionStatus.ACTIVE), NOW)
    sub.apply(snapshot(SubscriptionStatus.CANCELED, tier=None), NOW)
    assert sub.tier is Tier.PRO


def test_entitlements_follow_status():
    catalog = default_catalog()
    for status, tier in [
        (SubscriptionStatus.ACTIVE, "pro"),
        (SubscriptionStatus.TRIALING, "pro"),
        (SubscriptionStatus.CANCELED, "free"),
        (SubscriptionStatus.UNPAID, "free"),
        (SubscriptionStatus.INCOMPLETE, "free"),
    ]:
        sub = Subscription.from_snapshot("org_a", snapshot(status), NOW)
        assert entitlement_for(catalog, [sub], [], NOW, GRACE).plan.tier.value == tier, status


def test_past_due_grace_period_boundary_is_half_open():
    catalog = default_catalog()
    sub = Subscription.from_snapshot("org_a", snapshot(SubscriptionStatus.PAST_DUE), NOW)
    just_before = NOW + GRACE - timedelta(seconds=1)
    assert entitlement_for(catalog, [sub], [], just_before, GRACE).plan.tier is Tier.PRO
    assert entitlement_for(catalog, [sub], [], NOW + GRACE, GRACE).plan.tier is Tier.FREE


def test_live_statuses():
    assert SubscriptionStatus.PAST_DUE.is_live
    assert not SubscriptionStatus.CANCELED.is_live
    assert not SubscriptionStatus.INCOMPLETE_EXPIRED.is_live
