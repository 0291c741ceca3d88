// The status strip: the relay's backlog, how far the read model trails the event store and how
// many images are rendering, from GET /status, refreshed while the page is visible.

import { read } from "./api.js";
import { h, replace } from "./dom.js";

const EVERY_MS = 2000;

export function statusStrip(el) {
  let timer = null;

  const item = (label, value, level) =>
    h("span", { class: `status-item ${level}` }, h("span", { class: "dot", "aria-hidden": "true" }), `${label} `, h("b", {}, value));

  async function refresh() {
    clearTimeout(timer);
    try {
      const s = await read("/status");
      const lag = s.projection.lag_seconds;
      replace(el,
        item("Relay backlog", `${s.relay.backlog}${s.relay.backlog_capped ? "+" : ""}`, s.relay.backlog > 1000 ? "bad" : s.relay.backlog > 0 ? "busy" : "ok"),
        item("Projection lag", `${lag.toFixed(1)} s${s.projection.products_behind ? ` (${s.projection.products_behind} behind)` : ""}`, lag > 5 ? "bad" : lag > 0 ? "busy" : "ok"),
        item("Images processing", String(s.images.processing), s.images.processing ? "busy" : "ok"));
      el.dataset.state = "ok";
    } catch (err) {
      replace(el, item("Status", err.status ? `unavailable (${err.status})` : "query API unreachable", "bad"));
      el.dataset.state = "down";
    }
    if (!document.hidden) timer = setTimeout(refresh, EVERY_MS);
  }

  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  refresh();
}
