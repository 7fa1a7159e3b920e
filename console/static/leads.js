// LeadFlow console: the board's moves and the lead card's contact form.
// A move calls POST /api/v1/leads/{id}/status with the CSRF token: the API decides,
// and a card it refuses goes back where it was, with the reason shown. Text from the
// server is only ever set with textContent.
"use strict";

function leadsCsrf() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function callApi(url, method, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": leadsCsrf()},
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    const offline = (document.body && document.body.dataset.tOffline) || "No connection to the server; try again.";
    return {ok: false, status: 0, data: {detail: offline}};
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  return {ok: response.ok, status: response.status, data};
}

// --- the board ---------------------------------------------------------------------

// A column's count is its total (cards beyond the shown ones too): one up or down a move.
function shiftCount(column, by) {
  const count = column.querySelector("[data-count]");
  const total = Number(count.dataset.total || count.textContent.replace(/\D/g, "")) + by;
  count.dataset.total = String(total);
  count.textContent = String(total);
}

function boardMessage(board, card, text) {
  const box = document.getElementById("board-error");
  for (const el of [box, card.querySelector(".error")]) {
    if (!el) continue;
    el.textContent = text;
    el.hidden = !text;
  }
}

async function moveCard(board, card, to) {
  const from = card.dataset.status;
  if (!to || to === from || card.dataset.busy) return;
  const home = card.parentElement;
  const next = card.nextElementSibling;
  const target = board.querySelector('.board-column[data-status="' + to + '"] .board-cards');
  const select = card.querySelector("select[data-move]");
  card.dataset.busy = "1";
  boardMessage(board, card, "");
  target.prepend(card);  // at once: the person sees the move they made
  const result = await callApi("/api/v1/leads/" + card.dataset.lead + "/status", "POST", {status: to});
  delete card.dataset.busy;
  if (result.ok) {
    card.dataset.status = to;
    card.classList.remove("overdue");
    if (select) select.value = to;
    shiftCount(home.closest(".board-column"), -1);
    shiftCount(target.closest(".board-column"), 1);
    return;
  }
  // Refused: the card goes back where it was, and says why.
  home.insertBefore(card, next && next.parentElement === home ? next : null);
  if (select) select.value = from;
  const needsCard = (to === "junk" || to === "converted") && result.status === 422;
  const text = needsCard ? board.dataset.tNeedsCard : ((result.data && result.data.detail) || String(result.status));
  boardMessage(board, card, text);
  card.dataset.refused = to;
}

function startBoard() {
  const board = document.getElementById("board");
  if (!board) return;
  let dragged = null;
  board.addEventListener("dragstart", (event) => {
    const card = event.target.closest && event.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.lead);
  });
  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    for (const c of board.querySelectorAll(".drop-here")) c.classList.remove("drop-here");
    dragged = null;
  });
  board.addEventListener("dragover", (event) => {
    const column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    for (const c of board.querySelectorAll(".drop-here")) if (c !== column) c.classList.remove("drop-here");
    column.classList.add("drop-here");
  });
  board.addEventListener("drop", (event) => {
    const column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.remove("drop-here");
    const card = dragged;
    dragged = null;
    // The card moves in the DOM before "dragend" comes, which some browsers then skip.
    card.classList.remove("dragging");
    moveCard(board, card, column.dataset.status);
  });
  board.addEventListener("change", (event) => {
    const select = event.target.closest && event.target.closest("select[data-move]");
    if (!select) return;
    moveCard(board, select.closest(".board-card"), select.value);
  });
}

// --- the contact form on the lead card ---------------------------------------------

async function submitContact(event) {
  const form = event.target.closest("form[data-contact-api]");
  if (!form) return;
  event.preventDefault();
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "submit") continue;
    body[el.name] = el.value.trim() === "" ? null : el.value;
  }
  for (const el of form.querySelectorAll(".field-error")) { el.textContent = ""; el.hidden = true; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const box = form.querySelector(".form-error");
  box.hidden = true;
  const result = await callApi(form.dataset.contactApi, "PATCH", body);
  if (result.ok) { window.location.reload(); return; }
  const errors = (result.data && result.data.errors) || {};
  for (const [field, text] of Object.entries(errors)) {
    const slot = form.querySelector('.field-error[data-for="' + field + '"]');
    const input = form.elements.namedItem(field);
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
    if (slot) { slot.textContent = String(text); slot.hidden = false; }
  }
  box.textContent = (result.data && result.data.detail) || String(result.status);
  box.hidden = false;
}

document.addEventListener("submit", submitContact);
document.addEventListener("DOMContentLoaded", startBoard);
