// Attribute inputs for a typed product: one control per product-level attribute its type
// defines, of the attribute's kind (an enum as a select, a number, a yes/no, a date, a text, a
// text in the locale being edited), and the attributes they hold, as the service takes them.

import { field, h } from "./dom.js";

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
  switch (definition.type) {
    case "enum":
      return field(label, h("select", { name, required },
        h("option", { value: "" }, required ? "Choose…" : "—"),
        (definition.values ?? []).map((v) => h("option", { value: v, selected: value === v }, v))));
    case "number":
      return field(label, h("input", { name, type: "number", step: "any", required, value: value ?? "" }));
    case "boolean":
      return field(label, h("select", { name, required },
        h("option", { value: "" }, "—"),
        h("option", { value: "true", selected: value === true }, "yes"),
        h("option", { value: "false", selected: value === false }, "no")));
    case "date":
      return field(label, h("input", { name, type: "date", required, value: value ?? "" }));
    default:
      return field(label, h("input", { name, required, value: value ?? "" }));
  }
}

/**
 * The controls for `definitions` (a type's attributes; variant-level ones are left to variants),
 * filled from `values` (a ProductView's attributes, `ltext` ones shown in one locale), and
 * `read(form, text)` giving back the attributes object to send. `text(definition, value)` turns
 * an `ltext` attribute's entered value into what is sent (a text in the locale being edited,
 * merged with its other locales when editing).
 */
export function typedAttributes(definitions, values = {}) {
  const own = definitions.filter((d) => (d.level ?? "product") === "product");
  const element = h("fieldset", { class: "typed-attributes" },
    h("legend", {}, "Attributes"),
    own.length ? own.map((d) => control(d, values[d.name])) : h("p", {}, "The type defines no product attributes."));
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
