// A product's history as a timeline: who did what, when, and what it changed. Each entry comes
// with its changes ({field, from, to}, raw JSON values) worked out by the server with the domain's
// own fold, so the console shows a field's value before and after without knowing what an event
// means.

import { formatMoney, formatPrice, h, timeAgo } from "./dom.js";

const LABELS = {
  ProductCreated: "Created",
  DetailsUpdated: "Details edited",
  PriceChanged: "Price changed",
  StockAdjusted: "Stock adjusted",
  ProductPublished: "Published",
  ProductUnpublished: "Unpublished",
  ProductArchived: "Archived",
  ImageAttached: "Image uploaded",
  ImageRemoved: "Image removed",
  ImageProcessed: "Image rendered",
  ImageProcessingFailed: "Image failed",
  VariantAdded: "Variant added",
  VariantAttributesChanged: "Variant edited",
  VariantRemoved: "Variant removed",
  VariantStockAdjusted: "Variant stock adjusted",
  PricesSet: "Prices set",
};

const attributeText = (attributes) => Object.entries(attributes ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ");

function show(field, value) {
  if (value == null || value === "") return "—";
  if (field === "price") return formatMoney(value);
  if (field === "prices") return value.map(formatPrice).join("; ");
  if (field === "variant_attributes") return attributeText(value);
  // A variant other than the master, whole.
  if (field.startsWith("variants.")) {
    const prices = value.prices.length;
    return [value.sku, attributeText(value.attributes), `${prices} price${prices === 1 ? "" : "s"}`, `stock ${value.stock}`]
      .filter(Boolean).join(" · ");
  }
  // A localized text (name, description, an ltext attribute): each locale's text.
  if (typeof value === "object" && !Array.isArray(value)
      && Object.values(value).every((text) => typeof text === "string")) {
    return Object.entries(value).map(([tag, text]) => `${tag}: ${text}`).join(" · ");
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The master's fields beside the product's own, as history lists them: its list beyond the
 * base price (which is `price`), and its variant-level attributes. */
const MASTER_FIELDS = {
  prices: (master) => (master?.prices.length > 1 ? master.prices : null),
  variant_attributes: (master) => (Object.keys(master?.attributes ?? {}).length ? master.attributes : null),
};

/**
 * [{field, from, to}] for every field that differs between two ProductViews, values shown. The
 * same fields, in the same order, as the changes the server sends with each history entry.
 */
export function changes(before, after) {
  const out = [];
  const compare = (field, from, to) => {
    if (JSON.stringify(from ?? null) !== JSON.stringify(to ?? null)) out.push({ field, from: show(field, from), to: show(field, to) });
  };
  const value = (product, field) => (MASTER_FIELDS[field] ? MASTER_FIELDS[field](product.variants?.[0]) : product[field]);
  for (const field of ["sku", "name", "description", "category", "price", "prices", "stock", "status", "variant_attributes"]) {
    compare(field, value(before, field), value(after, field));
  }
  const keys = new Set([...Object.keys(before.attributes ?? {}), ...Object.keys(after.attributes ?? {})]);
  for (const key of [...keys].sort()) {
    compare(`attributes.${key}`, before.attributes?.[key], after.attributes?.[key]);
  }
  const others = (product) => (product.variants ?? []).slice(1);
  const whole = (product, id) => {
    const v = others(product).find((x) => x.id === id);
    return v ? { sku: v.sku, attributes: v.attributes, prices: v.prices, stock: v.stock } : null;
  };
  for (const id of new Set([...others(before), ...others(after)].map((v) => v.id))) {
    compare(`variants.${id}`, whole(before, id), whole(after, id));
  }
  return out;
}

/** A change as a history entry carries it (raw values, `null` when unset), its values shown. */
function shown({ field, from, to }) {
  return { field, from: show(field, from), to: show(field, to) };
}

/** The rows of `changes` as a table: field, value before (crossed out), value after. */
export function diffTable(rows, { caption = null, before = true } = {}) {
  return h("table", { class: "diff" },
    caption ? h("caption", {}, caption) : null,
    h("tbody", {}, rows.map((c) => h("tr", {},
      h("th", { scope: "row" }, c.field),
      before ? [
        h("td", { class: "from" }, c.from),
        h("td", { class: "arrow", "aria-hidden": "true" }, "→")] : null,
      h("td", { class: "to" }, c.to)))));
}

/** What an entry says beyond the field changes: a reason, an image, a failure. */
function notes(entry) {
  const d = entry.data ?? {};
  switch (entry.type) {
    case "StockAdjusted": return [`${d.delta > 0 ? "+" : ""}${d.delta}`, d.reason];
    case "ImageAttached": return [`image ${d.image_id?.slice(0, 8)}`, d.original?.content_type, d.original?.bytes != null ? `${Math.round(d.original.bytes / 1024)} KiB` : null];
    case "ImageRemoved": return [`image ${d.image_id?.slice(0, 8)}`];
    case "ImageProcessed": return [`image ${d.image_id?.slice(0, 8)}`, `${d.width}×${d.height}`, `${Object.keys(d.renditions ?? {}).length} renditions`];
    case "ImageProcessingFailed": return [`image ${d.image_id?.slice(0, 8)}`, d.reason];
    case "VariantAdded": case "VariantRemoved": return [d.sku];
    case "VariantStockAdjusted": return [`${d.delta > 0 ? "+" : ""}${d.delta}`, d.reason];
    default: return [];
  }
}

/**
 * The timeline, newest first. `onView(sequence)` is called when the user asks to see the product
 * as it stood after an entry; `selected` marks the version on view.
 */
export function timeline(entries, { selected, onView }) {
  const items = entries.map((entry) => {
    const diff = (entry.changes ?? []).map(shown);
    const known = LABELS[entry.type];
    return h("li", { class: `entry${entry.sequence === selected ? " selected" : ""}`, dataset: { sequence: entry.sequence, type: entry.type } },
      h("div", { class: "entry-head" },
        h("span", { class: "entry-version" }, `v${entry.sequence}`),
        h("span", { class: "entry-type" }, known ?? entry.type),
        h("span", { class: "entry-actor", title: "actor" }, entry.actor),
        timeAgo(entry.recorded_at),
        h("button", { type: "button", class: "link", onclick: () => onView(entry.sequence), "aria-label": `View version ${entry.sequence}` }, "view")),
      // A first value has nothing to be crossed out.
      diff.length ? diffTable(diff, { before: entry.type !== "ProductCreated" }) : null,
      h("p", { class: "entry-notes" }, notes(entry).filter(Boolean).join(" · ")),
      known ? null : h("pre", { class: "entry-data" }, JSON.stringify(entry.data, null, 2)),
      h("p", { class: "entry-ids" }, `correlation ${entry.correlation_id ?? "—"}`));
  });
  return h("ol", { class: "timeline", reversed: true }, items.reverse());
}
