// A product's variants: the master first, then the others in the order added, each with its
// SKU, variant-level attributes, selected price, whole price list and stock. With a token that
// may write, each row opens the forms that change it (attributes, stock, prices) and removes it
// (not the master), and a form adds a variant. Every command goes out through the product
// page's `send`, so it names the version the page shows (If-Match) as the page's own forms do.

import { command, describe, maxLength, skuPattern } from "./api.js";
import { clearProblems, field, formatMoney, formatPrice, h, minorDigits, replace, toMinor } from "./dom.js";
import { attributeRows, inLocale, typedAttributes } from "./attributes.js";
import { priceListEditor } from "./prices.js";

const MASTER = "master";

/** The lowest of the variants' selected prices, in the currency of `product`'s own price. */
export function lowestPrice(product) {
  const currency = product.price?.currency;
  return (product.variants ?? [])
    .map((v) => v.price)
    .filter((price) => price && (!currency || price.currency === currency))
    .reduce((low, price) => (!low || price.amount < low.amount ? price : low), null);
}

function attributeText(attributes) {
  const entries = Object.entries(attributes ?? {});
  return entries.length ? entries.map(([key, value]) => `${key}: ${value}`).join(", ") : "—";
}

/** The whole list under the selected price, folded: a variant holds up to a hundred. */
function priceSummary(prices) {
  if (!prices.length) return h("span", { class: "hint" }, "no prices");
  return h("details", { class: "price-summary" },
    h("summary", {}, `${prices.length} price${prices.length === 1 ? "" : "s"}`),
    h("ul", {}, prices.map((price) => h("li", {}, formatPrice(price)))));
}

const same = (a, b) => {
  const sorted = (o) => JSON.stringify(Object.entries(o ?? {}).sort(([x], [y]) => x.localeCompare(y)));
  return sorted(a) === sorted(b);
};

/**
 * `product`'s variants as a table. With `send` (the page's way to run a command against the
 * version on view: `send(run, {form, message})`, `run(version)` sending it) each row has its
 * actions and a form adds a variant; `type()` reads a typed product's type, whose variant-level
 * attributes those forms ask for.
 */
export function variantsTable(product, { send = null, type = null } = {}) {
  const variants = product.variants ?? [];
  const base = `/products/${product.id}`;
  // New prices are in the currency of the master's base price.
  const currency = variants[0]?.prices[0]?.currency ?? product.price?.currency ?? "EUR";
  const columns = send ? 5 : 4;
  let open = null;

  const pathOf = (variant) => `${base}/variants/${encodeURIComponent(variant.id)}`;
  // A variant's texts are served in one locale only, so an ltext value is sent in the one on view.
  const ltext = (d, raw) => inLocale(product.locale, raw);

  const table = h("table", { class: "variants" },
    h("thead", {}, h("tr", {},
      ["SKU", "Attributes", "Price", "Stock"].map((c) => h("th", {}, c)),
      send ? h("th", {}, h("span", { class: "visually-hidden" }, "Actions")) : null)),
    h("tbody", {}, variants.length
      ? variants.map(row)
      : h("tr", {}, h("td", { colspan: columns, class: "hint" }, "This read holds no variants."))));
  if (!send) return table;
  const newButton = h("button", {
    type: "button", "aria-expanded": "false",
    onclick: () => toggle("new", newButton, () => h("div", { class: "variant-panel" }, addForm()), (panel) => newButton.after(panel)),
  }, "New variant");
  return h("div", { class: "variants-box" }, table, newButton);

  function row(variant) {
    const master = variant.id === MASTER;
    const tr = h("tr", { dataset: { variant: variant.id } },
      h("td", {}, h("span", { class: "variant-sku" }, variant.sku), master ? [" ", h("span", { class: "badge badge-master" }, "master")] : null),
      h("td", {}, attributeText(variant.attributes)),
      h("td", { class: "variant-price" },
        variant.prices.length
          ? h("span", { title: variant.price ? null : "No price applies now in this currency" }, variant.price ? formatMoney(variant.price) : "—")
          : null,
        priceSummary(variant.prices)),
      h("td", { class: "variant-stock" }, String(variant.stock)));
    if (!send) return tr;
    const opener = (label, kind, form) => {
      const button = h("button", {
        type: "button", class: "small", "aria-expanded": "false",
        onclick: () => toggle(`${variant.id}:${kind}`, button,
          () => h("tr", { class: "variant-panel" }, h("td", { colspan: columns }, form(variant))),
          (panel) => tr.after(panel)),
      }, label);
      return button;
    };
    tr.append(h("td", {}, h("div", { class: "actions" },
      opener("Edit", "attributes", attributesForm),
      opener("Stock", "stock", stockForm),
      opener("Prices", "prices", pricesForm),
      master ? null : h("button", { type: "button", class: "danger small", onclick: () => remove(variant) }, "Remove"))));
    return tr;
  }

  /** Opens the panel `key` (closing any other), or closes it when it is the one open. */
  function toggle(key, button, build, place) {
    const again = open?.key === key;
    close();
    if (again) return;
    const panel = build();
    place(panel);
    button.setAttribute("aria-expanded", "true");
    open = { key, panel, button };
    panel.querySelector("input, select")?.focus();
  }

  function close() {
    open?.panel.remove();
    open?.button.setAttribute("aria-expanded", "false");
    open = null;
  }

  /**
   * A panel's form: `prepare(form)` returns the command to send against a version, null when
   * nothing changed, or throws what the user must fix first.
   */
  function panelForm(name, title, fields, prepare, submit = "Save") {
    const message = h("p", { class: "form-message", role: "status" });
    const form = h("form", {
      class: "edit variant-form", dataset: { form: name }, onsubmit: (e) => {
        e.preventDefault();
        clearProblems(form);
        let run;
        try {
          run = prepare(form);
        } catch (err) {
          message.textContent = err.message;
          return;
        }
        if (!run) { message.textContent = "Nothing changed."; return; }
        message.textContent = "Saving…";
        send(run, { form, message });
      },
    },
    h("h3", {}, title),
    fields,
    h("div", { class: "actions" },
      h("button", { type: "submit" }, submit),
      h("button", { type: "button", class: "link", onclick: close }, "Cancel")),
    message);
    return form;
  }

  /** The attribute inputs, filled from `values`: the type's variant-level ones once it is read,
   * else key/value rows. */
  function attributeEditor(values) {
    if (!product.type) return attributeRows(values);
    let typed = null;
    const element = h("div", { class: "attribute-slot" }, h("p", {}, "Loading the type's attributes…"));
    type()
      .then((definition) => {
        typed = typedAttributes(definition.attributes, values, "variant");
        replace(element, typed.element);
      })
      .catch((err) => replace(element, h("p", { class: "error" }, describe(err))));
    const read = (form, text) => {
      if (!typed) throw new Error("The type's attributes are still loading.");
      return typed.read(form, text);
    };
    return { element, read };
  }

  function addForm() {
    const sku = h("input", { required: true, maxlength: maxLength("sku"), pattern: skuPattern() });
    const attributes = attributeEditor({});
    const amount = h("input", { type: "number", min: 0, step: 10 ** -minorDigits(currency) });
    const stock = h("input", { type: "number", min: 0, step: 1 });
    return panelForm("variant-new", "Add a variant", [
      field("SKU", sku, "sku"),
      attributes.element,
      field(`Price in ${currency} (optional)`, amount, "prices[0].amount"),
      field("Stock (optional)", stock, "stock"),
    ], (form) => {
      const body = { sku: sku.value.trim(), attributes: attributes.read(form, ltext) };
      if (amount.value !== "") body.prices = [{ amount: toMinor(amount.value, currency), currency }];
      if (stock.value !== "") body.stock = Number(stock.value);
      return (version) => command("POST", `${base}/variants`, { body, ifMatch: version });
    }, "Add variant");
  }

  function attributesForm(variant) {
    const attributes = attributeEditor(variant.attributes);
    return panelForm("variant-attributes", `Attributes of ${variant.sku}`, [attributes.element], (form) => {
      // As shown (each text in the locale on view), to see whether anything changed.
      if (same(attributes.read(form, (d, raw) => raw), variant.attributes)) return null;
      const body = { attributes: attributes.read(form, ltext) };
      return (version) => command("PATCH", pathOf(variant), { body, ifMatch: version });
    });
  }

  function stockForm(variant) {
    const delta = h("input", { type: "number", step: 1, required: true });
    const reason = h("input", { required: true, maxlength: maxLength("reason") });
    return panelForm("variant-stock", `Adjust the stock of ${variant.sku}`, [
      field("Change (+ or −)", delta, "delta"),
      field("Reason", reason, "reason"),
    ], () => {
      const body = { delta: Number(delta.value), reason: reason.value.trim() };
      return (version) => command("POST", `${pathOf(variant)}/stock-adjustments`, { body, ifMatch: version });
    });
  }

  function pricesForm(variant) {
    const master = variant.id === MASTER;
    const editor = priceListEditor(variant.prices, { currency, master });
    return panelForm("variant-prices", `Prices of ${variant.sku}`, [editor.element], () => {
      const body = { prices: editor.read() };
      if (JSON.stringify(body.prices) === JSON.stringify(variant.prices)) return null;
      return (version) => command("PUT", master ? `${base}/prices` : `${pathOf(variant)}/prices`, { body, ifMatch: version });
    });
  }

  function remove(variant) {
    if (!confirm(`Remove the variant ${variant.sku}? Its SKU becomes free for another.`)) return;
    send((version) => command("DELETE", pathOf(variant), { ifMatch: version }));
  }
}
