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
      if (response.status === 401) signedOut("The token was refused: paste a new one.");
      throw new Error((body && body.message) || response.statusText);
    }
    return body;
  }
  // An expired or refused token leaves nothing of its organization on the page.
  function signedOut(message) {
    sessionStorage.removeItem(KEY);
    document.getElementById("who").textContent = "";
    const page = document.getElementById("page");
    if (page) page.hidden = true;
    document.getElementById("token-form").hidden = false;
    if (message) showError(message);
  }
  function expired(token) {
    const exp = claims(token).exp;
    return typeof exp === "number" && exp * 1000 <= Date.now();
  }
  // Asks before a money action: resolves true only when the person confirms.
  function confirmAction({ title, lines, confirm }) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    const body = document.getElementById("confirm-body");
    body.textContent = "";
    for (const line of lines) body.append(el("p", {}, line));
    document.getElementById("confirm-ok").textContent = confirm;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }
  function notify(message) {
    const box = document.getElementById("notice");
    box.textContent = message;
    box.hidden = !message;
    if (message) document.getElementById("error").hidden = true;
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
    const notice = document.getElementById("notice");
    if (notice) notice.hidden = true;
  }
  function el(tag, attrs = {}, text = "") {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text) node.textContent = text;
    return node;
  }
  function start(render) {
    const form = document.getElementById("token-form");
    const open = () => {
      const c = claims(readToken());
      document.getElementById("who").textContent = `${c.org_id || ""} · ${c.role || ""}`;
      document.getElementById("error").hidden = true;
      render().catch((e) => showError(e.message));
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById("token-input").value.trim());
      if (expired(readToken())) { signedOut("The token has expired: paste a new one."); return; }
      form.hidden = true;
      open();
    });
    if (readToken() && expired(readToken())) {
      signedOut("The token has expired: paste a new one.");
      return;
    }
    if (!readToken()) { form.hidden = false; return; }
    open();
  }
  // Metric names as invoices word them.
  const METRICS = {
    queries: "Queries",
    documents: "Documents",
    stt_words: "Speech-to-text words",
    tts_words: "Text-to-speech words",
  };
  const metric = (name) => METRICS[name] || name.replace(/_/g, " ");
  return { api, claims, readToken, money, cents, date, showError, el, start, confirmAction,
           notify, metric, signedOut };
})();
