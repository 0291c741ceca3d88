// The console's entry point: the header (token, status strip) and a router over the URL's
// fragment: #/ (the list, filters in its query), #/new, #/products/{id}[?version=n].

import { canWrite, claims, hasScope, loadConfig, setToken, token } from "./api.js";
import { h, replace } from "./dom.js";
import { listView } from "./list.js";
import { newProductView, productView } from "./product.js";
import { statusStrip } from "./status.js";

const main = document.querySelector("main");
let current = null;

function route() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const product = path.match(/^\/products\/([0-9a-f-]{36})$/i);
  const key = product ? `product:${product[1]}` : path === "/new" ? "new" : "list";
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
  else view = listView(main, params);
  current = { key, view };
  main.focus({ preventScroll: true });
}

function tokenBox() {
  const box = document.querySelector("#token");
  const dialog = document.querySelector("#token-dialog");
  const field = dialog.querySelector("textarea");
  const show = () => {
    const c = claims();
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

await loadConfig();
tokenBox();
statusStrip(document.querySelector("#status"));
window.addEventListener("hashchange", route);
route();
