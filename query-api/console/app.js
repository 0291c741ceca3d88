// The console's entry point: the header (token, locale, status strip) and a router over the
// URL's fragment: #/ (the list, filters in its query), #/new, #/products/{id}[?version=n],
// #/types, #/types/new, #/types/{key}, #/subscriptions, #/imports.

import { canWrite, chosenLocale, claims, hasScope, loadConfig, setLocale, setToken, token } from "./api.js";
import { h, replace } from "./dom.js";
import { importsView } from "./imports.js";
import { listView } from "./list.js";
import { newProductView, productView } from "./product.js";
import { statusStrip } from "./status.js";
import { subscriptionsView } from "./subscriptions.js";
import { newTypeView, typesView, typeView } from "./types.js";

const main = document.querySelector("main");
let current = null;

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const product = path.match(/^\/products\/([0-9a-f-]{36})$/i);
  const type = path.match(/^\/types\/([a-z0-9-]{1,64})$/);
  const key = product ? `product:${product[1]}`
    : path === "/new" ? "new"
      : path === "/types" ? "types"
        : path === "/types/new" ? "new-type"
          : path === "/subscriptions" ? "subscriptions"
            : path === "/imports" ? "imports"
            : type ? `type:${type[1]}` : "list";
  // The same page with other parameters (filters, a past version) updates in place.
  if (current?.key === key && current.view?.update) {
    current.view.update(params);
    return;
  }
  current?.view?.dispose?.();
  document.title = "Catalog console";
  let view;
  if (product) view = productView(main, product[1], params);
  else if (key === "new") view = newProductView(main);
  else if (key === "types") view = typesView(main);
  else if (key === "new-type") view = newTypeView(main);
  else if (type) view = typeView(main, type[1]);
  else if (key === "subscriptions") view = subscriptionsView(main);
  else if (key === "imports") view = importsView(main);
  else view = listView(main, params);
  current = { key, view };
  main.focus({ preventScroll: true });
}

function tokenBox() {
  const box = document.querySelector("#token");
  const dialog = document.querySelector("#token-dialog");
  const field = dialog.querySelector("textarea");
  // Only an admin can read subscriptions, so only an admin is offered the page.
  const subscriptions = document.querySelector("#nav-subscriptions");
  const show = () => {
    const c = claims();
    subscriptions.hidden = !(canWrite() && hasScope("catalog:admin"));
    replace(box,
      c
        ? h("span", { class: `who${c.expired ? " expired" : ""}`, title: `scopes: ${c.scopes.join(" ") || "none"}` },
          `${c.sub ?? "?"}${c.expired ? " (token expired)" : ""}`)
        : h("span", { class: "who none" }, "read-only"),
      canWrite() && hasScope("catalog:write") ? h("a", { href: "#/new", class: "button" }, "New product") : null,
      h("button", { type: "button", onclick: () => { field.value = token() ?? ""; dialog.showModal(); } }, c ? "Token" : "Paste token"));
  };
  dialog.querySelector("form").addEventListener("submit", (e) => {
    if (e.submitter?.value === "forget") setToken(null);
    else if (e.submitter?.value === "save") setToken(field.value);
  });
  window.addEventListener("catalog:token", () => {
    show();
    // Forms and history depend on the token's scopes.
    current?.view?.dispose?.();
    current = null;
    route();
  });
  show();
}

/** The locale products are read in: the browser's languages (Accept-Language) unless one is
 * named here, which every product read then asks for (`?locale=`). */
function localeBox() {
  const box = document.querySelector("#locale");
  const input = h("input", { id: "locale-field", value: chosenLocale() ?? "", placeholder: "browser", size: 8, list: "locales", pattern: "[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", "aria-label": "Locale" });
  const list = h("datalist", { id: "locales" }, ["en", "de", "de-CH", "fr", "it", "es", "nl", "pl"].map((tag) => h("option", { value: tag })));
  input.addEventListener("change", () => {
    if (!input.checkValidity()) return;
    setLocale(input.value.trim() || null);
  });
  replace(box, h("label", { for: "locale-field" }, "Locale"), input, list);
  window.addEventListener("catalog:locale", () => {
    current?.view?.dispose?.();
    current = null;
    route();
  });
}

await loadConfig();
tokenBox();
localeBox();
statusStrip(document.querySelector("#status"));
window.addEventListener("hashchange", route);
route();
