// The /billing page's usage alerts and spend cap: see and (owners) edit them.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const METRICS = ["queries", "documents", "stt_words", "tts_words"];
  let thresholds = [];

  function label(t) {
    return t.percent !== null ? `${t.percent}% of the limit` : `${t.amount.toLocaleString("en-US")} units`;
  }

  function renderCap(c) {
    $("cap-spent").textContent = Billing.money(c.spent);
    $("cap-amount").textContent = c.cap ? Billing.money(c.cap) : "none";
    $("cap-resets").textContent = `(resets on ${Billing.date(c.resets_at)})`;
    $("cap-currency").textContent = c.spent.currency.toUpperCase();
    $("cap-input").value = c.cap ? (c.cap.amount_minor / 100).toFixed(2) : "";
    $("cap-reached").hidden = !c.reached_at;
    $("cap-reached").textContent = c.reached_at
      ? `Reached on ${Billing.date(c.reached_at)}: voice usage is refused until the period resets.` : "";
  }

  function renderAlerts(a) {
    thresholds = a.thresholds.map((t) => (t.percent !== null
      ? { metric: t.metric, percent: t.percent } : { metric: t.metric, amount: t.amount }));
    $("alerts-note").textContent = a.defaults
      ? "The plan's defaults: 80% and 100% of every limited metric." : "Your own thresholds.";
    const body = $("alerts").querySelector("tbody");
    body.textContent = "";
    a.thresholds.forEach((t, index) => {
      const row = Billing.el("tr", { "data-threshold": `${t.metric}:${t.id}` });
      row.append(Billing.el("td", { "data-label": "Metric" }, t.metric.replace("_", " ")));
      row.append(Billing.el("td", { "data-label": "Threshold" }, label(t)));
      row.append(Billing.el("td", { "data-label": "Fires at" },
        t.level === null ? "never (unlimited)" : t.level.toLocaleString("en-US")));
      const state = Billing.el("td", { "data-label": "State" });
      const cls = t.state === "fired" ? "past_due" : t.state === "resolved" ? "paid" : "draft";
      const when = t.state === "fired" ? ` ${Billing.date(t.fired_at)}` : "";
      state.append(Billing.el("span", { class: `badge ${cls}` }, t.state + when));
      row.append(state);
      const cell = Billing.el("td", { class: "owner-only" });
      const remove = Billing.el("button", { class: "secondary", type: "button" }, "Remove");
      remove.addEventListener("click", () => save(thresholds.filter((_, i) => i !== index)));
      cell.append(remove);
      row.append(cell);
      body.append(row);
    });
  }

  async function save(list) {
    try {
      renderAlerts(await Billing.api("/api/v1/alerts", { method: "PUT", body: JSON.stringify({ thresholds: list }) }));
      applyRole();
    } catch (e) { Billing.showError(e.message); }
  }

  async function saveCap(amount) {
    try {
      renderCap(await Billing.api("/api/v1/billing/spend-cap", { method: "PUT", body: JSON.stringify({ amount }) }));
    } catch (e) { Billing.showError(e.message); }
  }

  function applyRole() {
    const owner = Billing.claims(Billing.readToken()).role === "owner";
    for (const node of document.querySelectorAll("#alerts-card .owner-only, #spend-cap-card .owner-only")) {
      node.hidden = !owner;
    }
  }

  async function render() {
    const [alerts, cap] = await Promise.all([Billing.api("/api/v1/alerts"),
                                             Billing.api("/api/v1/billing/spend-cap")]);
    renderAlerts(alerts);
    renderCap(cap);
    applyRole();
  }

  const select = $("alert-metric");
  for (const m of METRICS) select.append(Billing.el("option", { value: m }, m.replace("_", " ")));
  $("alert-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = parseInt($("alert-value").value, 10);
    save(thresholds.concat([{ metric: select.value, [$("alert-kind").value]: value }]));
  });
  $("alerts-default").addEventListener("click", () => save(null));
  $("cap-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const minor = Math.round(parseFloat($("cap-input").value) * 100);
    saveCap({ amount_minor: minor, currency: $("cap-currency").textContent.toLowerCase() });
  });
  $("cap-remove").addEventListener("click", () => saveCap(null));
  if (Billing.readToken()) render().catch((e) => Billing.showError(e.message));
  $("token-form").addEventListener("submit", () => setTimeout(() => render().catch(() => {}), 0));
})();
