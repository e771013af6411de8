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
      label.append(Billing.el("span", {}, Billing.metric(m.metric)));
      const limit = m.limit === null ? "unlimited" : m.limit.toLocaleString("en-US");
      label.append(Billing.el("span", { class: "used" }, `${(m.used || 0).toLocaleString("en-US")} / ${limit}`));
      meter.append(label);
      if (m.limit !== null) {
        const pct = Math.min(100, Math.round((100 * (m.used || 0)) / Math.max(m.limit, 1)));
        const bar = Billing.el("div", { class: "bar", role: "progressbar", "aria-valuenow": pct,
                                        "aria-label": `${Billing.metric(m.metric)} used, percent of the limit`,
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
      const link = Billing.el("td", { "data-label": "Details" });
      link.append(Billing.el("a", { href: `/billing/invoices/${encodeURIComponent(inv.id)}` },
                             "Lines and events"));
      if (inv.hosted_invoice_url) {
        link.append(document.createTextNode(" · "));
        link.append(Billing.el("a", { href: inv.hosted_invoice_url, target: "_blank", rel: "noopener" }, "Stripe invoice"));
      }
      row.append(link);
      body.append(row);
    }
  }

  // Voice words of this period by day and by conversation, from the usage summary.
  async function renderVoice(usage) {
    if (!usage.available) return;
    const span = `from=${encodeURIComponent(usage.period_start)}&to=${encodeURIComponent(usage.period_end)}`;
    for (const [group, table, empty] of [["day", "voice-days", "no-voice-days"],
                                         ["conversation", "voice-conversations", "no-voice-conversations"]]) {
      const { totals } = await Billing.api(`/api/v1/usage/summary?${span}&group_by=${group}`);
      const rows = new Map();
      for (const t of totals.filter((t) => t.metric === "stt_words" || t.metric === "tts_words")) {
        const key = t.group || "(none)";
        const entry = rows.get(key) || { stt_words: 0, tts_words: 0 };
        entry[t.metric] += t.quantity;
        rows.set(key, entry);
      }
      const body = $(table).querySelector("tbody");
      body.textContent = "";
      $(table).hidden = rows.size === 0;
      $(empty).hidden = rows.size > 0;
      for (const [key, words] of [...rows.entries()].sort()) {
        const tr = Billing.el("tr");
        tr.append(Billing.el("td", { "data-label": group === "day" ? "Day" : "Conversation" }, key));
        tr.append(Billing.el("td", { "data-label": "Speech-to-text words" }, words.stt_words.toLocaleString("en-US")));
        tr.append(Billing.el("td", { "data-label": "Text-to-speech words" }, words.tts_words.toLocaleString("en-US")));
        body.append(tr);
      }
    }
  }

  let current = null;  // the dashboard and the catalog the buttons act on

  async function post(path, body) {
    return Billing.api(path, { method: "POST", body: JSON.stringify(body || {}) });
  }

  // Every money action says what it will do and asks first; then says what happened or why not.
  async function act(work) {
    Billing.notify("");
    try {
      const done = await work();
      if (done === null) return;  // the person went back: nothing was done
      if (done && done.redirect) { window.location.assign(done.redirect); return; }
      await render();
      Billing.notify(done);
    } catch (e) {
      Billing.showError(`Nothing was changed: ${e.message}`);
    }
  }

  const planOf = (tier) => current.plans.find((p) => p.tier === tier);
  const perMonth = (plan) => `${Billing.money(plan.price)} a month`;

  async function changePlan(tier) {
    const plan = planOf(tier);
    const p = await Billing.api(`/api/v1/billing/subscription/change-preview?plan_tier=${encodeURIComponent(tier)}`);
    const end = Billing.date(current.dashboard.subscription.current_period_end);
    const lines = p.upgrade
      ? [`You will be charged ${Billing.money(p.due_now)} now: the prorated difference for the rest of this period, to ${end}.`,
         `From ${end}: ${perMonth(plan)}.`]
      : [`Nothing is charged now. ${Billing.money({ ...p.prorations, amount_minor: -p.prorations.amount_minor })} for the unused part of this period goes to your next invoice as a credit.`,
         `From ${end}: ${perMonth(plan)}.`];
    if (!(await Billing.confirmAction({ title: `${p.upgrade ? "Upgrade" : "Change"} to ${plan.name}?`, lines,
                                        confirm: p.upgrade ? `Upgrade and pay ${Billing.money(p.due_now)}` : `Change to ${plan.name}` }))) return null;
    await post("/api/v1/billing/subscription/change", { plan_tier: tier, proration_date: p.proration_date });
    return p.upgrade ? `Now on ${plan.name}: ${Billing.money(p.due_now)} was charged.`
                     : `Now on ${plan.name}: the credit is on your next invoice.`;
  }

  async function checkout(tier) {
    const plan = planOf(tier);
    if (!(await Billing.confirmAction({ title: `Subscribe to ${plan.name}?`,
      lines: [`${perMonth(plan)}, from today. You pay in Stripe Checkout; nothing is charged before you confirm there.`],
      confirm: "Continue to payment" }))) return null;
    const result = await post("/api/v1/billing/create-checkout-session", { plan_tier: tier });
    return { redirect: result.checkout_url };
  }

  async function buyWhiteLabel() {
    const plan = planOf("white_label");
    if (!(await Billing.confirmAction({ title: "Buy White-Label?",
      lines: [`${Billing.money(plan.price)}, paid once: White-Label is yours for good.`,
              "You pay in Stripe Checkout; nothing is charged before you confirm there."],
      confirm: "Continue to payment" }))) return null;
    const result = await post("/api/v1/white-label/purchase", { plan_tier: "white_label" });
    return { redirect: result.checkout_url };
  }

  async function cancel() {
    const sub = current.dashboard.subscription;
    const end = Billing.date(sub.current_period_end);
    if (!(await Billing.confirmAction({ title: "Cancel at the end of the period?",
      lines: [`Your ${current.dashboard.plan.name} plan stays until ${end}, then moves to the free plan.`,
              "Nothing more is charged. You can resume until then."],
      confirm: `Cancel on ${end}` }))) return null;
    const after = await post("/api/v1/billing/subscription/cancel", { at_period_end: true });
    return `Canceled: the plan stays until ${Billing.date(after.current_period_end)}.`;
  }

  async function resume() {
    const sub = current.dashboard.subscription;
    if (!(await Billing.confirmAction({ title: "Resume the subscription?",
      lines: [`It renews on ${Billing.date(sub.current_period_end)} at ${perMonth(current.dashboard.plan)}.`],
      confirm: "Resume" }))) return null;
    const after = await post("/api/v1/billing/subscription/resume", {});
    return `Resumed: it renews on ${Billing.date(after.current_period_end)}.`;
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
    current = { dashboard: d, plans: plans.plans };
    const whiteLabel = planOf("white_label");
    $("white-label-price").textContent = whiteLabel ? Billing.money(whiteLabel.price) : "";

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
    $("white-label-card").hidden = !owner || !whiteLabel || d.plan_source === "purchase";
    $("page").hidden = false;
    await renderVoice(d.usage);
  }

  $("upgrade").addEventListener("click", () => {
    const tier = $("upgrade-tier").value;
    act(() => ($("upgrade").textContent === "Change plan" ? changePlan(tier) : checkout(tier)));
  });
  $("portal").addEventListener("click", () => act(async () => {
    const result = await post("/api/v1/billing/portal-session", {});
    return { redirect: result.url };
  }));
  $("cancel").addEventListener("click", () => act(cancel));
  $("resume").addEventListener("click", () => act(resume));
  $("white-label").addEventListener("click", () => act(buyWhiteLabel));
  Billing.start(render);
})();
