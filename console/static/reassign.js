// Bulk reassignment on the queue: the checked leads survive the live list's refresh
// (the queue swaps its fragment when something changes) and are posted as one call.
"use strict";

(function () {
  const form = document.getElementById("reassign-form");
  const list = document.getElementById("queue-items");
  if (!form || !list) return;
  const selected = new Set();
  const all = document.getElementById("select-page");
  const count = form.querySelector("[data-selected]");

  function boxes() {
    return Array.from(list.querySelectorAll('input[name="lead_ids"]'));
  }

  function refresh() {
    const shown = boxes();
    for (const box of shown) box.checked = selected.has(box.value);
    count.textContent = String(selected.size);
    all.checked = shown.length > 0 && shown.every((box) => box.checked);
  }

  function say(text, ok) {
    const box = form.querySelector(".error");
    box.textContent = text;
    box.hidden = false;
    box.classList.toggle("ok", ok);
    box.dataset.outcome = ok ? "ok" : "failed";
  }

  list.addEventListener("change", (event) => {
    const box = event.target.closest('input[name="lead_ids"]');
    if (!box) return;
    if (box.checked) selected.add(box.value); else selected.delete(box.value);
    refresh();
  });
  all.addEventListener("change", () => {
    for (const box of boxes()) {
      if (all.checked) selected.add(box.value); else selected.delete(box.value);
    }
    refresh();
  });
  new MutationObserver(refresh).observe(list, {childList: true});

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (selected.size === 0) { say(form.dataset.tNone, false); return; }
    const body = {
      lead_ids: Array.from(selected),
      manager_id: Number(form.elements.manager_id.value),
      reason: form.elements.reason.value,
    };
    let response;
    try {
      response = await fetch(form.dataset.reassign, {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken()},
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      say(t("tOffline", "No connection to the server; try again."), false);
      return;
    }
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      say((data && data.detail) || (t("tFailed", "Failed:") + " " + response.status), false);
      return;
    }
    say(form.dataset.tMoved.replace("{name}", data.manager_name)
      .replace("{moved}", String(data.moved.length))
      .replace("{unchanged}", String(data.unchanged.length)), true);
    selected.clear();
    form.elements.reason.value = "";
    refresh();
  });
  refresh();
})();
