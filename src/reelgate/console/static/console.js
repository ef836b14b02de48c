// The console's own script: follow a task live over its event stream (EventSource sends
// the session cookie; the stream answers only this account's tasks), then swap in the
// finished card. Everything else is plain HTML with htmx attributes.
"use strict";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

function addHistory(data) {
  // one row per event, once (a reconnect resumes after the last id, the page has the rest)
  const body = document.querySelector("#history tbody");
  if (!body || body.querySelector(`[data-seq="${data.seq}"]`)) return;
  const row = document.createElement("tr");
  row.dataset.seq = String(data.seq);
  const at = (data.at || "").replace("T", " ").replace("Z", "").slice(0, 19);
  for (const [label, text] of [["#", data.seq], ["Status", data.status],
      ["Upstream", data.minimax_status || "—"], ["At", at]]) {
    const cell = document.createElement("td");
    cell.dataset.label = label;
    cell.textContent = String(text);
    row.appendChild(cell);
  }
  const empty = body.querySelector("td[colspan]");
  if (empty) empty.parentElement.remove();
  body.appendChild(row);
}

function follow(card) {
  if (card.dataset.following) return;
  card.dataset.following = "1";
  const source = new EventSource(card.dataset.events);
  source.addEventListener("status", (message) => {
    const data = JSON.parse(message.data);
    const badge = card.querySelector("[data-status]");
    if (badge) {
      badge.textContent = data.status;
      badge.className = "status s-" + data.status;
    }
    addHistory(data);
    const upstream = card.querySelector("[data-minimax]");
    if (upstream && data.minimax_status) upstream.textContent = data.minimax_status;
    if (TERMINAL.has(data.status)) {
      source.close();
      delete card.dataset.events;
      htmx.ajax("GET", card.dataset.card, { target: card, swap: "innerHTML" });
    }
  });
  source.onerror = () => {
    // The stream ended (the server closes it after the last event) or broke: the browser
    // reconnects with Last-Event-ID by itself unless the card has been replaced.
    if (!document.body.contains(card)) source.close();
  };
}

function start(root) {
  root.querySelectorAll("[data-events]").forEach(follow);
}

document.addEventListener("DOMContentLoaded", () => start(document));
document.addEventListener("htmx:load", (event) => start(event.target));
