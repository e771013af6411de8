// Shared by the billing pages: the caller's token, API calls and formatting.
"use strict";
const Billing = (() => {
  const KEY = "billing-token";
  function readToken() {
    const hash = new URLSearchParams(window.location.hash.slice(1));
    if (hash.get("token")) {
      sessionStorage.setItem(KEY, hash.get("token"));
      history.replaceState(null, "", window.location.pathname);  // keep it out of the URL
    }
    return sessionStorage.getItem(KEY);
  }
  function claims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part));
    } catch (e) {
      return {};
    }
  }
  async function api(path, options = {}) {
    const headers = Object.assign({ Authorization: "Bearer " + readToken() }, options.headers);
    if (options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(path, Object.assign({}, options, { headers }));
    const type = response.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      if (response.status === 401) sessionStorage.removeItem(KEY);
      throw new Error((body && body.message) || response.statusText);
    }
    return body;
  }
  function money(m) {
    if (!m) return "";
    const major = m.amount_minor / 100;
    return new Intl.NumberFormat("en-US", { style: "currency", currency: m.currency.toUpperCase() })
      .format(major);
  }
  function cents(minor, currency = "usd") { return money({ amount_minor: minor || 0, currency }); }
  function date(iso) { return iso ? new Date(iso).toISOString().slice(0, 10) : ""; }
  function showError(message) {
    const box = document.getElementById("error");
    box.textContent = message;
    box.hidden = false;
  }
  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }
  function start(render) {
    const form = document.getElementById("token-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("token-input").value.trim());
      form.hidden = true;
      render().catch((e) => showError(e.message));
    });
    if (!readToken()) { form.hidden = false; return; }
    const c = claims(readToken());
    document.getElementById("who").textContent = `${c.org_id || ""} · ${c.role || ""}`;
    render().catch((e) => { showError(e.message); if (!readToken()) form.hidden = false; });
  }
  return { api, claims, readToken, money, cents, date, showError, el, start };
})();
