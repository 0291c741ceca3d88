// Product types: the list (#/types), one type with its attributes (#/types/{key}), and, with a
// token of scope catalog:admin, defining a new type (#/types/new) or changing one. The service
// judges every change (compatible changes only); its refusals are shown field by field.

import { ApiError, canWrite, command, describe, hasScope, read } from "./api.js";
import { field, h, replace } from "./dom.js";

const KINDS = ["text", "ltext", "number", "boolean", "enum", "date"];
const KEY_PATTERN = "[a-z0-9\\-]{1,64}";

const canDefine = () => canWrite() && hasScope("catalog:admin");

function failure(err) {
  return h("p", { class: "error", role: "alert" }, describe(err));
}

/** The list of every type, with a link to each. */
export function typesView(root) {
  document.title = "Product types · Catalog console";
  replace(root, h("h1", {}, "Product types"), h("p", {}, "Loading…"));
  // An answer that comes after the page was left must not replace the page shown since.
  let disposed = false;
  read("/product-types")
    .then(({ items }) => {
      if (disposed) return;
      replace(root,
        h("div", { class: "heading-row" },
          h("h1", {}, "Product types"),
          canDefine() ? h("a", { href: "#/types/new", class: "button" }, "New type") : null),
        items.length === 0
          ? h("p", { class: "empty" }, "No product types yet: products are untyped, with free text attributes.")
          : h("table", { class: "types" },
            h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Name"), h("th", {}, "Attributes"), h("th", {}, "Version"))),
            h("tbody", {}, items.map((t) => h("tr", { dataset: { key: t.key } },
              h("td", {}, h("a", { href: `#/types/${t.key}` }, t.key)),
              h("td", {}, t.name),
              h("td", {}, t.attributes.map((a) => a.name).join(", ") || "—"),
              h("td", {}, `v${t.version}`))))));
    })
    .catch((err) => {
      if (!disposed) replace(root, h("h1", {}, "Product types"), failure(err));
    });
  return { dispose: () => { disposed = true; } };
}

/** One attribute definition as an editable row; `fixed` keeps its name (a stored attribute). */
function attributeRow(definition = {}, fixed = false) {
  const name = h("input", { name: "name", value: definition.name ?? "", required: true, readOnly: fixed, pattern: "[a-z][a-z0-9_]{0,63}", "aria-label": "Attribute name", size: 16 });
  const kind = h("select", { name: "type", "aria-label": "Attribute type" },
    KINDS.map((k) => h("option", { value: k, selected: (definition.type ?? "text") === k }, k)));
  const values = h("input", { name: "values", value: (definition.values ?? []).join(", "), placeholder: "a, b, c", "aria-label": "Enum values", size: 18 });
  const required = h("input", { type: "checkbox", name: "required", checked: Boolean(definition.required), "aria-label": "Required" });
  const level = h("select", { name: "level", "aria-label": "Level" },
    ["product", "variant"].map((l) => h("option", { value: l, selected: (definition.level ?? "product") === l }, l)));
  const facet = h("input", { type: "checkbox", name: "facet", checked: Boolean(definition.facet), "aria-label": "Facet" });
  const showValues = () => { values.disabled = kind.value !== "enum"; };
  kind.addEventListener("change", showValues);
  showValues();
  const row = h("tr", { class: "attribute" },
    h("td", {}, name), h("td", {}, kind), h("td", {}, values), h("td", {}, required),
    h("td", {}, level), h("td", {}, facet),
    h("td", {}, fixed ? null : h("button", { type: "button", class: "link", onclick: () => row.remove() }, "remove")));
  row.definition = () => {
    const out = { name: name.value.trim(), type: kind.value, required: required.checked, level: level.value, facet: facet.checked };
    if (kind.value === "enum") out.values = values.value.split(",").map((v) => v.trim()).filter(Boolean);
    return out;
  };
  return row;
}

/** The form that defines `type` (a new one when null), sent as PUT /product-types/{key}. */
function typeForm(type, onSaved) {
  const key = h("input", { name: "key", value: type?.key ?? "", required: true, pattern: KEY_PATTERN, readOnly: Boolean(type), placeholder: "mug", size: 20 });
  const name = h("input", { name: "name", value: type?.name ?? "", required: true, maxlength: 200, size: 30 });
  const rows = h("tbody", {}, (type?.attributes ?? []).map((a) => attributeRow(a, true)));
  const message = h("div", { class: "form-message", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, type ? "Save type" : "Create type");
  const form = h("form", { class: "type-form", onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    replace(message);
    const body = { name: name.value.trim(), attributes: [...rows.children].map((r) => r.definition()) };
    try {
      const saved = await command("PUT", `/product-types/${encodeURIComponent(key.value.trim())}`, { body });
      replace(message, h("p", { class: "ok", role: "status" }, `Saved: version ${saved.version}.`));
      onSaved(key.value.trim());
    } catch (err) {
      replace(message, failure(err instanceof ApiError ? err : new ApiError(0, { detail: String(err) })));
    } finally {
      submit.disabled = false;
    }
  } },
  h("div", { class: "filter-row" }, field("Key", key), field("Name", name)),
  h("table", { class: "attributes" },
    h("caption", {}, "Attributes"),
    h("thead", {}, h("tr", {}, ["Name", "Type", "Values", "Required", "Level", "Facet", ""].map((c) => h("th", {}, c)))),
    rows),
  h("div", { class: "actions" },
    h("button", { type: "button", onclick: () => rows.append(attributeRow()) }, "Add attribute"),
    submit),
  message);
  return form;
}

/** One type: its attributes, and the form that changes it for an admin. */
export function typeView(root, key) {
  document.title = `${key} · Product types · Catalog console`;
  let disposed = false;
  const show = () => {
    read(`/product-types/${encodeURIComponent(key)}`)
      .then((type) => {
        if (disposed) return;
        replace(root,
          h("p", {}, h("a", { href: "#/types" }, "← Product types")),
          h("h1", {}, type.name, " ", h("small", {}, `${type.key} · v${type.version}`)),
          canDefine()
            ? typeForm(type, () => show())
            : h("table", { class: "attributes" },
              h("thead", {}, h("tr", {}, ["Name", "Type", "Values", "Required", "Level", "Facet"].map((c) => h("th", {}, c)))),
              h("tbody", {}, type.attributes.map((a) => h("tr", {},
                h("td", {}, a.name), h("td", {}, a.type), h("td", {}, (a.values ?? []).join(", ")),
                h("td", {}, a.required ? "yes" : ""), h("td", {}, a.level ?? "product"), h("td", {}, a.facet ? "yes" : ""))))));
      })
      .catch((err) => {
        if (!disposed) replace(root, h("p", {}, h("a", { href: "#/types" }, "← Product types")), failure(err));
      });
  };
  show();
  return { dispose: () => { disposed = true; } };
}

/** A new type. */
export function newTypeView(root) {
  document.title = "New product type · Catalog console";
  replace(root,
    h("p", {}, h("a", { href: "#/types" }, "← Product types")),
    h("h1", {}, "New product type"),
    canDefine()
      ? typeForm(null, (key) => { location.hash = `#/types/${key}`; })
      : h("p", { class: "error" }, "Defining types needs scope catalog:admin: sign in as an admin, or use a token that has it."));
  return {};
}
