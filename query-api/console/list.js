// The product list: search, filters, sort and keyset paging that loads the next page as the
// end of the list scrolls into view. The filters live in the URL (#/?q=…), so a search can be
// bookmarked, shared and reached again with the back button.

import { describe, read } from "./api.js";
import { field, formatMoney, h, minorDigits, replace, statusBadge, timeAgo } from "./dom.js";
import { picture } from "./images.js";
import { lowestPrice } from "./variants.js";

const SORTS = [
  ["relevance", "Best match (with a search)"],
  ["-updated", "Recently updated"],
  ["updated", "Least recently updated"],
  ["name", "Name A–Z"],
  ["-name", "Name Z–A"],
  ["price", "Price, low to high"],
  ["-price", "Price, high to low"],
];
const PAGE = 24;

/** The order the API uses when none is asked for: best match with a search, else the latest. */
const defaultSort = (q) => (q ? "relevance" : "-updated");

/** Query-string parameters of GET /products from the filters the form holds. */
function listQuery(filters, cursor) {
  const params = new URLSearchParams();
  for (const name of ["q", "status", "category", "sort", "currency"]) {
    if (filters[name]) params.set(name, filters[name]);
  }
  const digits = minorDigits(filters.currency || "EUR");
  for (const name of ["min_price", "max_price"]) {
    if (filters[name] !== "" && filters[name] != null) {
      params.set(name, String(Math.round(Number(filters[name]) * 10 ** digits)));
    }
  }
  params.set("limit", String(PAGE));
  if (cursor) params.set("cursor", cursor);
  return params;
}

export function listView(root, params) {
  const filters = Object.fromEntries(params);
  let cursor = null;
  let loading = false;
  let done = false;
  let generation = 0;
  let suggestion = null;

  const search = h("input", { type: "search", name: "q", value: filters.q ?? "", placeholder: "SKU, name or description", "aria-label": "Search products", autofocus: true });
  const status = h("select", { name: "status" },
    h("option", { value: "" }, "Draft and published"),
    ["draft", "published", "archived"].map((s) => h("option", { value: s, selected: filters.status === s }, s)));
  const category = h("input", { name: "category", value: filters.category ?? "", placeholder: "any" });
  const currency = h("input", { name: "currency", value: filters.currency ?? "", placeholder: "EUR", maxlength: 3, size: 4, pattern: "[A-Z]{3}" });
  const minPrice = h("input", { name: "min_price", type: "number", min: 0, step: "0.01", value: filters.min_price ?? "", size: 7 });
  const maxPrice = h("input", { name: "max_price", type: "number", min: 0, step: "0.01", value: filters.max_price ?? "", size: 7 });
  const sort = h("select", { name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: (filters.sort ?? defaultSort(filters.q)) === value }, label)));

  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); apply(); } },
    h("div", { class: "search-row" }, search, h("button", { type: "submit" }, "Search")),
    h("div", { class: "filter-row" },
      field("Status", status), field("Category", category), field("Currency", currency),
      field("Min price", minPrice), field("Max price", maxPrice), field("Sort", sort)));
  for (const control of [status, sort]) control.addEventListener("change", apply);

  const rows = h("ol", { class: "products", "aria-label": "Products" });
  const summary = h("p", { class: "summary", role: "status" });
  const more = h("button", { type: "button", class: "more", onclick: () => loadPage() }, "Load more");
  const sentinel = h("div", { class: "sentinel" }, more);
  replace(root, h("h1", { class: "visually-hidden" }, "Products"), form, summary, rows, sentinel);

  function apply() {
    const q = search.value.trim();
    // A new search is listed best match first; without one there is no relevance to sort by.
    if (q && !filters.q && sort.value === "-updated") sort.value = "relevance";
    if (!q && sort.value === "relevance") sort.value = "-updated";
    const next = new URLSearchParams();
    for (const control of [search, status, category, currency, minPrice, maxPrice, sort]) {
      if (control.value !== "" && !(control === sort && control.value === defaultSort(q))) next.set(control.name, control.value.trim());
    }
    const hash = `#/?${next}`;
    if (location.hash !== hash) location.hash = hash;
    else reset(Object.fromEntries(next));
  }

  function reset(next) {
    Object.keys(filters).forEach((k) => delete filters[k]);
    Object.assign(filters, next);
    cursor = null;
    suggestion = null;
    done = false;
    // A page still loading for the old filters is ignored when it comes back (its generation
    // is past), so it must not hold off the new list's first page either.
    loading = false;
    generation++;
    rows.replaceChildren();
    loadPage();
  }

  async function loadPage() {
    if (loading || done) return;
    loading = true;
    const mine = generation;
    more.disabled = true;
    summary.textContent = rows.childElementCount ? "Loading more…" : "Loading…";
    try {
      const page = await read(`/products?${listQuery(filters, cursor)}`);
      if (mine !== generation) return;
      rows.append(...page.items.map(row));
      cursor = page.next_cursor;
      done = !cursor;
      const count = rows.childElementCount;
      // A first page names the nearest text when nothing matches the search as typed.
      if (page.did_you_mean) suggestion = page.did_you_mean;
      summary.replaceChildren(count === 0 ? "No product matches." : `${count} product${count === 1 ? "" : "s"}${done ? "" : " so far"}.`);
      if (suggestion) {
        const meant = suggestion;
        summary.append(" Did you mean ",
          h("button", { type: "button", class: "suggestion", onclick: () => { search.value = meant; apply(); } }, meant),
          "?");
      }
    } catch (err) {
      if (mine !== generation) return;
      summary.replaceChildren(h("span", { class: "error" }, describe(err)));
    } finally {
      if (mine === generation) {
        loading = false;
        more.disabled = false;
        more.hidden = done;
      }
    }
  }

  // The next page loads as the end of the list comes near; the button stays for keyboards.
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadPage();
  }, { rootMargin: "400px" });
  observer.observe(sentinel);
  loadPage();
  return {
    // Back and forward land here: the form shows the filters of the list it shows.
    update(next) {
      for (const control of [search, status, category, currency, minPrice, maxPrice, sort]) {
        control.value = next.get(control.name) ?? (control === sort ? defaultSort(next.get("q")) : "");
      }
      reset(Object.fromEntries(next));
    },
    dispose: () => observer.disconnect(),
  };
}

/** The price a row shows: with several variants, the lowest of theirs ("from …"). */
function priceCell(product) {
  const count = product.variants?.length ?? 0;
  if (count < 2) return h("span", { class: "row-price" }, formatMoney(product.price));
  const lowest = lowestPrice(product);
  return h("span", { class: "row-price" },
    h("span", {}, lowest ? `from ${formatMoney(lowest)}` : formatMoney(product.price)),
    h("span", { class: "row-variants" }, `${count} variants`));
}

function row(product) {
  const image = product.images?.find((i) => i.status === "ready") ?? product.images?.[0];
  return h("li", { class: "product-row", dataset: { id: product.id } },
    h("a", { href: `#/products/${product.id}`, class: "row-link" },
      picture(image, { alt: "" }),
      h("span", { class: "row-main" },
        h("span", { class: "row-name" }, product.name),
        h("span", { class: "row-sku" }, product.sku),
        product.category ? h("span", { class: "row-category" }, product.category) : null),
      priceCell(product),
      h("span", { class: "row-stock" }, `${product.stock} in stock`),
      statusBadge(product.status),
      h("span", { class: "row-updated" }, timeAgo(product.updated_at))));
}
