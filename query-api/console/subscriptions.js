// Webhook subscriptions (#/subscriptions), scope catalog:admin: the list with how each one's
// deliveries go (status, delivered position, failures, the last error, the next attempt),
// adding one, resuming one that failed and removing one. The service judges every change; its
// refusals are shown beside the field they name.

import { ApiError, canWrite, command, commandRead, describe, hasScope, read } from "./api.js";
import { clearProblems, field, h, replace, showProblem, statusBadge, timeAgo } from "./dom.js";

const SUBSCRIPTION_NAME = "[A-Za-z0-9._\\-]{1,64}";
const subscriptionPath = (name) => `/subscriptions/${encodeURIComponent(name)}`;

let knownEventTypes = null;

/**
 * The event types a subscription may name: the enum of the change feed's `types` parameter in
 * the query API's OpenAPI document, read once. Null when it cannot be read (the form then takes
 * the types as text), and read again next time.
 */
function eventTypes() {
  knownEventTypes ??= read("/openapi.json")
    .then(typesEnum)
    .catch(() => {
      knownEventTypes = null;
      return null;
    });
  return knownEventTypes;
}

function typesEnum(document) {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations ?? {})) {
      const types = operation?.parameters?.find?.((p) => p.name === "types");
      const values = types?.schema?.items?.enum;
      if (values?.length) return values;
    }
  }
  return null;
}

/**
 * The event types input: a comma-separated list until the known types are read, then a
 * multiple select of them (unless something was typed meanwhile). `read()` gives the names.
 */
function eventTypesInput() {
  const text = h("input", { name: "types", placeholder: "ProductCreated, StockAdjusted", size: 40 });
  let select = null;
  eventTypes().then((names) => {
    if (!names || text.value.trim() || !text.isConnected) return;
    select = h("select", { name: "types", multiple: true, size: 6, id: text.id },
      names.map((name) => h("option", { value: name }, name)));
    text.replaceWith(select);
  });
  const read = () => (select
    ? [...select.selectedOptions].map((o) => o.value)
    : text.value.split(",").map((t) => t.trim()).filter(Boolean));
  return { control: text, read };
}

/** Why a subscription is not delivering, and what happens next. */
function deliveryNote(subscription) {
  const error = subscription.last_error ? h("span", { class: "error" }, subscription.last_error) : null;
  const since = subscription.failing_since
    ? h("span", { class: "hint" }, "failing since ", timeAgo(subscription.failing_since))
    : null;
  if (subscription.status === "retrying") {
    return [error, since, h("span", { class: "hint" }, "next attempt ", timeAgo(subscription.next_attempt_at))];
  }
  if (subscription.status === "paused") {
    return [error, since, h("span", { class: "hint" }, "not retried until resumed")];
  }
  return error ?? h("span", { class: "hint" }, "—");
}

/** The webhook subscriptions, each with its delivery state, and the form that adds one. */
export function subscriptionsView(root) {
  document.title = "Webhook subscriptions · Catalog console";
  const heading = h("h1", {}, "Webhook subscriptions");
  // Subscriptions are kept by the command API, behind scope catalog:admin.
  if (!canWrite()) {
    replace(root, heading, h("p", { class: "error" }, "This console is read-only: webhook subscriptions are kept by the command API, and none is configured."));
    return {};
  }
  if (!hasScope("catalog:admin")) {
    replace(root, heading, h("p", { class: "error", role: "alert" }, "Webhook subscriptions need a token with scope catalog:admin."));
    return {};
  }

  let generation = 0;
  let disposed = false;
  let shown = [];
  let open = null;
  const summary = h("p", { class: "summary", role: "status" });
  const notice = h("p", { class: "notice", role: "status" });
  const rows = h("tbody");
  const table = h("table", { class: "subscriptions", hidden: true },
    h("thead", {}, h("tr", {},
      ["Name", "URL", "Events", "Status", "Delivered up to", "Failures", "Last error"].map((c) => h("th", {}, c)),
      h("th", {}, h("span", { class: "visually-hidden" }, "Actions")))),
    rows);
  replace(root,
    h("div", { class: "heading-row" }, heading,
      // A fresh read: what was said about an earlier action no longer describes the list.
      h("button", { type: "button", onclick: () => { replace(notice); load(); } }, "Refresh")),
    h("p", { class: "hint" }, "Each subscription receives the change feed by POST, signed with its secret, from the dispatcher (projector webhooks)."),
    notice, summary, table, addForm());
  load();
  return { dispose: () => { disposed = true; } };

  /**
   * Reads the list. A newer read supersedes one still running, whose answer is then dropped:
   * nothing waits for it, so the summary always ends with the latest read's outcome.
   */
  async function load() {
    const mine = ++generation;
    summary.textContent = shown.length ? "Refreshing…" : "Loading…";
    try {
      const { items } = await commandRead("/subscriptions");
      if (disposed || mine !== generation) return;
      show(items);
    } catch (err) {
      if (disposed || mine !== generation) return;
      replace(summary, h("span", { class: "error" }, describe(err)));
    }
  }

  function show(items) {
    shown = items;
    open = null;
    rows.replaceChildren(...items.map(row));
    table.hidden = items.length === 0;
    summary.textContent = items.length === 0
      ? "No webhook subscriptions yet: nothing is delivered."
      : `${items.length} subscription${items.length === 1 ? "" : "s"}`;
  }

  function say(text, kind = "ok") {
    replace(notice, h("span", { class: kind }, text));
  }

  function row(subscription) {
    const tr = h("tr", { dataset: { subscription: subscription.name, status: subscription.status } },
      h("td", { class: "subscription-name" }, subscription.name),
      h("td", { class: "subscription-url" }, subscription.url),
      h("td", { class: "subscription-types" }, subscription.types.length ? subscription.types.join(", ") : h("span", { class: "hint" }, "all")),
      h("td", { class: "subscription-status" }, statusBadge(subscription.status)),
      h("td", { class: "subscription-position" }, String(subscription.delivered_position)),
      h("td", { class: "subscription-failures" }, String(subscription.failures)),
      h("td", { class: "subscription-error" }, deliveryNote(subscription)));
    const resume = h("button", {
      type: "button", class: "small", "aria-expanded": "false",
      onclick: () => toggleResume(subscription, tr, resume),
    }, "Resume");
    tr.append(h("td", {}, h("div", { class: "actions" },
      subscription.status === "active" ? null : resume,
      h("button", { type: "button", class: "danger small", onclick: () => remove(subscription) }, "Remove"))));
    return tr;
  }

  function toggleResume(subscription, tr, button) {
    const again = open?.name === subscription.name;
    open?.panel.remove();
    open?.button.setAttribute("aria-expanded", "false");
    open = null;
    if (again) return;
    const panel = h("tr", { class: "subscription-panel" },
      h("td", { colspan: 8 }, resumeForm(subscription, () => toggleResume(subscription, tr, button))));
    tr.after(panel);
    button.setAttribute("aria-expanded", "true");
    open = { name: subscription.name, panel, button };
    panel.querySelector("input").focus();
  }

  /**
   * Resuming is a PUT of what the subscription holds: the API never returns the secret, so it
   * is asked for. Any PUT makes the subscription active and due at once, its failures cleared;
   * without from_position it carries on after the position it has delivered up to.
   */
  function resumeForm(subscription, cancel) {
    const secret = h("input", { type: "password", name: "secret", required: true, maxlength: 1024, autocomplete: "new-password" });
    const message = h("p", { class: "form-message", role: "status" });
    const submit = h("button", { type: "submit" }, "Resume");
    const form = h("form", {
      class: "edit subscription-form", dataset: { form: "resume" }, onsubmit: async (e) => {
        e.preventDefault();
        clearProblems(form);
        submit.disabled = true;
        message.textContent = "Saving…";
        const body = { url: subscription.url, secret: secret.value, types: subscription.types };
        try {
          const saved = await command("PUT", subscriptionPath(subscription.name), { body });
          say(`Resumed ${saved.name}: ${saved.status}, delivering after position ${saved.delivered_position}.`);
          load();
        } catch (err) {
          showProblem(form, message, err);
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h3", {}, `Resume ${subscription.name}`),
    h("p", { class: "hint" }, "The secret is never shown again, so give it here: the one the receiver checks signatures with. Delivery carries on after position ",
      String(subscription.delivered_position), ", to the same URL and event types."),
    field("Secret", secret, "secret"),
    h("div", { class: "actions" }, submit, h("button", { type: "button", class: "link", onclick: cancel }, "Cancel")),
    message);
    return form;
  }

  async function remove(subscription) {
    if (!confirm(`Remove the subscription ${subscription.name}? Nothing more is delivered to ${subscription.url}.`)) return;
    try {
      await command("DELETE", subscriptionPath(subscription.name));
      say(`Removed ${subscription.name}.`);
    } catch (err) {
      say(describe(err), "error");
    }
    load();
  }

  function addForm() {
    const name = h("input", { name: "name", required: true, pattern: SUBSCRIPTION_NAME, maxlength: 64, placeholder: "erp-sync", size: 24 });
    const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://erp.example.com/catalog-hook", size: 48 });
    const secret = h("input", { name: "secret", type: "password", required: true, maxlength: 1024, autocomplete: "new-password" });
    const types = eventTypesInput();
    const from = h("input", { name: "from_position", type: "number", min: 0, step: 1, size: 10 });
    const message = h("p", { class: "form-message", role: "status" });
    const submit = h("button", { type: "submit" }, "Add subscription");
    const form = h("form", {
      class: "edit create subscription-form", dataset: { form: "subscribe" }, onsubmit: async (e) => {
        e.preventDefault();
        clearProblems(form);
        message.classList.remove("error");
        const key = name.value.trim();
        // A PUT to a name taken changes that subscription: ask before replacing it.
        if (shown.some((s) => s.name === key)
          && !confirm(`A subscription named ${key} exists. Replace its URL, secret and event types?`)) return;
        const body = { url: url.value.trim(), secret: secret.value, types: types.read() };
        if (from.value !== "") body.from_position = Number(from.value);
        submit.disabled = true;
        message.textContent = "Saving…";
        try {
          const saved = await command("PUT", subscriptionPath(key), { body });
          message.textContent = "";
          say(`Saved ${saved.name}: ${saved.status}, delivering events after position ${saved.delivered_position}.`);
          form.reset();
          load();
        } catch (err) {
          message.classList.add("error");
          showProblem(form, message, err instanceof ApiError ? err : new ApiError(0, { detail: String(err) }));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", {}, "Add a subscription"),
    field("Name", name, "name"),
    field("URL", url, "url"),
    field("Secret", secret, "secret"),
    h("p", { class: "hint" }, "Signs every delivery (Catalog-Signature); it is never shown again."),
    field("Event types", types.control, "types"),
    h("p", { class: "hint" }, "None chosen: every type. Ctrl- or ⌘-click to choose several."),
    field("Start after position (optional)", from, "from_position"),
    h("p", { class: "hint" }, "Empty: the events stored from now on; 0 replays the whole feed."),
    h("div", { class: "actions" }, submit),
    message);
    return h("section", { class: "subscription-add" }, form);
  }
}
