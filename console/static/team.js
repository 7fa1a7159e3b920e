// The team board: polls /api/v1/team, updates the cells in place (text only, never
// HTML) and keeps the rows in the order the head chose by clicking a column.
"use strict";

(function () {
  const table = document.getElementById("team-board");
  if (!table) return;
  const body = table.tBodies[0];
  let sortField = "name";
  let ascending = true;

  function stateLabel(code) {
    return table.dataset["state" + code.split("_").map((p) => p[0].toUpperCase() + p.slice(1)).join("")] || code;
  }

  function setCell(tr, field, value, text, red) {
    const td = tr.querySelector('[data-field="' + field + '"]');
    if (!td) return;
    td.dataset.value = String(value);
    if (field === "state") {
      const chip = td.querySelector(".chip");
      chip.textContent = text;
      chip.className = "chip state-" + value;
      tr.className = "state-" + value;
    } else if (field !== "name") {
      td.textContent = text;
    }
    if (red !== undefined) td.classList.toggle("red", red);
  }

  function update(row) {
    const tr = body.querySelector('tr[data-user="' + row.user_id + '"]');
    if (!tr) return false;
    setCell(tr, "state", row.state, stateLabel(row.state));
    setCell(tr, "overdue", row.overdue, String(row.overdue), row.overdue > 0);
    setCell(tr, "untouched", row.untouched, String(row.untouched));
    setCell(tr, "due_today", row.due_today, String(row.due_today));
    const load = row.load_pct === null ? -1 : row.load_pct;
    setCell(tr, "load_pct", load, row.open_leads + " / " + (row.capacity === null ? "—" : row.capacity), load >= 100);
    setCell(tr, "sla_late_today", row.sla_late_today, row.sla_kept_today + " / " + row.sla_late_today, row.sla_late_today > 0);
    return true;
  }

  function sortRows() {
    const rows = Array.from(body.querySelectorAll("tr[data-user]"));
    const key = (tr) => tr.querySelector('[data-field="' + sortField + '"]').dataset.value;
    const numeric = sortField !== "name" && sortField !== "state";
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      const tie = a.querySelector('[data-field="name"]').dataset.value.localeCompare(
        b.querySelector('[data-field="name"]').dataset.value);
      return (ascending ? order : -order) || tie;
    });
    for (const tr of rows) body.appendChild(tr);
    for (const th of table.tHead.querySelectorAll("th")) {
      const button = th.querySelector("button[data-sort]");
      th.setAttribute("aria-sort", button.dataset.sort === sortField ? (ascending ? "ascending" : "descending") : "none");
    }
  }

  table.tHead.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-sort]");
    if (!button) return;
    const field = button.dataset.sort;
    // Numbers start with the largest (who needs help first), names from A.
    if (field === sortField) ascending = !ascending;
    else { sortField = field; ascending = field === "name" || field === "state"; }
    sortRows();
  });

  let version = table.dataset.version;
  async function poll() {
    try {
      const response = await fetch(table.dataset.board, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (!response.ok) return;
      const board = await response.json();
      if (board.version === version) return;
      version = board.version;
      const known = body.querySelectorAll("tr[data-user]").length;
      const all = board.rows.every(update);
      if (!all || board.rows.length !== known) { window.location.reload(); return; }
      table.dataset.version = version;
      sortRows();
    } catch (err) {
      // offline for a moment: try again at the next tick
    }
  }
  window.setInterval(poll, Number(table.dataset.interval || 5000));
})();
