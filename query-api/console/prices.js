// A variant's price list as rows to edit: the amount in major units, the currency, a channel,
// and the window the price applies in, entered in local time and sent as UTC. The service judges
// the list whole; its refusals name a row (`prices[2]`) or one of its fields
// (`prices[2].valid_from`), and are shown there.

import { errorSlot, h, minorDigits, toMajor, toMinor } from "./dom.js";

const CHANNEL_PATTERN = "[a-z0-9\\-]{1,64}";
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** An RFC 3339 instant as a datetime-local input holds it: local time, to the minute unless
 * the instant has seconds of its own. */
function localValue(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString();
  return local.slice(0, date.getUTCSeconds() ? 19 : 16);
}

/** A datetime-local input's value (local time) as an RFC 3339 instant in UTC. */
function instant(value) {
  return value ? new Date(value).toISOString().replace(".000Z", "Z") : undefined;
}

/** A slot for a refusal of this row (`part` empty) or of one of its fields. */
function slot(part = "") {
  const element = errorSlot("");
  element.dataset.part = part;
  return element;
}

function priceRow(price, onRemove) {
  const currency = h("input", { value: price.currency, required: true, maxlength: 3, pattern: "[A-Z]{3}", size: 4, "aria-label": "Currency" });
  const amount = h("input", {
    type: "number", min: 0, step: 10 ** -minorDigits(price.currency), required: true, size: 9, "aria-label": "Amount",
    value: price.amount == null ? "" : toMajor(price),
  });
  currency.addEventListener("change", () => { amount.step = 10 ** -minorDigits(currency.value); });
  const channel = h("input", { value: price.channel ?? "", pattern: CHANNEL_PATTERN, size: 10, placeholder: "every", "aria-label": "Channel" });
  const when = (name, label) => {
    const value = localValue(price[name]);
    // A step of a second only where a stored instant needs it: minutes are what people enter.
    return h("input", { type: "datetime-local", value, step: value.length > 16 ? 1 : null, "aria-label": label });
  };
  const from = when("valid_from", "Valid from");
  const until = when("valid_until", "Valid until");
  const cell = (control, part) => h("td", {}, control, slot(part));
  const row = h("tbody", { class: "price" },
    h("tr", {},
      cell(amount, "amount"), cell(currency, "currency"), cell(channel, "channel"),
      cell(from, "valid_from"), cell(until, "valid_until"),
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => { row.remove(); onRemove(); } }, "remove"))),
    h("tr", { class: "price-problem" }, h("td", { colspan: 6 }, slot())));
  row.price = () => ({
    amount: toMinor(amount.value, currency.value.trim()),
    currency: currency.value.trim(),
    channel: channel.value.trim() || undefined,
    valid_from: instant(from.value),
    valid_until: instant(until.value),
  });
  return row;
}

/**
 * The rows of `prices` (a variant's list; one empty row in `currency` when it has none), and
 * `read()` giving back the list to send, row by row. `master` says the first row is the base
 * price, which the service wants undated and for every channel.
 */
export function priceListEditor(prices, { currency, master = false }) {
  const table = h("table", { class: "price-list" },
    h("thead", {}, h("tr", {}, ["Amount", "Currency", "Channel", "Valid from", "Valid until", ""].map((c) => h("th", {}, c)))));
  const empty = h("p", { class: "hint" }, "No prices: the variant has no price until one is added.");
  const shown = () => { empty.hidden = table.tBodies.length > 0; };
  const add = (price) => {
    table.append(priceRow(price, shown));
    shown();
  };
  for (const price of prices) add(price);
  if (!prices.length) add({ currency });
  const element = h("div", { class: "price-editor" },
    h("p", { class: "hint" }, master
      ? `The first price is the base price: undated, for every channel. Times are local (${ZONE}).`
      : `Without a channel a price applies to every channel; without dates, always. Times are local (${ZONE}).`),
    table,
    empty,
    h("button", { type: "button", class: "small", onclick: () => add({ currency }) }, "Add price"));
  const read = () => [...table.tBodies].map((row, i) => {
    // The service names a price by its place in the list as sent.
    for (const s of row.querySelectorAll(".field-error")) {
      s.dataset.errorFor = s.dataset.part ? `prices[${i}].${s.dataset.part}` : `prices[${i}]`;
    }
    return row.price();
  });
  return { element, read };
}
