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

/** 1999 EUR -> "19.99": an amount as a number input holds it, in major units. */
export function toMajor(price) {
  const digits = minorDigits(price.currency);
  return (price.amount / 10 ** digits).toFixed(digits);
}

/** "19.99" EUR -> 1999: an amount typed in major units, in the currency's minor units. */
export function toMinor(amount, currency) {
  return Math.round(Number(amount) * 10 ** minorDigits(currency));
}

const shortDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A price of a list in one line: "€8.00 · b2b · 5 Dec 2026, 00:00 – 8 Dec 2026, 00:00". */
export function formatPrice(price) {
  const from = price.valid_from ? shortDateTime.format(new Date(price.valid_from)) : null;
  const until = price.valid_until ? shortDateTime.format(new Date(price.valid_until)) : null;
  const when = from || until ? `${from ?? "…"} – ${until ?? "…"}` : null;
  return [formatMoney(price), price.channel, when].filter(Boolean).join(" · ");
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

/**
 * A labelled control: the label names the control by `for`, so its name is the label alone.
 * `errorFor`, a field as the service's errors name it, adds the slot for its word on that field.
 */
export function field(label, control, errorFor) {
  control.id ||= `field-${++fields}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control,
    errorFor == null ? null : errorSlot(errorFor));
}

/** The place beside a control for the service's word on `name`, a field as its errors name it. */
export function errorSlot(name) {
  return h("span", { class: "field-error", dataset: { errorFor: name } });
}

/**
 * Shows why a command was refused: each field error in `form`'s slot for that field (see
 * `errorSlot`), the problem's detail and the errors no slot takes in `message`.
 */
export function showProblem(form, message, err) {
  clearProblems(form);
  const slots = [...form.querySelectorAll(".field-error")];
  const unplaced = [];
  for (const error of err.problem?.errors ?? []) {
    const slot = slots.find((s) => s.dataset.errorFor === error.field);
    if (slot) slot.textContent = error.message;
    else unplaced.push(`${error.field}: ${error.message}`);
  }
  message.textContent = [err.message, ...unplaced].join(" — ");
}

/** Empties the slots of an earlier refusal. */
export function clearProblems(form) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
}
