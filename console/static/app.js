// LeadFlow console: forms post JSON to the API with the CSRF token; the queue polls.
// Text from the server is only ever set with textContent, except the queue fragment,
// which the server rendered with autoescaping.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] = node[key] || {};
    node = node[key];
  }
  node[keys[keys.length - 1]] = value;
}

// Milliseconds that `zone`'s wall clock is ahead of UTC at the instant `date`.
function zoneOffset(date, zone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(date);
  const part = (type) => Number(parts.find((p) => p.type === type).value);
  const wall = Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"), part("second"));
  return wall - Math.floor(date.getTime() / 1000) * 1000;
}

// A datetime-local value ("2026-12-02T15:30") read as wall time in `zone`, the
// viewer's zone in LeadFlow (not the browser's), as an ISO instant. The offset is
// taken twice so a value next to a DST change lands on the right side of it.
function zonedToIso(value, zone) {
  const [day, time] = value.split("T");
  const [y, m, d] = day.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  let instant = wall - zoneOffset(new Date(wall), zone);
  instant = wall - zoneOffset(new Date(instant), zone);
  return new Date(instant).toISOString();
}

function formValue(el) {
  if (el.type === "checkbox") return el.checked;
  if (el.value === "") return undefined;
  if (el.hasAttribute("data-json")) return JSON.parse(el.value);
  if (el.type === "number" || el.hasAttribute("data-number")) return Number(el.value);
  if (el.type === "datetime-local" && el.dataset.zone) return zonedToIso(el.value, el.dataset.zone);
  if (el.type === "datetime-local") return new Date(el.value).toISOString();
  return el.value;
}

function formJson(form) {
  const body = {};
  const typedGroups = new Set();
  for (const el of form.elements) {
    if (!el.name || el.type === "submit") continue;
    const value = formValue(el);
    if (value === undefined) continue;
    setPath(body, el.name, value);
    const typed = (el.tagName === "TEXTAREA" || el.tagName === "INPUT") &&
      !["datetime-local", "checkbox", "hidden"].includes(el.type);
    if (typed && el.name.includes(".")) typedGroups.add(el.name.split(".")[0]);
  }
  // A nested group (e.g. "next") is sent only when something was typed into it,
  // unless the form sends whole groups (a connector's settings: checkboxes, selects).
  for (const el of form.elements) {
    if (el.name && el.name.includes(".") && !form.hasAttribute("data-keep-groups")) {
      const group = el.name.split(".")[0];
      if (!typedGroups.has(group)) delete body[group];
    }
  }
  // A write-only secret's "clear" box sends "" for it (blank alone keeps it).
  for (const el of form.querySelectorAll("input[data-clear]")) {
    if (el.checked) setPath(body, el.dataset.clear, "");
  }
  return body;
}

// The page's language: base.html puts the translated sentences on <body> (data-t-*).
function t(key, fallback) {
  return (document.body && document.body.dataset[key]) || fallback;
}

// `outcome`: true or "ok" (green), "not_testable" (grey), anything else failed (red).
function showMessage(form, text, outcome) {
  const box = form.querySelector(".error");
  if (!box) return;
  const named = outcome === true ? "ok" : (outcome === "ok" || outcome === "not_testable" ? outcome : "failed");
  box.textContent = text;
  box.hidden = false;
  box.classList.toggle("ok", named === "ok");
  box.classList.toggle("not-testable", named === "not_testable");
  box.dataset.outcome = named;
}

// The control a 422's field key ("minutes.phone", "settings.port") names in `form`; a
// connector's own "name" comes back as "settings.name".
function fieldOf(form, key) {
  const named = (name) => {
    const el = form.elements.namedItem(name);
    return el && el.setAttribute ? el : null;
  };
  return named(key) || (key.includes(".") ? named(key.slice(key.indexOf(".") + 1)) : null);
}

function clearFieldErrors(form) {
  for (const box of form.querySelectorAll("p.field-error")) box.remove();
  for (const el of form.querySelectorAll("[data-described-before]")) {
    const before = el.dataset.describedBefore;
    if (before) el.setAttribute("aria-describedby", before); else el.removeAttribute("aria-describedby");
    el.removeAttribute("data-described-before");
    el.removeAttribute("aria-invalid");
  }
}

// A 422's field errors each beside its field, tied to it with aria-describedby (as the
// form builder does); returns how many found their field.
let fieldErrorCount = 0;
function placeFieldErrors(form, errors) {
  let placed = 0;
  for (const [key, sentence] of Object.entries(errors || {})) {
    const el = fieldOf(form, key);
    if (!el) continue;
    const box = document.createElement("p");
    fieldErrorCount += 1;
    box.id = "field-error-" + fieldErrorCount;
    box.className = "field-error";
    box.dataset.field = key;
    box.textContent = sentence;
    // After the <label> that wraps the control (grid forms), else after the control.
    const label = el.closest("label");
    (label && form.contains(label) ? label : el).insertAdjacentElement("afterend", box);
    if (!el.hasAttribute("data-described-before")) el.dataset.describedBefore = el.getAttribute("aria-describedby") || "";
    el.setAttribute("aria-describedby", ((el.getAttribute("aria-describedby") || "") + " " + box.id).trim());
    el.setAttribute("aria-invalid", "true");
    placed += 1;
  }
  return placed;
}

async function submitApiForm(event) {
  const form = event.target.closest("form[data-api]");
  if (!form) return;
  event.preventDefault();
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  let body;
  try {
    body = formJson(form);
  } catch (err) {
    showMessage(form, t("tBadJson", "A JSON field is not valid JSON:") + " " + err.message);
    return;
  }
  const method = form.dataset.method || "POST";
  let response;
  try {
    response = await fetch(form.dataset.api, {
      method,
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()},
      body: method === "DELETE" ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    showMessage(form, t("tOffline", "No connection to the server; try again."));
    return;
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  clearFieldErrors(form);
  if (!response.ok) {
    // A test the server cannot run (501) is not a failure of the connector: grey.
    const untestable = response.status === 501 && form.dataset.then === "show";
    const placed = response.status === 422 && data ? placeFieldErrors(form, data.errors) : 0;
    const sentence = placed && placed === Object.keys(data.errors).length ? t("tInvalid", "") : "";
    showMessage(form, sentence || (data && data.detail) || (t("tFailed", "Failed:") + " " + response.status),
      untestable ? "not_testable" : "failed");
    return;
  }
  const then = form.dataset.then || "reload";
  if (then === "reload") window.location.reload();
  else if (then.startsWith("/")) window.location.assign(then);  // e.g. back to a list after a delete
  else if (then === "reload-later") { form.reset(); showMessage(form, t("tAccepted", "Accepted: the lead appears in a moment."), true); }
  else if (then === "show") {
    // A test answers 200 with {"ok": false} when the connection failed: that is red.
    const ok = !(data && data.ok === false);
    const outcome = (data && data.outcome) || (ok ? "ok" : "failed");
    const text = (data && (data.detail || JSON.stringify(data))) || t("tDone", "Done.");
    const lead = outcome === "not_testable" ? "" : (ok ? t("tOk", "OK:") : t("tFailed", "Failed:")) + " ";
    showMessage(form, lead + text, outcome);
  }
}

function updateCounters(counters) {
  const colours = {overdue: "red", sla_breaches_today: "red", due_soon: "orange", new_untouched: "blue"};
  for (const [name, colour] of Object.entries(colours)) {
    const el = document.querySelector('[data-counter="' + name + '"]');
    if (!el) continue;
    el.textContent = String(counters[name]);
    const badge = el.closest(".badge");
    badge.classList.toggle(colour, counters[name] > 0);
    badge.classList.toggle("grey", counters[name] === 0);
  }
}

function startLive() {
  const list = document.querySelector("[data-live]");
  if (!list) return;
  let version = null;
  async function poll() {
    try {
      const response = await fetch(list.dataset.live, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (!response.ok) return;
      const live = await response.json();
      updateCounters(live.counters);
      if (version !== null && live.version !== version) {
        const fragment = await fetch("/queue/items" + window.location.search, {credentials: "same-origin"});
        if (fragment.ok) list.innerHTML = await fragment.text();
      }
      version = live.version;
    } catch (err) {
      // offline for a moment: try again at the next tick
    }
  }
  poll();
  window.setInterval(poll, Number(list.dataset.interval || 3000));
}

document.addEventListener("submit", submitApiForm);
document.addEventListener("DOMContentLoaded", startLive);
