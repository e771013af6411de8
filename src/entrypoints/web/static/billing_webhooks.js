// The /billing page's webhook endpoints (owners only): add, rotate the secret, replay after a
// fix, delete, and each endpoint's recent deliveries with their attempts.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const BASE = "/api/v1/webhook-endpoints";
  const TYPES = ["subscription.updated", "entitlement.changed", "invoice.created", "invoice.paid",
                 "invoice.payment_failed", "quota.threshold_reached", "quota.exhausted",
                 "quota.reset", "spend_cap.reached"];

  function showSecret(endpoint, what) {
    const box = $("webhook-secret");
    box.textContent = `${what} ${endpoint.url}. Its signing secret, shown only now: `;
    box.append(Billing.el("code", { "data-secret": endpoint.id }, endpoint.secret));
    box.hidden = false;
  }

  async function call(path, method, body) {
    try {
      const options = { method };
      if (body) options.body = JSON.stringify(body);
      return await Billing.api(path, options);
    } catch (e) {
      Billing.showError(e.message);
      return null;
    }
  }

  function deliveriesTable(deliveries) {
    const table = Billing.el("table", { class: "deliveries" });
    const head = Billing.el("thead");
    const titles = Billing.el("tr");
    for (const t of ["Sent", "Event", "Status", "Attempts", "Last answer"]) titles.append(Billing.el("th", {}, t));
    head.append(titles);
    table.append(head);
    const body = Billing.el("tbody");
    for (const d of deliveries) {
      const row = Billing.el("tr", { "data-delivery": d.id });
      row.append(Billing.el("td", { "data-label": "Sent" }, Billing.date(d.created_at)));
      row.append(Billing.el("td", { "data-label": "Event" }, d.event_type));
      const status = Billing.el("td", { "data-label": "Status" });
      status.append(Billing.el("span", { class: `badge ${d.status === "delivered" ? "paid" : d.status === "failed" ? "past_due" : "open"}` }, d.status));
      row.append(status);
      row.append(Billing.el("td", { "data-label": "Attempts" }, String(d.attempts)));
      const last = d.last_status_code ? `HTTP ${d.last_status_code}` : (d.last_error || "");
      row.append(Billing.el("td", { "data-label": "Last answer" }, last));
      body.append(row);
    }
    table.append(body);
    return table;
  }

  function endpointCard(endpoint, deliveries) {
    const box = Billing.el("div", { class: "endpoint", "data-endpoint": endpoint.id });
    const title = Billing.el("p");
    title.append(Billing.el("strong", {}, endpoint.url));
    const state = endpoint.enabled ? "enabled" : `disabled: ${endpoint.disabled_reason || ""}`;
    title.append(Billing.el("span", { class: `state ${endpoint.enabled ? "ok" : "bad"}` }, ` ${state}`));
    box.append(title);
    const types = endpoint.event_types.length ? endpoint.event_types.join(", ") : "every event type";
    box.append(Billing.el("p", { class: "muted" }, types));
    const actions = Billing.el("div", { class: "actions" });
    const rotate = Billing.el("button", { class: "secondary", "data-action": "rotate" }, "Rotate secret");
    rotate.addEventListener("click", async () => {
      const rotated = await call(`${BASE}/${endpoint.id}/rotate-secret`, "POST");
      if (rotated) { showSecret(rotated, "New secret for"); await render(); }
    });
    const replay = Billing.el("button", { class: "secondary", "data-action": "replay" },
                              endpoint.enabled ? "Resend last 24 h" : "Enable and resend last 3 days");
    replay.addEventListener("click", async () => {
      const hours = endpoint.enabled ? 24 : 72;
      const since = new Date(Date.now() - hours * 3600 * 1000).toISOString();
      if (await call(`${BASE}/${endpoint.id}/replay`, "POST", { since })) await render();
    });
    const remove = Billing.el("button", { class: "secondary", "data-action": "delete" }, "Delete");
    remove.addEventListener("click", async () => {
      await call(`${BASE}/${endpoint.id}`, "DELETE");
      await render();
    });
    actions.append(rotate, replay, remove);
    box.append(actions);
    if (deliveries.length) box.append(deliveriesTable(deliveries));
    else box.append(Billing.el("p", { class: "muted" }, "No deliveries yet."));
    return box;
  }

  async function render() {
    const { endpoints } = await Billing.api(BASE);
    const recent = await Promise.all(endpoints.map(
      (e) => Billing.api(`${BASE}/${e.id}/deliveries?limit=10`)));
    const list = $("webhook-endpoints");
    list.textContent = "";
    endpoints.forEach((e, i) => list.append(endpointCard(e, recent[i].deliveries)));
    $("no-webhooks").hidden = endpoints.length > 0;
    $("webhooks-card").hidden = false;
  }

  async function add(event) {
    event.preventDefault();
    const types = [...$("webhook-types").selectedOptions].map((o) => o.value);
    const created = await call(BASE, "POST", { url: $("webhook-url").value.trim(), event_types: types });
    if (!created) return;
    $("webhook-url").value = "";
    showSecret(created, "Added");
    await render();
  }

  function start() {
    if (!Billing.readToken() || Billing.claims(Billing.readToken()).role !== "owner") return;
    render().catch((e) => Billing.showError(e.message));
  }

  for (const t of TYPES) $("webhook-types").append(Billing.el("option", { value: t }, t));
  $("webhook-form").addEventListener("submit", add);
  $("token-form").addEventListener("submit", () => setTimeout(start, 0));
  start();
})();
