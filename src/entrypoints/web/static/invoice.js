// A usage invoice explained: each line's words, price and rounding, down to the events it bills.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  const id = $("page").dataset.invoice;
  const base = `/api/v1/billing/invoices/${encodeURIComponent(id)}`;
  const words = (n) => n.toLocaleString("en-US");

  function eventsTable(events) {
    const table = Billing.el("table");
    const head = Billing.el("tr");
    for (const name of ["When", "Words", "Conversation", "Idempotency key"]) head.append(Billing.el("th", {}, name));
    const thead = Billing.el("thead");
    thead.append(head);
    table.append(thead);
    const body = table.appendChild(Billing.el("tbody"));
    addRows(body, events);
    return table;
  }

  function addRows(body, events) {
    for (const e of events) {
      const tr = Billing.el("tr");
      tr.append(Billing.el("td", { "data-label": "When" }, e.occurred_at.replace("T", " ").slice(0, 19)));
      tr.append(Billing.el("td", { "data-label": "Words" }, words(e.quantity)));
      tr.append(Billing.el("td", { "data-label": "Conversation" }, e.conversation_id || "none"));
      tr.append(Billing.el("td", { "data-label": "Idempotency key" }, e.idempotency_key));
      body.append(tr);
    }
  }

  function renderLine(line, index, rate) {
    const card = Billing.el("section", { class: "card line", "data-metric": line.metric });
    card.append(Billing.el("h2", {}, `${Billing.metric(line.metric)}: ${Billing.money(line.amount)}`));
    card.append(Billing.el("p", {},
      `${words(line.quantity)} words ÷ 1,000 × ${rate} = ${Billing.money(line.amount)}, ` +
      `from ${words(line.event_count)} event${line.event_count === 1 ? "" : "s"} between ${Billing.date(line.period_start)} and ${Billing.date(line.period_end)}.`));
    const table = eventsTable(line.events);
    card.append(table);
    let shown = line.events.length;
    if (shown < line.event_count) {
      const more = Billing.el("button", { class: "secondary" }, "Show more events");
      more.addEventListener("click", async () => {
        const next = await Billing.api(`${base}?events_limit=${PAGE}&events_offset=${shown}`);
        const events = next.lines[index].events;
        addRows(table.querySelector("tbody"), events);
        shown += events.length;
        more.hidden = shown >= line.event_count || events.length === 0;
      });
      card.append(more);
    }
    return card;
  }

  async function download() {
    const response = await fetch(`${base}/events.csv`, {
      headers: { Authorization: "Bearer " + Billing.readToken() },
    });
    if (!response.ok) throw new Error(`the download failed (${response.status})`);
    const link = Billing.el("a", { href: URL.createObjectURL(await response.blob()),
                                   download: `${id}-events.csv` });
    document.body.append(link);
    link.click();
    link.remove();
  }

  async function render() {
    const [invoice, dashboard] = await Promise.all([
      Billing.api(`${base}?events_limit=${PAGE}`), Billing.api("/api/v1/billing/dashboard")]);
    const rate = Billing.money({ amount_minor: Math.round(parseFloat(dashboard.voice.price_per_1000_words) * 100),
                                 currency: invoice.total.currency });
    $("invoice-id").textContent = invoice.id;
    $("invoice-total").textContent = Billing.money(invoice.total);
    $("invoice-summary").textContent =
      `Usage from ${Billing.date(invoice.period_start)} to ${Billing.date(invoice.period_end)}, ` +
      `created ${Billing.date(invoice.created_at)}, ${invoice.status.replace("_", " ")}.` +
      (invoice.hold_reason ? ` Held: ${invoice.hold_reason.replace(/_/g, " ")}.` : "");
    $("invoice-rule").textContent =
      `Each line is its words ÷ 1,000 × ${rate}, rounded once to the cent (half up). ` +
      "Every event is billed on exactly one invoice.";
    if (invoice.hosted_invoice_url) {
      $("stripe-link").href = invoice.hosted_invoice_url;
      $("stripe-link").hidden = false;
    }
    if (invoice.archived_months.length) {
      $("invoice-rule").textContent +=
        ` The events of ${invoice.archived_months.join(", ")} were archived: ` +
        "each line keeps its words and amount, and those events are no longer listed or downloadable.";
    }
    $("lines").textContent = "";
    invoice.lines.forEach((line, i) => $("lines").append(renderLine(line, i, rate)));
    $("page").hidden = false;
  }

  $("download").addEventListener("click", () => download().catch((e) => Billing.showError(e.message)));
  Billing.start(render);
})();
