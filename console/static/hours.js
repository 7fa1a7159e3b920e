// The working-hours grid and the time-zone picker (templates/_hours_grid.html).
// The grid keeps its hidden input's JSON ({"mon": [["09:00", "18:00"]], ..., "sun": []},
// every day present, or null for "always") in step with what is ticked and typed, and refuses in the browser what
// the API would refuse (an interval that ends before it starts, overlaps), beside it.
"use strict";

(function () {
  const minutes = (hhmm) => { const [h, m] = hhmm.split(":").map(Number); return h * 60 + m; };

  function spanRow(grid, start, end) {
    const span = document.createElement("span");
    span.className = "hours-span";
    const input = (value, label) => {
      const el = document.createElement("input");
      el.type = "time";
      el.required = true;
      el.value = value === "24:00" ? "00:00" : value;
      el.setAttribute("aria-label", label);
      return el;
    };
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary";
    remove.dataset.removeSpan = "";
    remove.textContent = "×";
    remove.setAttribute("aria-label", grid.dataset.tRemove);
    span.append(input(start, grid.dataset.tFrom), document.createTextNode("–"), input(end, grid.dataset.tTo), remove);
    return span;
  }

  function draw(grid, hours) {
    grid.querySelector("[data-always]").checked = hours === null;
    for (const row of grid.querySelectorAll(".hours-day")) {
      // "Always" unticked starts from a usual week: Monday to Friday, 09:00-18:00.
      const weekend = ["sat", "sun"].includes(row.dataset.day);
      const spans = hours ? hours[row.dataset.day] || [] : (weekend ? [] : [["09:00", "18:00"]]);
      const box = row.querySelector(".hours-spans");
      box.replaceChildren(...spans.map(([s, e]) => spanRow(grid, s, e)));
      const off = spans.length === 0;
      row.querySelector("[data-off]").checked = off;
      row.toggleAttribute("data-off", off);
    }
  }

  // The grid as the API's JSON; marks (and returns false for) a day that cannot be.
  function collect(grid) {
    const hidden = grid.querySelector("input[type=hidden]");
    const days = grid.querySelector("[data-days]");
    const error = grid.querySelector("[data-hours-error]");
    error.hidden = true;
    for (const el of grid.querySelectorAll("input[type=time]")) el.setCustomValidity("");
    const always = grid.querySelector("[data-always]").checked;
    days.hidden = always;
    for (const el of days.querySelectorAll("input, button")) el.disabled = always;
    if (always) { hidden.value = "null"; return; }
    const hours = {};
    for (const row of grid.querySelectorAll(".hours-day")) {
      const off = row.querySelector("[data-off]").checked;
      row.toggleAttribute("data-off", off);
      for (const el of row.querySelectorAll(".hours-spans input, [data-add-span]")) el.disabled = off;
      if (off) { hours[row.dataset.day] = []; continue; }
      const spans = [];
      for (const span of row.querySelectorAll(".hours-span")) {
        const [from, to] = span.querySelectorAll("input[type=time]");
        if (!from.value || !to.value) continue;
        // A time input cannot say 24:00: an end of 00:00 is the midnight that ends the day.
        const end = to.value === "00:00" ? "24:00" : to.value;
        if (minutes(from.value) >= minutes(end)) { refuse(grid, to, grid.dataset.tOrder); continue; }
        spans.push([from.value, end, to]);
      }
      spans.sort((a, b) => minutes(a[0]) - minutes(b[0]));
      for (let i = 1; i < spans.length; i += 1) {
        if (minutes(spans[i][0]) < minutes(spans[i - 1][1])) refuse(grid, spans[i][2], grid.dataset.tOverlap);
      }
      // Every day is sent, a day off as []: a week of days off is "never on duty",
      // not {} (which once read as "no hours set", i.e. always working).
      hours[row.dataset.day] = spans.map(([s, e]) => [s, e]);
    }
    hidden.value = JSON.stringify(hours);
  }

  function refuse(grid, input, sentence) {
    input.setCustomValidity(sentence);
    const error = grid.querySelector("[data-hours-error]");
    error.textContent = sentence;
    error.hidden = false;
  }

  function setUp(grid) {
    const hidden = grid.querySelector("input[type=hidden]");
    let hours = null;
    try { hours = JSON.parse(hidden.value || "null"); } catch (err) { hours = null; }
    draw(grid, hours);
    collect(grid);
    grid.addEventListener("input", () => collect(grid));
    grid.addEventListener("change", (event) => {
      const row = event.target.closest(".hours-day");
      if (row && event.target.matches("[data-off]") && !event.target.checked && !row.querySelector(".hours-span")) {
        row.querySelector(".hours-spans").append(spanRow(grid, "09:00", "18:00"));
      }
      collect(grid);
    });
    grid.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      const row = button.closest(".hours-day");
      if (button.hasAttribute("data-add-span")) {
        const last = row.querySelectorAll(".hours-span input[type=time]");
        const after = last.length ? last[last.length - 1].value : "09:00";
        row.querySelector(".hours-spans").append(spanRow(grid, after || "09:00", "18:00"));
      } else if (button.hasAttribute("data-remove-span")) {
        button.closest(".hours-span").remove();
      }
      collect(grid);
    });
  }

  // A zone from the list, or a city typed instead ("москва", "new york") read as its zone.
  // Read once per <datalist>: one list may serve every picker of a page.
  const lists = new Map();
  function zonesOf(id) {
    if (!lists.has(id)) {
      const list = document.getElementById(id);
      const zones = new Map();
      for (const option of list.options) {
        zones.set(option.value.toLowerCase(), option.value);
        const city = (option.label || "").split(" · ")[0].trim().toLowerCase();
        if (city && !zones.has(city)) zones.set(city, option.value);
      }
      lists.set(id, {zones, known: new Set([...list.options].map((o) => o.value))});
    }
    return lists.get(id);
  }

  function setUpZone(input) {
    const {zones, known} = zonesOf(input.getAttribute("list"));
    const check = () => {
      const found = zones.get(input.value.trim().toLowerCase());
      if (!known.has(input.value) && found) input.value = found;
      input.setCustomValidity(known.has(input.value) ? "" : input.dataset.tUnknown);
    };
    input.addEventListener("change", check);
    input.addEventListener("input", () => { if (known.has(input.value)) input.setCustomValidity(""); });
    input.addEventListener("blur", check);
    // Checked before the page's own submit handler reads the form.
    const form = input.form;
    if (form) form.addEventListener("submit", (event) => { check(); if (!input.checkValidity()) { event.preventDefault(); event.stopImmediatePropagation(); input.reportValidity(); } }, true);
  }

  function start() {
    for (const grid of document.querySelectorAll("[data-hours-grid]")) setUp(grid);
    for (const input of document.querySelectorAll("[data-zone-picker]")) setUpZone(input);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
