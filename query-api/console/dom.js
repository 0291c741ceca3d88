// Building DOM nodes from data. Text always goes in as text nodes, never as HTML, so nothing a
// product holds can become markup.

/**
 * h("a", {href: "#/", class: "x", onclick: fn}, "text", child, [more]) -> HTMLElement.
 * Attributes whose value is null, undefined or false are left out; `true` sets an empty one.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces everything inside `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const money = new Map();

/** 1999 EUR -> "€19.99", in the reader's locale, with the currency's own minor units. */
export function formatMoney(price) {
  if (!price) return "";
  let format = money.get(price.currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency: price.currency });
    } catch {
      format = { format: (n) => `${n} ${price.currency}`, resolvedOptions: () => ({}) };
    }
    money.set(price.currency, format);
  }
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(price.amount / 10 ** digits);
}

/** The number of minor units a currency has (2 for EUR, 0 for JPY). */
export function minorDigits(currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency })
      .resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

const UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600],
  ["minute", 60], ["second", 1]];

/** A <time> showing "3 minutes ago", with the full date and time as its title. */
export function timeAgo(iso) {
  const date = new Date(iso);
  const seconds = (date.getTime() - Date.now()) / 1000;
  const [unit, size] = UNITS.find(([, size]) => Math.abs(seconds) >= size) ?? UNITS.at(-1);
  return h("time", { datetime: iso, title: dateTime.format(date) },
    relative.format(Math.round(seconds / size), unit));
}

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}` }, status);
}

let fields = 0;

/** A labelled control: the label names the control by `for`, so its name is the label alone. */
export function field(label, control) {
  control.id ||= `field-${++fields}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}
