// The form builder (/admin/forms): field rows, a live preview and the embed snippet,
// all drawn from one model; saved as JSON through the admin forms API with the CSRF
// token. Text is only ever set with textContent or attributes (no innerHTML), and the
// snippet is serialized by the browser from elements of an inert document.
"use strict";

(function () {
  const root = document.querySelector("form[data-builder]");
  if (!root) return;
  const data = JSON.parse(document.getElementById("builder-data").textContent);
  const model = data.form;
  const rows = root.querySelector(".field-rows");
  const rowTemplate = document.getElementById("field-row");
  const preview = document.querySelector("[data-preview]");
  const snippetBox = document.querySelector(".embed-snippet");
  const rawBox = root.querySelector(".raw-json");
  const say = (key) => root.dataset[key] || "";
  const ORIGIN = /^(\*|https?:\/\/[^/\s]+)$/;
  const PAGE_LANGUAGE = document.documentElement.lang || "en";

  // A field's "type" in the builder is its kind and where its value goes, together.
  const TYPES = {
    name: {kind: "text", maps_to: "name"},
    email: {kind: "email", maps_to: "email"},
    phone: {kind: "tel", maps_to: "phone"},
    text: {kind: "text"},
    textarea: {kind: "textarea"},
    select: {kind: "select", maps_to: null},
    checkbox: {kind: "checkbox", maps_to: null},
    hidden: {kind: "hidden", maps_to: null},
  };

  function typeOf(field) {
    if (field.maps_to === "name") return "name";
    if (field.maps_to === "email") return "email";
    if (field.maps_to === "phone") return "phone";
    if (["textarea", "select", "checkbox", "hidden"].includes(field.kind)) return field.kind;
    return "text";
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // --- the form's own settings ------------------------------------------------------

  function readSettings() {
    const el = root.elements;
    model.slug = el.slug.value.trim();
    model.name = el.name.value;
    model.team = el.team.value || null;
    model.language = el.language.value || null;
    model.redirect_url = el.redirect_url.value.trim() || null;
    model.honeypot_field = el.honeypot_field.value.trim() || null;
    model.allowed_origins = el.allowed_origins.value.split("\n").map((s) => s.trim()).filter(Boolean);
    model.active = el.active.checked;
    const bad = model.allowed_origins.find((line) => !ORIGIN.test(line) || !validUrl(line));
    el.allowed_origins.setCustomValidity(bad ? say("tBadOrigin").replace("{line}", bad) : "");
  }

  function validUrl(line) {
    if (line === "*") return true;
    try { return new URL(line).origin === line.replace(/\/$/, ""); } catch (err) { return false; }
  }

  function writeSettings() {
    const el = root.elements;
    el.slug.value = model.slug || "";
    el.name.value = model.name || "";
    el.team.value = model.team || "";
    el.language.value = model.language || "";
    el.redirect_url.value = model.redirect_url || "";
    el.honeypot_field.value = model.honeypot_field || "";
    el.allowed_origins.value = (model.allowed_origins || []).join("\n");
    el.active.checked = model.active !== false;
  }

  // --- field rows -------------------------------------------------------------------

  function drawRows() {
    rows.replaceChildren();
    model.fields.forEach((field, index) => {
      const row = rowTemplate.content.firstElementChild.cloneNode(true);
      row.dataset.index = String(index);
      const prop = (name) => row.querySelector(`[data-prop="${name}"]`);
      const labels = field.labels || {};
      prop("type").value = typeOf(field);
      prop("name").value = field.name || "";
      prop("label_en").value = labels.en || (labels.ru ? "" : field.label || "");
      prop("label_ru").value = labels.ru || "";
      prop("maps_to").value = field.maps_to || "";
      prop("options").value = (field.options || []).join("\n");
      prop("value").value = field.value || "";
      prop("required").checked = Boolean(field.required);
      showFor(row, typeOf(field));
      rows.append(row);
    });
  }

  function showFor(row, type) {
    for (const part of row.querySelectorAll("[data-only]")) {
      part.hidden = !part.dataset.only.split(" ").includes(type);
    }
  }

  // The row's inputs into its field; what the type does not use is dropped.
  function readRow(row) {
    const field = model.fields[Number(row.dataset.index)];
    const prop = (name) => row.querySelector(`[data-prop="${name}"]`);
    const type = prop("type").value;
    const en = prop("label_en").value.trim();
    const ru = prop("label_ru").value.trim();
    field.name = prop("name").value.trim();
    field.labels = {};
    if (en) field.labels.en = en;
    if (ru) field.labels.ru = ru;
    field.label = en || ru || field.name;
    field.kind = TYPES[type].kind;
    if ("maps_to" in TYPES[type]) field.maps_to = TYPES[type].maps_to;
    else field.maps_to = prop("maps_to").value || null;
    field.options = type === "select" ? prop("options").value.split("\n").map((s) => s.trim()).filter(Boolean) : [];
    field.value = ["hidden", "checkbox"].includes(type) ? (prop("value").value.trim() || null) : null;
    field.required = type !== "hidden" && prop("required").checked;
    showFor(row, type);
  }

  function onRowsInput(event) {
    const row = event.target.closest(".field-row");
    if (!row) return;
    if (event.target.dataset.prop === "type") {
      // A new type brings its own mapping; "text" and "textarea" start as extra fields.
      const t = event.target.value;
      row.querySelector('[data-prop="maps_to"]').value = t === "textarea" ? "message" : "";
    }
    readRow(row);
    refresh();
  }

  function onRowsClick(event) {
    const button = event.target.closest("button");
    if (!button) return;
    const row = button.closest(".field-row");
    const index = Number(row.dataset.index);
    if (button.hasAttribute("data-remove")) {
      model.fields.splice(index, 1);
    } else if (button.dataset.move) {
      const to = index + Number(button.dataset.move);
      if (to < 0 || to >= model.fields.length) return;
      const [field] = model.fields.splice(index, 1);
      model.fields.splice(to, 0, field);
    } else {
      return;
    }
    drawRows();
    refresh();
    if (button.dataset.move) {
      const moved = rows.children[index + Number(button.dataset.move)];
      moved.querySelector(`[data-move="${button.dataset.move}"]`).focus();
    }
  }

  function addField() {
    let n = model.fields.length + 1;
    while (model.fields.some((f) => f.name === `field_${n}`)) n += 1;
    model.fields.push({name: `field_${n}`, label: `field_${n}`, labels: {}, kind: "text", maps_to: null, required: false, options: [], value: null});
    drawRows();
    refresh();
    rows.lastElementChild.querySelector('[data-prop="label_en"]').focus();
  }

  // --- the form as visitors get it: preview and snippet -----------------------------

  function formLanguage() {
    return model.language || (PAGE_LANGUAGE in data.words ? PAGE_LANGUAGE : "en");
  }

  function labelOf(field, language) {
    return (field.labels && field.labels[language]) || field.label || field.name;
  }

  // The form as elements of `doc`; `embedded` adds what another site's copy needs.
  function buildForm(doc, embedded) {
    const language = formLanguage();
    const words = data.words[language] || data.words.en;
    const id = (name) => `lf-${model.slug || "form"}-${name}`;
    const make = (tag, attrs, text) => {
      const el = doc.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
      if (text !== undefined) el.textContent = text;
      return el;
    };
    const form = make("form", {method: "post", action: `${data.base}/forms/${model.slug}`, "accept-charset": "utf-8", lang: language, class: "leadflow-form"});
    if (embedded) {
      form.append(make("input", {type: "hidden", name: "_submission_id", value: ""}));
      form.append(make("input", {type: "hidden", name: "_rt", value: ""}));
    }
    for (const field of model.fields) {
      const mark = field.required ? " *" : "";
      const common = {id: id(field.name), name: field.name, required: Boolean(field.required)};
      if (field.kind === "hidden") {
        form.append(make("input", {type: "hidden", name: field.name, value: field.value || ""}));
        continue;
      }
      const p = make("p");
      if (field.kind === "checkbox") {
        const label = make("label");
        label.append(make("input", {...common, type: "checkbox", value: field.value || "yes"}), doc.createTextNode(" " + labelOf(field, language) + mark));
        p.append(label);
      } else {
        p.append(make("label", {for: id(field.name)}, labelOf(field, language) + mark), make("br"));
        let input;
        if (field.kind === "textarea") input = make("textarea", {...common, rows: "5"});
        else if (field.kind === "select") {
          input = make("select", common);
          input.append(make("option", {value: ""}, "—"));
          for (const option of field.options || []) input.append(make("option", {}, option));
        } else input = make("input", {...common, type: field.kind || "text"});
        p.append(input);
      }
      form.append(p);
    }
    if (model.honeypot_field) {
      // Off-screen rather than display:none or type=hidden, which bots know to skip.
      const trap = make("div", {"aria-hidden": "true", class: "lf-hp"});
      if (embedded) trap.setAttribute("style", "position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden");
      trap.append(make("label", {for: id("hp")}, words.honeypot), make("input", {id: id("hp"), name: model.honeypot_field, type: "text", tabindex: "-1", autocomplete: "off"}));
      form.append(trap);
    }
    const send = make("p");
    send.append(make("button", {type: "submit"}, words.send));
    form.append(send);
    return form;
  }

  function snippet() {
    const doc = document.implementation.createHTMLDocument("");
    const html = buildForm(doc, true).outerHTML.replace(/><(p|input|div|label|button)/g, ">\n<$1");
    const tokenUrl = JSON.stringify(`${data.base}/forms/${model.slug}/token`);
    // The timing token the spam check reads: signed by our server when the page shows.
    const script = [
      "<script>",
      "(function (form) {",
      `  fetch(${tokenUrl}).then(function (r) { return r.ok ? r.json() : {}; }).then(function (t) {`,
      "    if (t.render_token) form.elements._rt.value = t.render_token;",
      "    if (t.submission_id) form.elements._submission_id.value = t.submission_id;",
      "  }).catch(function () {});",
      "})(document.currentScript.previousElementSibling);",
      "</script>",
    ].join("\n");
    return html + "\n" + script;
  }

  function refresh() {
    const form = buildForm(document, false);
    form.addEventListener("submit", (event) => event.preventDefault());
    preview.replaceChildren(form);
    snippetBox.value = snippet();
    if (document.activeElement !== rawBox) rawBox.value = JSON.stringify(model, null, 2);
  }

  // --- saving -----------------------------------------------------------------------

  function clearErrors() {
    for (const box of root.querySelectorAll("[data-err], [data-row-err]")) { box.hidden = true; box.textContent = ""; }
    for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  // Each of the API's errors beside its field: "fields.2.label" goes to the third row.
  function showErrors(errors, detail) {
    let placed = false;
    for (const [key, sentence] of Object.entries(errors || {})) {
      const parts = key.split(".");
      let box = null;
      if (parts[0] === "fields" && parts.length > 1 && rows.children[Number(parts[1])]) {
        const row = rows.children[Number(parts[1])];
        box = row.querySelector("[data-row-err]");
        const input = row.querySelector(`[data-prop="${parts[2] === "label" ? "label_en" : parts[2]}"]`);
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        box = root.querySelector(`[data-err="${parts[0]}"]`);
        const input = root.elements[parts[0]];
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
      }
      if (!box) continue;
      box.textContent = (box.textContent ? box.textContent + " " : "") + (parts.length > 2 ? parts.slice(2).join(".") + ": " : "") + sentence;
      box.hidden = false;
      placed = true;
    }
    const general = root.querySelector('[data-err="body"]');
    general.textContent = placed ? say("tInvalid") : detail;
    general.hidden = false;
    general.dataset.outcome = "failed";
  }

  async function save(event) {
    event.preventDefault();
    readSettings();
    clearErrors();
    if (!root.reportValidity()) return;
    const body = {...model};
    if (!data.creating) delete body.slug;
    let response;
    try {
      response = await fetch(root.dataset.builderApi, {
        method: root.dataset.builderMethod,
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()},
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      showErrors({}, say("tOffline"));
      return;
    }
    let answer = null;
    try { answer = await response.json(); } catch (err) { answer = null; }
    if (!response.ok) {
      showErrors(answer && answer.errors, (answer && answer.detail) || `${say("tFailed")} ${response.status}`);
      return;
    }
    if (data.creating) window.location.assign(`/admin/forms/${encodeURIComponent(model.slug)}`);
    else {
      const box = root.querySelector('[data-err="body"]');
      box.textContent = say("tSaved");
      box.hidden = false;
      box.classList.add("ok");
      box.dataset.outcome = "ok";
    }
  }

  function applyJson() {
    let parsed;
    try {
      parsed = JSON.parse(rawBox.value);
    } catch (err) {
      showErrors({}, `${say("tBadJson")} ${err.message}`);
      return;
    }
    clearErrors();
    Object.assign(model, parsed);
    if (!Array.isArray(model.fields)) model.fields = [];
    writeSettings();
    drawRows();
    refresh();
  }

  writeSettings();
  drawRows();
  refresh();
  rows.addEventListener("input", onRowsInput);
  rows.addEventListener("change", onRowsInput);
  rows.addEventListener("click", onRowsClick);
  root.addEventListener("input", (event) => { if (!event.target.closest(".field-rows, .raw")) { readSettings(); refresh(); } });
  root.addEventListener("change", (event) => { if (!event.target.closest(".field-rows, .raw")) { readSettings(); refresh(); } });
  root.querySelector("[data-add-field]").addEventListener("click", addField);
  root.querySelector("[data-apply-json]").addEventListener("click", applyJson);
  root.addEventListener("submit", save);
})();
