// The /admin page: revenue charts (server-rendered SVG), churn and conversion, dead webhooks,
// the latest reconciliation report and a button to run one.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  // Every "n/a" says why: a rate of nothing is not zero.
  const pct = (x, why) => (x === null || x === undefined ? `n/a (${why})` : `${(100 * x).toFixed(1)}%`);
  let names = {};  // tier -> the plan's name, from the catalog
  const plan = (tier) => names[tier] || tier;

  function empty(table, message) {
    const tr = Billing.el("tr", { class: "empty" });
    const td = Billing.el("td", { colspan: String(table.querySelectorAll("th").length) }, message);
    tr.append(td);
    table.querySelector("tbody").append(tr);
  }

  function query() {
    const from = $("from").value, to = $("to").value;
    return `from=${from}T00:00:00Z&to=${to}T00:00:00Z&interval=${$("interval").value}`;
  }

  function row(table, cells) {
    const tr = Billing.el("tr");
    const labels = [...table.querySelectorAll("th")].map((th) => th.textContent);
    cells.forEach((cell, i) => {
      const td = Billing.el("td", { "data-label": labels[i] || "" });
      if (cell instanceof Node) td.append(cell); else td.textContent = cell;
      tr.append(td);
    });
    table.querySelector("tbody").append(tr);
  }

  async function renderDead() {
    const table = $("dead");
    table.querySelector("tbody").textContent = "";
    const { events } = await Billing.api("/api/v1/admin/webhook-events?status=dead&limit=50");
    $("no-dead").hidden = events.length > 0;
    for (const e of events) {
      const button = Billing.el("button", { class: "secondary", "data-event": e.id }, "Replay");
      button.addEventListener("click", async () => {
        await Billing.api(`/api/v1/admin/webhook-events/${encodeURIComponent(e.id)}/replay`, { method: "POST" });
        await renderDead();
      });
      row(table, [e.id, e.type, String(e.attempts), (e.last_error || "").split("\n").slice(-2).join(" "), button]);
    }
  }

  // -- reconciliation ------------------------------------------------------------------------
  const RECONCILE = "/api/v1/admin/reconciliation/runs";

  async function renderReconciliation() {
    const { run, drifts } = await Billing.api(`${RECONCILE}/latest?limit=200`);
    const table = $("drifts");
    table.querySelector("tbody").textContent = "";
    if (!run) {
      $("reconcile-summary").textContent = "No run yet.";
      $("no-drifts").hidden = true;
      return null;
    }
    const c = run.counts;
    $("reconcile-summary").textContent = run.status === "finished"
      ? `Run ${run.id} (${run.fix ? "with repairs" : "report only"}), finished ${run.finished_at}: ` +
        `${c.objects_compared} Stripe objects compared, ${c.drifts} drifts (${c.new_drifts} new, ` +
        `${c.repaired} repaired, ${c.reported} reported), ${c.events_recovered} missed events ` +
        `recovered, ${c.other_api_version_events} events of another API version.`
      : `Run ${run.id}: ${run.status}${run.error ? ` (${run.error})` : ""}.`;
    $("no-drifts").hidden = run.status !== "finished" || drifts.length > 0;
    for (const d of drifts) {
      row(table, [d.org_id || "-", `${d.object_type} ${d.object_id}`, d.kind, d.ours || "-",
        d.stripe || "-", Billing.date(d.first_seen_at) + (d.new ? " (new)" : ""), d.action]);
    }
    return run;
  }

  async function runReconciliation() {
    const button = $("reconcile-run");
    button.disabled = true;
    try {
      const queued = await Billing.api(RECONCILE, {
        method: "POST", body: JSON.stringify({ fix: $("reconcile-fix").checked }) });
      for (let i = 0; i < 120; i++) {
        const run = await renderReconciliation();
        if (run && run.id === queued.id && ["finished", "failed"].includes(run.status)) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } finally {
      button.disabled = false;
    }
  }

  async function render() {
    const q = query();
    const [revenue, churn, conversion, catalog] = await Promise.all([
      Billing.api(`/api/v1/admin/analytics/revenue?${q}`),
      Billing.api(`/api/v1/admin/analytics/churn?${q}`),
      Billing.api(`/api/v1/admin/analytics/conversion?${q}`),
      Billing.api("/api/v1/plans")]);
    names = Object.fromEntries(catalog.plans.map((p) => [p.tier, p.name]));
    const r = revenue.report;
    $("mrr").textContent = Billing.cents(r.mrr_minor);
    $("arr").textContent = Billing.cents(r.arr_minor);
    $("arpu").textContent = r.arpu_minor === null ? "n/a (no paying customers at the period's end)"
      : Billing.cents(r.arpu_minor);
    $("usage-revenue").textContent = Billing.cents(r.usage_revenue_minor);
    $("one-time").textContent = Billing.cents(r.one_time_revenue_minor);
    for (const name of ["mrr", "usage-revenue"]) {
      $(`chart-${name}`).innerHTML = await Billing.api(`/api/v1/admin/analytics/charts/${name}.svg?${q}`);
    }
    const c = churn.report;
    $("churn").querySelector("tbody").textContent = "";
    for (const [tier, p] of Object.entries(c.by_plan)) {
      row($("churn"), [plan(tier), String(p.organizations_at_start), String(p.churned),
                       pct(p.logo_churn, "none paying at the start"),
                       pct(p.revenue_churn, "no revenue at the start")]);
    }
    if (!Object.keys(c.by_plan).length) {
      empty($("churn"), "No data: no customer was paying at the start of the period, so none could churn.");
    }
    $("clv").textContent = c.clv_minor !== null ? Billing.cents(c.clv_minor)
      : c.arpu_minor === null ? "n/a (no paying customers at the period's end)"
      : "n/a (no churn in the period: the lifetime has no end to measure)";
    const v = conversion.report;
    $("conversion").querySelector("tbody").textContent = "";
    for (const [tier, p] of Object.entries(v.checkout_by_plan)) {
      row($("conversion"), [plan(tier), String(p.created), String(p.completed),
                            pct(p.completion_rate, "no checkout started")]);
    }
    if (!Object.keys(v.checkout_by_plan).length) empty($("conversion"), "No data: no checkout was started in the period.");
    $("free-to-paid").textContent =
      `${pct(v.free_to_paid, "no sign-ups in the period")} (${v.converted_to_paid} of ${v.signups} new organizations)`;
    const moves = (count, rate) => (rate === null
      ? `${count}, rate n/a (no subscription was paying at the start)`
      : `${count}, ${pct(rate)} of the subscriptions paying at the start`);
    $("upgrades").textContent = moves(v.upgrades, v.upgrade_rate);
    $("downgrades").textContent = moves(v.downgrades, v.downgrade_rate);
    await renderDead();
    await renderReconciliation();
    $("page").hidden = false;
  }

  const tomorrow = new Date(Date.now() + 86400000);  // `to` is exclusive: include today
  const past = new Date(tomorrow.getTime() - 91 * 86400000);
  $("to").value = tomorrow.toISOString().slice(0, 10);
  $("from").value = past.toISOString().slice(0, 10);
  $("refresh").addEventListener("click", () => render().catch((e) => Billing.showError(e.message)));
  $("reconcile-run").addEventListener("click",
    () => runReconciliation().catch((e) => Billing.showError(e.message)));
  Billing.start(render);
})();
