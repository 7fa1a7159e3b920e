// Admin pages (people, rules), on top of app.js (its csrfToken, formJson, showMessage):
// member forms whose address names the chosen user, the password reset that shows a
// generated password once, and the routing dry run (working hours and time zones are
// hours.js's grid and picker). Server text is only ever set with textContent.
"use strict";

// Runs before app.js's own submit handler (capture phase), so it sees the result.
function prepareAdminForm(event) {
  const form = event.target;
  if (form.dataset.apiTemplate) {
    const path = form.querySelector("[data-path]");
    form.dataset.api = form.dataset.apiTemplate.replace("{" + path.dataset.path + "}", encodeURIComponent(path.value));
  }
}

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()},
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  return {response, data};
}

async function resetPassword(form) {
  const typed = form.querySelector('input[name="password"]').value;
  let result;
  try {
    result = await postJson(form.dataset.password, typed ? {password: typed} : {});
  } catch (err) {
    showMessage(form, t("tOffline", "No connection to the server; try again."));
    return;
  }
  const {response, data} = result;
  if (!response.ok) {
    showMessage(form, (data && data.detail) || (t("tFailed", "Failed:") + " " + response.status));
    return;
  }
  form.reset();
  const box = form.querySelector(".error");
  if (data.password) {
    showMessage(form, form.dataset.generated + " ", true);
    const code = document.createElement("code");
    code.className = "secret";
    code.textContent = data.password;
    box.appendChild(code);
  } else {
    showMessage(form, form.dataset.set, true);
  }
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => (values[key] === undefined || values[key] === null ? "—" : String(values[key])));
}

async function dryRun(form) {
  const out = document.getElementById("dry-run-result");
  let result;
  try {
    result = await postJson(form.dataset.dryRun, formJson(form));
  } catch (err) {
    showMessage(form, t("tOffline", "No connection to the server; try again."));
    return;
  }
  const {response, data} = result;
  if (!response.ok) {
    showMessage(form, (data && data.detail) || (t("tFailed", "Failed:") + " " + response.status));
    out.hidden = true;
    return;
  }
  form.querySelector(".error").hidden = true;
  let key = data.outcome;
  if (key === "new_lead" && data.assignee_id === null) key = "queued";
  const headline = out.querySelector(".headline");
  headline.textContent = fill(out.dataset["h" + key.replace(/(^|_)(\w)/g, (_, __, c) => c.toUpperCase())] || key,
    {manager: data.assignee_name, team: data.team});
  headline.dataset.outcome = key;
  const list = out.querySelector("dl");
  list.replaceChildren();
  for (const [step, sentence] of Object.entries(data.reasons)) {
    const dt = document.createElement("dt");
    dt.textContent = out.dataset["l" + step.charAt(0).toUpperCase() + step.slice(1)] || step;
    const dd = document.createElement("dd");
    // The server's sentence in the viewer's language and zone where the step has a
    // code; else the pipeline's own (English) sentence.
    const detail = data.details && data.details[step];
    dd.textContent = (detail && detail.text) || sentence;
    if (detail) dd.dataset.code = detail.code;
    dd.dataset.step = step;
    list.append(dt, dd);
  }
  out.hidden = false;
}

function submitAdminForm(event) {
  const form = event.target;
  if (form.dataset.password) { event.preventDefault(); resetPassword(form); }
  else if (form.dataset.dryRun) { event.preventDefault(); dryRun(form); }
}

// A number that may not be below another field of its form (spam: junk >= suspicious):
// the browser refuses it as the API would, beside the field.
function followMinimum(event) {
  const form = event.target.form;
  if (!form) return;
  for (const el of form.querySelectorAll("[data-min-from]")) {
    const other = form.elements.namedItem(el.dataset.minFrom);
    if (other && other.value !== "") el.min = other.value;
  }
}

document.addEventListener("input", followMinimum);
document.addEventListener("submit", prepareAdminForm, true);
document.addEventListener("submit", submitAdminForm);
