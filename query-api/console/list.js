// The product list: search, filters, sort and keyset paging that loads the next page as the
// end of the list scrolls into view, beside a panel of facets that counts what the list holds
// and narrows it. The filters live in the URL (#/?q=…&attr.colour=red), so a search can be
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
/** The facets every list counts; the attributes some product type marks `facet` join them. */
const BASE_FACETS = ["category", "status", "type"];
/** Facets whose parameter holds one value (status and category are the form's fields too);
 * an attribute's holds any number, repeated, a product matching any of them. */
const SINGLE_VALUED = new Set(BASE_FACETS);
/** The values a group shows, the most common, until it is asked for all of them. */
const SHOWN = 8;

/** The order the API uses when none is asked for: best match with a search, else the latest. */
const defaultSort = (q) => (q ? "relevance" : "-updated");

/** Query-string parameters of GET /products from the list's filters (its URL parameters);
 * `facets`, the facets to count, are asked for on a first page only. */
function listQuery(filters, cursor, facets = [], limit = PAGE) {
  const params = new URLSearchParams();
  for (const name of ["q", "status", "category", "type", "sort", "currency"]) {
    if (filters.get(name)) params.set(name, filters.get(name));
  }
  const digits = minorDigits(filters.get("currency") || "EUR");
  for (const name of ["min_price", "max_price"]) {
    if (filters.get(name)) {
      params.set(name, String(Math.round(Number(filters.get(name)) * 10 ** digits)));
    }
  }
  // An attribute named more than once means any of its values: each one is passed on.
  for (const [name, value] of filters) {
    if (name.startsWith("attr.") && value !== "") params.append(name, value);
  }
  if (facets.length) params.set("facets", facets.join(","));
  params.set("limit", String(limit));
  if (cursor) params.set("cursor", cursor);
  return params;
}

/** The parameters of the URL as it is now: ahead of the list while a hashchange is pending. */
const hashParams = () => new URLSearchParams(location.hash.replace(/^#/, "").split("?")[1] ?? "");

/** The parameters the form has no field for: the type and the attribute filters. */
const formless = (params) =>
  new URLSearchParams([...params].filter(([name]) => name === "type" || name.startsWith("attr.")));

/** The facets of the attributes some product type marks `facet`, each once. */
const attributeFacets = (types) =>
  [...new Set(types.flatMap((t) => t.attributes.filter((a) => a.facet).map((a) => `attr.${a.name}`)))];

/** The facets `filters` choose values of: not an attribute's .min and .max, which no value
 * of the panel stands for. */
const chosenFacets = (filters) =>
  [...new Set(filters.keys())].filter((name) =>
    (SINGLE_VALUED.has(name) || /^attr\.[^.]+$/.test(name)) && filters.getAll(name).some(Boolean));

/** The panel's order: category, status and type, then the attributes by name. */
const facetRank = (name) => (SINGLE_VALUED.has(name) ? BASE_FACETS.indexOf(name) : BASE_FACETS.length);
const facetOrder = (a, b) => facetRank(a) - facetRank(b) || a.localeCompare(b);

/** category → "Category", attr.dishwasher_safe → "Dishwasher safe". */
function facetTitle(name) {
  const words = name.replace(/^attr\./, "").replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** How a value reads in the panel: booleans as yes and no (the URL holds true and false). */
const valueLabel = (value) => (value === true ? "yes" : value === false ? "no" : String(value));

/** A chosen value from the URL, typed again for its label where the list holds none of it. */
const fromParam = (name, raw) =>
  (name.startsWith("attr.") && (raw === "true" || raw === "false") ? raw === "true" : raw);

export function listView(root, params) {
  let filters = new URLSearchParams(params);
  let cursor = null;
  let loading = false;
  let done = false;
  let generation = 0;
  let suggestion = null;
  let disposed = false;
  // Which attributes are facets is the product types' word, asked once per list view. The
  // list does not wait for it: a first page asked before it answers counts the other facets,
  // and the attributes' counts follow (`countAttributes`). Unreadable, there are none.
  let types = null;
  const typesRead = read("/product-types")
    .then(({ items }) => items, () => [])
    .then((items) => { types = items; return items; });
  // The facet counts shown (by facet name), and the groups showing all their values.
  let counts = null;
  const expanded = new Set();

  const search = h("input", { type: "search", name: "q", value: filters.get("q") ?? "", placeholder: "SKU, name or description", "aria-label": "Search products", autofocus: true });
  const status = h("select", { name: "status" },
    h("option", { value: "" }, "Draft and published"),
    ["draft", "published", "archived"].map((s) => h("option", { value: s, selected: filters.get("status") === s }, s)));
  const category = h("input", { name: "category", value: filters.get("category") ?? "", placeholder: "any" });
  const currency = h("input", { name: "currency", value: filters.get("currency") ?? "", placeholder: "EUR", maxlength: 3, size: 4, pattern: "[A-Z]{3}" });
  const minPrice = h("input", { name: "min_price", type: "number", min: 0, step: "0.01", value: filters.get("min_price") ?? "", size: 7 });
  const maxPrice = h("input", { name: "max_price", type: "number", min: 0, step: "0.01", value: filters.get("max_price") ?? "", size: 7 });
  const sort = h("select", { name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: (filters.get("sort") ?? defaultSort(filters.get("q"))) === value }, label)));
  const controls = [search, status, category, currency, minPrice, maxPrice, sort];

  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); apply(); } },
    h("div", { class: "search-row" }, search, h("button", { type: "submit" }, "Search")),
    h("div", { class: "filter-row" },
      field("Status", status), field("Category", category), field("Currency", currency),
      field("Min price", minPrice), field("Max price", maxPrice), field("Sort", sort)));
  for (const control of [status, sort]) control.addEventListener("change", () => apply());

  const facets = h("aside", { class: "facets", "aria-label": "Facets", hidden: true });
  const rows = h("ol", { class: "products", "aria-label": "Products" });
  const summary = h("p", { class: "summary", role: "status" });
  const more = h("button", { type: "button", class: "more", onclick: () => loadPage() }, "Load more");
  const sentinel = h("div", { class: "sentinel" }, more);
  replace(root, h("h1", { class: "visually-hidden" }, "Products"), form,
    h("div", { class: "list-body" }, facets, h("div", { class: "list-main" }, summary, rows, sentinel)));

  /** Lists what the form says, with `kept`: the type and attribute filters, which the form has
   * no field for, as the URL holds them now (so a change not listed yet is built on). */
  function apply(kept = formless(hashParams())) {
    const q = search.value.trim();
    // A new search is listed best match first; without one there is no relevance to sort by.
    if (q && !filters.get("q") && sort.value === "-updated") sort.value = "relevance";
    if (!q && sort.value === "relevance") sort.value = "-updated";
    const next = new URLSearchParams();
    for (const control of controls) {
      if (control.value !== "" && !(control === sort && control.value === defaultSort(q))) next.set(control.name, control.value.trim());
    }
    for (const [name, value] of kept) next.append(name, value);
    const hash = `#/?${next}`;
    if (location.hash !== hash) location.hash = hash;
    else reset(next);
  }

  /** Checks or unchecks `value` of facet `name`. Status, category and type hold one value:
   * another replaces it, the same one again lets go. Status and category are set in the form,
   * which thus keeps showing what is listed. An attribute holds any number of values. */
  function toggle(name, value) {
    const kept = formless(hashParams());
    if (name === "status" || name === "category") {
      const control = name === "status" ? status : category;
      control.value = control.value === value ? "" : value;
    } else {
      const chosen = kept.getAll(name);
      kept.delete(name);
      const next = chosen.includes(value) ? chosen.filter((v) => v !== value)
        : SINGLE_VALUED.has(name) ? [value] : [...chosen, value];
      for (const v of next) kept.append(name, v);
    }
    apply(kept);
  }

  /** Lets go of the values of facet `name`, or of every facet and attribute bound (null). */
  function clear(name) {
    if (name == null || name === "status") status.value = "";
    if (name == null || name === "category") category.value = "";
    const kept = name == null ? new URLSearchParams() : formless(hashParams());
    if (name != null) kept.delete(name);
    apply(kept);
  }

  function reset(next) {
    filters = new URLSearchParams(next);
    cursor = null;
    suggestion = null;
    done = false;
    // A page still loading for the old filters is ignored when it comes back (its generation
    // is past), so it must not hold off the new list's first page either.
    loading = false;
    generation++;
    // The counts shown are the old list's until the new first page brings its own.
    facets.setAttribute("aria-busy", "true");
    rows.replaceChildren();
    loadPage();
  }

  async function loadPage() {
    if (loading || done) return;
    loading = true;
    const mine = generation;
    // Only a first page counts: the counts are the whole list's, the same for every page.
    const first = cursor == null;
    const typesKnown = types != null;
    const asked = first ? [...BASE_FACETS, ...attributeFacets(types ?? [])] : [];
    more.disabled = true;
    summary.textContent = rows.childElementCount ? "Loading more…" : "Loading…";
    try {
      const page = await read(`/products?${listQuery(filters, cursor, asked)}`);
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
      if (first) {
        showFacets(page.facets ?? null);
        if (!typesKnown) countAttributes(mine);
        countAlternatives(mine);
      }
    } catch (err) {
      if (mine !== generation) return;
      summary.replaceChildren(h("span", { class: "error" }, describe(err)));
      // Without counts, the values chosen are still shown, to be let go of.
      if (first) showFacets(null);
    } finally {
      if (mine === generation) {
        loading = false;
        more.disabled = false;
        more.hidden = done;
      }
    }
  }

  /** The attributes' counts for a first page asked before the product types answered. */
  async function countAttributes(mine) {
    const attributes = attributeFacets(await typesRead);
    if (attributes.length === 0 || mine !== generation || disposed) return;
    try {
      const page = await read(`/products?${listQuery(filters, null, attributes, 1)}`);
      if (mine === generation && !disposed) {
        showFacets({ ...counts, ...page.facets });
        countAlternatives(mine);
      }
    } catch {
      // The other facets are counted all the same.
    }
  }

  /** The counts of each attribute a value is chosen of, as if none of its values were: the
   * API counts with every filter applied, which leaves a group only the values chosen, while
   * a person choosing a second colour wants to see the others and how many each would add. */
  async function countAlternatives(mine) {
    const groups = chosenFacets(filters).filter((name) => name.startsWith("attr."));
    const answers = await Promise.all(groups.map(async (name) => {
      const others = new URLSearchParams([...filters].filter(([key]) => key !== name));
      try {
        const page = await read(`/products?${listQuery(others, null, [name], 1)}`);
        return [name, page.facets?.[name]];
      } catch {
        return [name, undefined]; // the group keeps the counts of the list as it is
      }
    }));
    const found = answers.filter(([, values]) => values);
    if (found.length && mine === generation && !disposed) showFacets({ ...counts, ...Object.fromEntries(found) });
  }

  /** Draws the panel from `answer`, a first page's counts by facet (null: no counts). */
  function showFacets(answer) {
    counts = answer;
    const names = [...new Set([...Object.keys(answer ?? {}), ...chosenFacets(filters)])].sort(facetOrder);
    const groups = names.map((name) => facetGroup(name)).filter(Boolean);
    const narrowed = chosenFacets(filters).length > 0 || [...filters.keys()].some((name) => name.startsWith("attr."));
    const refocus = keepFocus();
    replace(facets,
      h("div", { class: "facets-head" },
        h("h2", {}, "Refine"),
        narrowed ? h("button", { type: "button", class: "link", onclick: () => clear(null) }, "Clear all") : null),
      groups);
    facets.hidden = groups.length === 0 && !narrowed;
    facets.removeAttribute("aria-busy");
    refocus();
  }

  /** One facet's values, the most common first, each a checkbox. A value chosen stays (counted
   * 0 when the list holds none of it, uncounted when not asked for) so it can be let go of. */
  function facetGroup(name) {
    const answered = counts?.[name];
    const chosen = filters.getAll(name).filter(Boolean);
    const values = [...(answered ?? [])];
    for (const raw of chosen) {
      if (!values.some((v) => String(v.value) === raw)) values.push({ value: fromParam(name, raw), count: answered ? 0 : null });
    }
    if (values.length === 0) return null;
    const title = facetTitle(name);
    const isChosen = (v) => chosen.includes(String(v.value));
    // A long group shows its most common values and the chosen ones until asked for all.
    const all = expanded.has(name) || values.length <= SHOWN + 1;
    const shown = all ? values : values.filter((v, i) => i < SHOWN || isChosen(v));
    return h("fieldset", { class: "facet", dataset: { facet: name } },
      h("legend", {}, title),
      h("ul", {}, shown.map((v) => facetValue(name, v, isChosen(v)))),
      h("div", { class: "facet-actions" },
        shown.length < values.length
          ? h("button", { type: "button", class: "link", dataset: { action: "more" }, onclick: () => { expanded.add(name); showFacets(counts); } },
            `Show ${values.length - shown.length} more`)
          : null,
        chosen.length
          ? h("button", { type: "button", class: "link", "aria-label": `Clear ${title}`, onclick: () => clear(name) }, "Clear")
          : null));
  }

  function facetValue(name, { value, count }, checked) {
    const raw = String(value);
    // A type reads as its name, once the product types have answered.
    const label = name === "type" ? types?.find((t) => t.key === raw)?.name ?? raw : valueLabel(value);
    return h("li", {},
      h("label", { class: "facet-value" },
        h("input", { type: "checkbox", checked, dataset: { value: raw }, onchange: () => toggle(name, raw) }),
        h("span", { class: "facet-name" }, label),
        count == null ? null : [" ", h("span", { class: "facet-count" }, `(${count})`)]));
  }

  /** Where focus is in the panel, as a way back to the same control once it is redrawn (the
   * value just checked, else its group, else the panel's first control). */
  function keepFocus() {
    const el = document.activeElement;
    if (!facets.contains(el)) return () => {};
    const group = el.closest("[data-facet]")?.dataset.facet;
    const { value, action } = el.dataset;
    return () => {
      const scope = group == null ? null : facets.querySelector(`[data-facet="${CSS.escape(group)}"]`);
      const again = (value != null && scope?.querySelector(`input[data-value="${CSS.escape(value)}"]`))
        || (action === "more" && scope?.querySelectorAll("input")[SHOWN])
        || scope?.querySelector("input")
        || facets.querySelector("input, button");
      again?.focus();
    };
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
      for (const control of controls) {
        control.value = next.get(control.name) ?? (control === sort ? defaultSort(next.get("q")) : "");
      }
      reset(next);
    },
    dispose: () => {
      disposed = true;
      observer.disconnect();
    },
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
