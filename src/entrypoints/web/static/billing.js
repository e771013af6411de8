// The /billing page: plan, usage against limits, voice usage and invoices for one organization.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const STATES = {
    trialing: ["warn", "Trial: the first payment is taken when it ends."],
    past_due: ["bad", "Past due: the last payment failed. Update the payment method to keep this plan."],
    unpaid: ["bad", "Unpaid: the plan was suspended after failed payments."],
    incomplete: ["warn", "Waiting for the first payment to be confirmed."],
    canceled: ["bad", "Canceled."],
    active: ["ok", "Active."],
  };

  function planState(d) {
    const sub = d.subscription;
    if (!sub) return ["ok", d.plan_source === "purchase" ? "Owned for good." : "Free plan."];
    let [cls, text] = STATES[sub.status] || ["", sub.status];
    if (sub.cancel_at_period_end) {
      cls = "warn";
      text = `Cancels at the end of the period, on ${Billing.date(sub.current_period_end)}.`;
    } else if (sub.status === "active" && sub.current_period_end) {
      text += ` Renews on ${Billing.date(sub.current_period_end)}.`;
    }
    if (d.plan_source === "grace_period") text += " The plan is kept during the grace period.";
    if (d.plan_source === "dunning" || (d.plan_source === "default" && sub.status === "past_due")) {
      text += " Usage is limited to the free plan until payment.";
    }
    return [cls, text];
  }

  function renderUsage(usage) {
    const box = $("usage");
    box.textContent = "";
    if (!usage.available) { box.textContent = "Usage is unavailable right now."; return; }
    $("period").textContent = `${Billing.date(usage.period_start)} to ${Billing.date(usage.period_end)}`;
    for (const m of usage.metrics) {
      const meter = Billing.el("div", { class: "meter", "data-metric": m.metric });
      const label = Billing.el("div", { class: "label" });
      label.append(Billing.el("span", {}, m.metric.replace("_", " ")));
      const limit = m.limit === null ? "unlimited" : m.limit.toLocaleString("en-US");
      label.append(Billing.el("span", { class: "used" }, `${(m.used || 0).toLocaleString("en-US")} / ${limit}`));
      meter.append(label);
      if (m.limit !== null) {
        const pct = Math.min(100, Math.round((100 * (m.used || 0)) / Math.max(m.limit, 1)));
        const bar = Billing.el("div", { class: "bar", role: "progressbar", "aria-valuenow": pct,
                                        "aria-valuemin": 0, "aria-valuemax": 100 });
        const fill = Billing.el("span", { class: pct >= 100 ? "full" : pct >= 80 ? "warn" : "" });
        fill.style.width = pct + "%";
        bar.append(fill);
        meter.append(bar);
      }
      box.append(meter);
    }
  }

  function renderInvoices(invoices) {
    const body = $("invoices").querySelector("tbody");
    body.textContent = "";
    $("no-invoices").hidden = invoices.length > 0;
    $("invoices").hidden = invoices.length === 0;
    for (const inv of invoices) {
      const row = Billing.el("tr", { "data-invoice": inv.id });
      row.append(Billing.el("td", { "data-label": "Date" }, Billing.date(inv.created_at)));
      row.append(Billing.el("td", { "data-label": "Period" },
        `${Billing.date(inv.period_start)} to ${Billing.date(inv.period_end)}`));
      row.append(Billing.el("td", { "data-label": "Total" }, Billing.money(inv.total)));
      const status = Billing.el("td", { "data-label": "Status" });
      status.append(Billing.el("span", { class: `badge ${inv.status}` }, inv.status.replace("_", " ")));
      row.append(status);
      const link = Billing.el("td");
      if (inv.hosted_invoice_url) {
        link.append(Billing.el("a", { href: inv.hosted_invoice_url, target: "_blank", rel: "noopener" }, "View invoice"));
      }
      row.append(link);
      body.append(row);
    }
  }

  async function act(path, body, redirectKey) {
    try {
      const result = await Billing.api(path, { method: "POST", body: JSON.stringify(body || {}) });
      if (redirectKey && result[redirectKey]) { window.location.assign(result[redirectKey]); return; }
      await render();
    } catch (e) {
      Billing.showError(e.message);
    }
  }

  async function render() {
    const [d, plans] = await Promise.all([Billing.api("/api/v1/billing/dashboard"),
                                          Billing.api("/api/v1/plans")]);
    $("plan-name").textContent = d.plan.name;
    $("plan-price").textContent = d.plan.price.amount_minor
      ? `${Billing.money(d.plan.price)}${d.plan.interval === "month" ? " / month" : " once"}` : "";
    const [cls, text] = planState(d);
    $("plan-state").className = `state ${cls}`;
    $("plan-state").textContent = text;
    renderUsage(d.usage);
    $("voice-words").textContent = d.voice.unbilled_words.toLocaleString("en-US");
    $("voice-charge").textContent = Billing.money(d.voice.estimated_charge);
    $("voice-price").textContent = Billing.cents(Math.round(parseFloat(d.voice.price_per_1000_words) * 100));
    renderInvoices(d.recent_invoices);

    const owner = Billing.claims(Billing.readToken()).role === "owner";
    for (const node of document.querySelectorAll(".owner-only")) node.hidden = !owner;
    const select = $("upgrade-tier");
    select.textContent = "";
    for (const p of plans.plans.filter((p) => p.interval === "month" && p.price.amount_minor > 0
                                              && p.tier !== d.plan.tier)) {
      select.append(Billing.el("option", { value: p.tier }, `${p.name} (${Billing.money(p.price)}/month)`));
    }
    const sub = d.subscription;
    const live = sub && !["canceled", "incomplete_expired"].includes(sub.status);
    $("upgrade").textContent = live ? "Change plan" : "Upgrade";
    $("cancel").hidden = !(live && !sub.cancel_at_period_end);
    $("resume").hidden = !(live && sub.cancel_at_period_end);
    $("portal").hidden = !d.has_stripe_customer;
    $("page").hidden = false;
  }

  $("upgrade").addEventListener("click", () => {
    const tier = $("upgrade-tier").value;
    if ($("upgrade").textContent === "Change plan") act("/api/v1/billing/subscription/change", { plan_tier: tier });
    else act("/api/v1/billing/create-checkout-session", { plan_tier: tier }, "checkout_url");
  });
  $("portal").addEventListener("click", () => act("/api/v1/billing/portal-session", {}, "url"));
  $("cancel").addEventListener("click", () => act("/api/v1/billing/subscription/cancel", { at_period_end: true }));
  $("resume").addEventListener("click", () => act("/api/v1/billing/subscription/resume", {}));
  Billing.start(render);
})();
