// Attribute inputs: for a typed product one control per attribute its type defines at a level
// (the product's, or each variant's), of the attribute's kind (an enum as a select, a number, a
// yes/no, a date, a text, a text in the locale being edited); for an untyped variant key/value
// rows. Each gives back the attributes it holds, as the service takes them.

import { errorSlot, field, h } from "./dom.js";

/** Tags offered for the locale texts are entered in (any BCP 47 tag may be typed). */
export const LOCALES = ["en", "de", "de-CH", "fr", "it", "es", "nl", "pl"];

/** A text in `tag` as the service takes it: a plain string (the default locale) without one. */
export function inLocale(tag, text) {
  return tag ? { [tag]: text } : text;
}

/** The field that names the locale texts are entered in; empty is the default locale. */
export function textLocaleField(value = "") {
  const control = h("input", { name: "text_locale", value, list: "text-locales", size: 8, placeholder: "default", pattern: "[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*" });
  const box = field("Texts in", control);
  box.append(h("datalist", { id: "text-locales" }, LOCALES.map((tag) => h("option", { value: tag }))));
  return box;
}

function control(definition, value) {
  const name = `attr.${definition.name}`;
  const label = `${definition.name}${definition.required ? "" : " (optional)"}`;
  const required = Boolean(definition.required);
  return field(label, input(definition, name, required, value), `attributes.${definition.name}`);
}

function input(definition, name, required, value) {
  switch (definition.type) {
    case "enum":
      return h("select", { name, required },
        h("option", { value: "" }, required ? "Choose…" : "—"),
        (definition.values ?? []).map((v) => h("option", { value: v, selected: value === v }, v)));
    case "number":
      return h("input", { name, type: "number", step: "any", required, value: value ?? "" });
    case "boolean":
      return h("select", { name, required },
        h("option", { value: "" }, "—"),
        h("option", { value: "true", selected: value === true }, "yes"),
        h("option", { value: "false", selected: value === false }, "no"));
    case "date":
      return h("input", { name, type: "date", required, value: value ?? "" });
    default:
      return h("input", { name, required, value: value ?? "" });
  }
}

/**
 * The controls for those of `definitions` (a type's attributes) at `level`, `product` or
 * `variant`, filled from `values` (a ProductView's or a variant's attributes, `ltext` ones shown
 * in one locale), and `read(form, text)` giving back the attributes object to send.
 * `text(definition, value)` turns an `ltext` attribute's entered value into what is sent (a text
 * in the locale being edited, merged with its other locales when editing).
 */
export function typedAttributes(definitions, values = {}, level = "product") {
  const own = definitions.filter((d) => (d.level ?? "product") === level);
  const element = h("fieldset", { class: "typed-attributes" },
    h("legend", {}, "Attributes"),
    own.length ? own.map((d) => control(d, values[d.name])) : h("p", {}, `The type defines no ${level} attributes.`));
  const read = (form, text) => {
    const data = new FormData(form);
    const out = {};
    for (const d of own) {
      const raw = String(data.get(`attr.${d.name}`) ?? "").trim();
      if (raw === "") continue;
      switch (d.type) {
        case "number": out[d.name] = Number(raw); break;
        case "boolean": out[d.name] = raw === "true"; break;
        case "ltext": out[d.name] = text(d, raw); break;
        default: out[d.name] = raw;
      }
    }
    return out;
  };
  return { element, read };
}

/**
 * An untyped variant's attributes as key/value rows, filled from `values`, and `read()` giving
 * back the attributes object to send. A value without a key, or a key given twice, is an error
 * the form shows.
 */
export function attributeRows(values = {}) {
  const rows = h("div", { class: "attribute-rows" });
  const add = (key = "", value = "") => {
    const row = h("div", { class: "attribute-row" },
      h("input", { value: key, "aria-label": "Attribute key", size: 14, maxlength: 100 }),
      h("input", { value, "aria-label": "Attribute value", size: 24, maxlength: 1000 }),
      h("button", { type: "button", class: "link", onclick: () => row.remove() }, "remove"),
      errorSlot(""));
    rows.append(row);
  };
  for (const [key, value] of Object.entries(values)) add(key, String(value));
  if (!rows.childElementCount) add();
  const element = h("fieldset", { class: "typed-attributes attribute-editor" },
    h("legend", {}, "Attributes"),
    rows,
    h("button", { type: "button", class: "small", onclick: () => add() }, "Add attribute"));
  const read = () => {
    const out = {};
    for (const row of rows.children) {
      const [key, value] = [...row.querySelectorAll("input")].map((i) => i.value.trim());
      if (!key && !value) continue;
      if (!key) throw new Error(`The value "${value}" needs a key.`);
      if (Object.hasOwn(out, key)) throw new Error(`The attribute ${key} is given twice.`);
      // The service names a refused value by its key.
      row.querySelector(".field-error").dataset.errorFor = `attributes.${key}`;
      out[key] = value;
    }
    return out;
  };
  return { element, read };
}
