// One product: its details, variants and their prices, images in every rendition, history and
// past versions, and (for whoever may write, signed in or with a token) the forms that change
// it. Every command names the version the form was filled from (If-Match), so a change made
// meanwhile by someone else is a conflict shown to the user, never a silent overwrite.

import { ApiError, canWrite, command, describe, hasScope, maxLength, productAt, read, skuPattern, upload } from "./api.js";
import { field, formatMoney, h, minorDigits, replace, showProblem, statusBadge, timeAgo, toMajor, toMinor } from "./dom.js";
import { inLocale, textLocaleField, typedAttributes } from "./attributes.js";
import { changes, diffTable, timeline } from "./history.js";
import { picture, renditionUrl } from "./images.js";
import { variantsTable } from "./variants.js";

const WRITE = "catalog:write";
const AUDIT = "catalog:audit";
const RENDITIONS = ["thumb", "small", "medium", "large"];
/** The fields the forms edit; a new version that leaves them alone is no conflict for a form. */
const EDITABLE = ["name", "description", "category", "attributes", "price", "stock", "status", "variants"];
const POLL_MS = 1000;
const POLL_LIMIT_MS = 180_000;
/** Uploads listed in the tray, newest first. */
const MAX_TRAY = 10;

const editable = (p) => JSON.stringify(EDITABLE.map((f) => p[f] ?? null));

export function productView(root, id, params) {
  let product = null;
  /** The version the forms were filled from: what If-Match names. */
  let seen = null;
  let viewing = params.get("version") ? Number(params.get("version")) : null;
  let history = null;
  /** The read of a typed product's type, shared by the forms that ask for its attributes. */
  let typeRead = null;
  let disposed = false;
  let poll = null;
  const uploads = [];
  let uploadCount = 0;

  const notices = h("div", { class: "notices", role: "alert", "aria-live": "assertive" });
  const page = h("div", { class: "product-page" });
  replace(root, notices, page);

  load();
  return {
    update(next) {
      const version = next.get("version") ? Number(next.get("version")) : null;
      if (version !== viewing) {
        viewing = version;
        render();
      }
    },
    dispose() {
      disposed = true;
      clearTimeout(poll);
    },
  };

  async function load(version) {
    try {
      product = version ? await productAt(id, version) : await read(`/products/${id}`);
      seen = product.version;
      history = null;
      typeRead = null;
      render();
      watchImages();
    } catch (err) {
      replace(page, h("h1", {}, err.status === 404 ? "No such product" : "The product cannot be read"),
        h("p", { class: "error" }, describe(err)), h("p", {}, h("a", { href: "#/" }, "Back to the list")));
    }
  }

  function render() {
    if (disposed || !product) return;
    document.title = `${product.name} · Catalog`;
    const writer = canWrite() && hasScope(WRITE);
    replace(page,
      h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Products"), " / ", product.sku),
      h("header", { class: "product-head" },
        h("h1", {}, product.name),
        statusBadge(product.status),
        h("span", { class: "version", title: "version" }, `version ${product.version}`),
        writer && product.status !== "archived" ? statusActions() : null),
      h("div", { class: "product-body" },
        h("section", { class: "details", "aria-labelledby": "details-title" },
          h("h2", { id: "details-title" }, "Details"),
          viewing ? h("div", { class: "past", id: "past" }, "Loading version…") : detailList(product),
          !viewing && writer && product.status !== "archived" ? forms() : null,
          !writer ? h("p", { class: "hint" }, canWrite()
            ? "Sign in as an editor, or use a token with the scope catalog:write, to edit."
            : "This console is read-only: the query API has no command API configured.") : null),
        h("section", { class: "images", "aria-labelledby": "images-title" },
          h("h2", { id: "images-title" }, `Images (${product.images.length})`),
          h("div", { class: "gallery", id: "gallery" }, product.images.map(imageCard)),
          !viewing && writer && product.status !== "archived" ? uploadForm() : null),
        h("section", { class: "variants", "aria-labelledby": "variants-title" },
          h("h2", { id: "variants-title" }, `Variants (${product.variants?.length ?? 0})`),
          h("div", { id: "variants" }, variantsTable(product, !viewing && writer && product.status !== "archived"
            ? { send: (run, options) => act(() => run(seen), { ...options, retry: run }), type: productType }
            : {}))),
        h("section", { class: "history", "aria-labelledby": "history-title" },
          h("h2", { id: "history-title" }, "History"),
          historySection())));
    if (viewing) showVersion(viewing);
    settleUploads();
  }

  // ---- details ----

  function detailList(p) {
    const attrs = Object.entries(p.attributes ?? {});
    return h("dl", { class: "facts" },
      fact("SKU", p.sku),
      fact("Type", p.type ? h("a", { href: `#/types/${p.type}` }, p.type) : "—", "type"),
      fact("Price", formatMoney(p.price) || "—", "price"),
      fact("Stock", String(p.stock), "stock"),
      fact("Category", p.category ?? "—"),
      fact("Description", p.description ?? "—", "description"),
      fact("Attributes", attrs.length
        ? h("ul", { class: "attributes" }, attrs.map(([k, v]) => h("li", {}, h("b", {}, k), ": ", v)))
        : "—"),
      fact("Created", timeAgo(p.created_at)),
      fact("Updated", timeAgo(p.updated_at)));
  }

  function fact(label, value, key) {
    return [h("dt", {}, label), h("dd", { dataset: { fact: key ?? label.toLowerCase() } }, value)];
  }

  // ---- past versions ----

  async function showVersion(n) {
    const slot = page.querySelector("#past");
    try {
      const past = await read(`/products/${id}/versions/${n}`, { auth: true });
      if (viewing !== n || !slot.isConnected) return;
      replace(slot,
        h("p", { class: "past-banner" }, `Version ${n} of ${product.version}, as it stood ${new Date(past.updated_at).toLocaleString()}. `,
          h("a", { href: `#/products/${id}` }, "Back to the current version")),
        h("div", { class: "past-head" }, h("strong", {}, past.name), " ", statusBadge(past.status)),
        detailList(past));
      const gallery = page.querySelector("#gallery");
      replace(gallery, past.images.length ? past.images.map(imageCard) : h("p", { class: "hint" }, "No images at this version."));
      page.querySelector("#images-title").textContent = `Images at version ${n} (${past.images.length})`;
      replace(page.querySelector("#variants"), variantsTable(past));
      page.querySelector("#variants-title").textContent = `Variants at version ${n} (${past.variants?.length ?? 0})`;
    } catch (err) {
      if (slot.isConnected) replace(slot, h("p", { class: "error" }, describe(err)));
    }
  }

  function historySection() {
    if (!hasScope(AUDIT)) return h("p", { class: "hint" }, "Sign in as an auditor, or use a token with the scope catalog:audit, to see the history and past versions.");
    const box = h("div", { class: "history-box" }, "Loading history…");
    loadHistory().then((entries) => {
      const slider = h("input", {
        type: "range", min: 1, max: product.version, value: viewing ?? product.version, id: "version-slider",
        "aria-label": "Version", "aria-valuetext": `version ${viewing ?? product.version}`,
      });
      const label = h("output", { for: "version-slider" }, `version ${viewing ?? product.version}`);
      slider.addEventListener("input", () => { label.textContent = `version ${slider.value}`; });
      slider.addEventListener("change", () => view(Number(slider.value)));
      replace(box,
        h("div", { class: "slider" }, h("label", { for: "version-slider" }, "View version"), slider, label),
        timeline(entries, { selected: viewing, onView: view }));
    }).catch((err) => replace(box, h("p", { class: "error" }, describe(err))));
    return box;
  }

  function view(n) {
    location.hash = n === product.version ? `#/products/${id}` : `#/products/${id}?version=${n}`;
  }

  async function loadHistory() {
    if (history) return history;
    const entries = [];
    let after = 0;
    for (;;) {
      const page = await read(`/products/${id}/history?after=${after}&limit=1000`, { auth: true });
      entries.push(...page.items);
      if (page.next_after == null || page.items.length === 0) break;
      after = page.next_after;
    }
    history = entries;
    return entries;
  }

  // ---- images ----

  function imageCard(image) {
    const links = RENDITIONS.filter((r) => image.renditions?.[r]).map((r) => {
      const rendition = image.renditions[r];
      return h("li", {}, `${r} ${rendition.width}×${rendition.height}: `,
        h("a", { href: renditionUrl(image, r, "webp"), target: "_blank", rel: "noopener" }, "WebP"), " ",
        h("a", { href: renditionUrl(image, r, "jpg"), target: "_blank", rel: "noopener" }, "JPEG"));
    });
    const removable = !viewing && canWrite() && hasScope(WRITE) && product.status !== "archived";
    return h("figure", { class: "image-card", dataset: { imageId: image.id, status: image.status } },
      picture(image, { rendition: "small", alt: `${product.name} image`, className: "card" }),
      h("figcaption", {},
        h("span", { class: `image-status ${image.status}` }, image.status),
        image.width ? ` ${image.width}×${image.height}` : "",
        image.failure ? h("span", { class: "error" }, ` ${image.failure}`) : null,
        links.length ? h("ul", { class: "renditions" }, links) : null,
        removable ? h("button", { type: "button", class: "danger small", onclick: () => removeImage(image) }, "Remove") : null));
  }

  /**
   * The upload form and its tray: one line per file with its progress and outcome, kept across
   * the re-renders that follow each upload.
   */
  function uploadForm() {
    const input = h("input", { type: "file", name: "file", accept: "image/jpeg,image/png,image/webp,image/gif", multiple: true, "aria-label": "Image files" });
    const message = h("p", { class: "form-message", role: "status" });
    const button = h("button", { type: "submit" }, "Upload");
    const tray = h("ul", { class: "uploads", "aria-label": "Uploads" }, uploads.map(trayLine));
    return h("form", {
      class: "upload", onsubmit: async (e) => {
        e.preventDefault();
        const files = [...input.files];
        if (!files.length) { message.textContent = "Choose an image first."; return; }
        button.disabled = true;
        message.textContent = "";
        const batch = files.map((file) => ({ key: ++uploadCount, name: file.name, fraction: 0, state: "waiting" }));
        uploads.unshift(...batch.slice().reverse());
        uploads.splice(MAX_TRAY);
        tray.replaceChildren(...uploads.map(trayLine));
        let version = seen;
        try {
          for (const [index, file] of files.entries()) {
            const line = batch[index];
            update(line, { state: "uploading" });
            const done = await upload(id, file, {
              ifMatch: version,
              onProgress: (fraction) => update(line, { fraction }),
            });
            update(line, { fraction: 1, state: "uploaded", imageId: done.image_id });
            version = done.version;
          }
          await load(version);
        } catch (err) {
          for (const line of batch) if (line.state !== "uploaded") update(line, { state: "failed" });
          button.disabled = false;
          if (!conflict(err, (current) => uploadAgain(files, current))) message.textContent = describe(err);
        }
      },
    }, h("h3", {}, "Add images"), input, button, message, tray);
  }

  function trayLine(line) {
    const label = {
      waiting: "waiting", uploading: "uploading", uploaded: "uploaded, rendering", failed: "not uploaded",
      ready: "ready", "render-failed": "could not be rendered",
    }[line.state];
    return h("li", { dataset: { upload: line.key, state: line.state } },
      h("span", { class: "upload-name" }, line.name),
      h("progress", { max: 1, value: line.fraction, "aria-label": `${line.name} upload progress` }),
      h("span", { class: "upload-state" }, `${Math.round(line.fraction * 100)}% · ${label}`));
  }

  /** Marks the tray's uploads whose images have been rendered (or failed to be). */
  function settleUploads() {
    for (const line of uploads) {
      const image = line.state === "uploaded" && product.images.find((i) => i.id === line.imageId);
      if (image && image.status !== "processing") update(line, { state: image.status === "ready" ? "ready" : "render-failed" });
    }
  }

  /** Changes one tray line, in the state and wherever it is on the page now. */
  function update(line, changes) {
    Object.assign(line, changes);
    page.querySelector(`[data-upload="${line.key}"]`)?.replaceWith(trayLine(line));
  }

  async function uploadAgain(files, version) {
    for (const file of files) version = (await upload(id, file, { ifMatch: version })).version;
    return { version };
  }

  async function removeImage(image) {
    if (!confirm("Remove this image? Its renditions are deleted.")) return;
    await act(() => command("DELETE", `/products/${id}/images/${image.id}`, { ifMatch: seen }));
  }

  /** While any image is still rendering, reads the product again until none is. */
  function watchImages() {
    clearTimeout(poll);
    const started = Date.now();
    const tick = async () => {
      if (disposed || !product.images.some((i) => i.status === "processing")) return;
      if (Date.now() - started > POLL_LIMIT_MS) return;
      try {
        const next = await read(`/products/${id}`);
        if (disposed) return;
        if (next.version !== product.version) {
          // Only images moved on: the forms still show the product as it is.
          if (editable(next) === editable(product)) seen = next.version;
          product = next;
          refreshImages();
          refreshHistory();
        }
      } catch {
        /* the next tick tries again */
      }
      poll = setTimeout(tick, POLL_MS);
    };
    poll = setTimeout(tick, POLL_MS);
  }

  function refreshHistory() {
    const box = page.querySelector(".history-box");
    if (!box) return;
    history = null;
    box.replaceWith(historySection());
  }

  function refreshImages() {
    const gallery = page.querySelector("#gallery");
    if (!gallery || viewing) return;
    replace(gallery, product.images.map(imageCard));
    settleUploads();
    page.querySelector("#images-title").textContent = `Images (${product.images.length})`;
    page.querySelector(".product-head .version").textContent = `version ${product.version}`;
  }

  // ---- commands ----

  function statusActions() {
    const actions = [];
    if (product.status === "draft") actions.push(h("button", { type: "button", onclick: () => act(() => command("POST", `/products/${id}/publish`, { ifMatch: seen })) }, "Publish"));
    if (product.status === "published") actions.push(h("button", { type: "button", onclick: () => act(() => command("POST", `/products/${id}/unpublish`, { ifMatch: seen })) }, "Unpublish"));
    actions.push(h("button", {
      type: "button", class: "danger", onclick: () => {
        if (confirm(`Archive ${product.sku}? An archived product accepts no further change.`)) act(() => command("DELETE", `/products/${id}`, { ifMatch: seen }));
      },
    }, "Archive"));
    return h("div", { class: "actions" }, actions);
  }

  function productType() {
    typeRead ??= read(`/product-types/${encodeURIComponent(product.type)}`);
    return typeRead;
  }

  function forms() {
    const p = product;
    // The base price, which this form changes: the price on view may be a dated one.
    const price = p.variants?.[0]?.prices[0] ?? p.price;
    const attributes = Object.entries(p.attributes ?? {}).map(([k, v]) => `${k} = ${v}`).join("\n");
    const texts = p.translations ?? {};
    // A typed product's attributes get a control each, once its type is read.
    const typed = { read: null };
    const attributeSlot = h("div", { class: "attribute-slot" }, p.type
      ? h("p", {}, "Loading the type's attributes…")
      : textarea("Attributes (one key = value per line)", "attributes", attributes, { rows: 3 }));
    if (p.type) {
      productType()
        .then((type) => {
          const inputs = typedAttributes(type.attributes, p.attributes ?? {});
          typed.read = inputs.read;
          replace(attributeSlot, inputs.element);
        })
        .catch((err) => replace(attributeSlot, h("p", { class: "error" }, describe(err))));
    }
    return h("div", { class: "forms" },
      editForm("Edit details", "details", [
        input("Name", "name", p.name, { required: true, maxlength: maxLength("name") }),
        textarea("Description", "description", p.description ?? "", { maxlength: maxLength("description"), rows: 4 }),
        input("Category", "category", p.category ?? "", { maxlength: maxLength("category") }),
        attributeSlot,
      ], (values, form) => {
        const body = {};
        if (values.name !== p.name) body.name = edited(texts.name, p.name, p.locale, values.name);
        if (values.description !== (p.description ?? "")) {
          body.description = values.description ? edited(texts.description, p.description, p.locale, values.description) : null;
        }
        if (values.category !== (p.category ?? "")) body.category = values.category || null;
        if (p.type && !typed.read) throw new Error("The type's attributes are still loading.");
        // As shown (each text in the locale on view), to see whether anything changed.
        const shown = p.type ? typed.read(form, (d, raw) => raw) : parseAttributes(values.attributes);
        if (JSON.stringify(sorted(shown)) !== JSON.stringify(sorted(p.attributes ?? {}))) {
          body.attributes = Object.fromEntries(Object.entries(shown).map(([key, value]) =>
            [key, typeof value === "string" ? edited(texts.attributes?.[key], p.attributes?.[key], p.locale, value) : value]));
        }
        if (!Object.keys(body).length) return null;
        return (version) => command("PATCH", `/products/${id}`, { body, ifMatch: version });
      }),
      editForm("Price", "price", [
        input("Amount", "amount", toMajor(price), { type: "number", min: 0, step: 10 ** -minorDigits(price.currency), required: true }),
        input("Currency", "currency", price.currency, { required: true, maxlength: 3, pattern: "[A-Z]{3}", size: 4 }),
      ], (values) => {
        const body = { amount: toMinor(values.amount, values.currency), currency: values.currency };
        return (version) => command("PUT", `/products/${id}/price`, { body, ifMatch: version });
      }),
      editForm("Adjust stock", "stock", [
        input("Change (+ or −)", "delta", "", { type: "number", step: 1, required: true }),
        input("Reason", "reason", "", { required: true, maxlength: maxLength("reason") }),
      ], (values) => {
        const body = { delta: Number(values.delta), reason: values.reason };
        return (version) => command("POST", `/products/${id}/stock-adjustments`, { body, ifMatch: version });
      }));
  }

  /**
   * A form whose `prepare(values)` returns the command to send against a version, or null when
   * nothing changed. The command runs against the version the form was filled from.
   */
  function editForm(title, name, fields, prepare) {
    const message = h("p", { class: "form-message", role: "status" });
    const form = h("form", {
      class: "edit", dataset: { form: name }, onsubmit: async (e) => {
        e.preventDefault();
        const values = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]));
        let send;
        try {
          send = prepare(values, form);
        } catch (err) {
          message.textContent = err.message;
          return;
        }
        if (!send) { message.textContent = "Nothing changed."; return; }
        message.textContent = "Saving…";
        await act(() => send(seen), { message, retry: send });
      },
    }, fields, h("button", { type: "submit" }, "Save"), message);
    // Closed until wanted: the facts above already show every value.
    return h("details", { class: "edit-box" }, h("summary", {}, title), form);
  }

  /**
   * Runs a command, then shows the product at the version it produced. A 412 opens the conflict
   * notice, from which `retry(version)` resends the same change against the current version.
   * Another refusal is shown in `message`, its field errors beside the fields of `form` if given.
   */
  async function act(run, { form, message, retry = null } = {}) {
    for (const button of page.querySelectorAll("button")) button.disabled = true;
    try {
      const done = await run();
      notices.replaceChildren();
      await load(done.version);
      return;
    } catch (err) {
      if (conflict(err, retry)) {
        if (message) message.textContent = "Not saved: the product changed meanwhile.";
      } else if (form) {
        showProblem(form, message, err);
      } else if (message) {
        message.textContent = describe(err);
      } else {
        replace(notices, h("p", { class: "error" }, describe(err)));
      }
    }
    for (const button of page.querySelectorAll("button")) button.disabled = false;
  }

  /** Shows a 412 and what changed; false for any other error. */
  function conflict(err, retry) {
    if (!(err instanceof ApiError) || err.status !== 412) return false;
    const current = err.problem.current_version;
    const box = h("div", { class: "conflict", dataset: { current } },
      h("h2", {}, "This product changed while you were editing"),
      h("p", {}, `Your change was made on version ${seen}; the product is now at version ${current ?? "?"}. Nothing was saved.`),
      h("div", { class: "conflict-now" }, "Loading the current version…"),
      h("div", { class: "actions" },
        retry && current != null
          ? h("button", { type: "button", onclick: () => act(() => retry(current)) }, `Apply my change to version ${current}`)
          : null,
        h("button", { type: "button", onclick: () => { notices.replaceChildren(); load(current); } }, "Discard my change and reload")));
    replace(notices, box);
    notices.scrollIntoView?.({ block: "start", behavior: "smooth" });
    if (current != null) {
      productAt(id, current).then((now) => {
        const differences = changes(product, now);
        replace(box.querySelector(".conflict-now"), differences.length
          ? diffTable(differences, { caption: "Changed meanwhile" })
          : h("p", {}, "Only images changed meanwhile."));
      }).catch(() => box.querySelector(".conflict-now").remove());
    }
    return true;
  }
}

/**
 * An edited text as the service takes it. A localized one (`texts`: tag → text) keeps its other
 * locales: the new text replaces the one that was shown (`shown`, in the tag that holds it, else
 * `locale`). A text without translations is sent as it is.
 */
function edited(texts, shown, locale, value) {
  if (!texts || !Object.keys(texts).length) return value;
  const tag = Object.keys(texts).find((t) => t === locale && texts[t] === shown)
    ?? Object.keys(texts).find((t) => texts[t] === shown)
    ?? locale;
  return { ...texts, [tag]: value };
}

function input(label, name, value, attrs = {}) {
  return field(label, h("input", { name, value, ...attrs }));
}

function textarea(label, name, value, attrs = {}) {
  const area = h("textarea", { name, ...attrs });
  area.value = value;
  return field(label, area);
}

const sorted = (object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b)));

/** "key = value" lines into an object; a line without "=" is an error the form shows. */
function parseAttributes(text) {
  const out = {};
  for (const [index, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`Attributes line ${index + 1} needs the form key = value.`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return sorted(out);
}

/** The page for a new product; `onCreated(id)` opens it. */
export function newProductView(root) {
  const message = h("p", { class: "form-message", role: "status" });
  const untyped = () => textarea("Attributes (one key = value per line)", "attributes", "", { rows: 3 });
  const attributeSlot = h("div", { class: "attribute-slot" }, untyped());
  let typed = null;
  const typeSelect = h("select", { name: "type" }, h("option", { value: "" }, "(none: free text attributes)"));
  const types = new Map();
  read("/product-types")
    .then(({ items }) => {
      for (const t of items) {
        types.set(t.key, t);
        typeSelect.append(h("option", { value: t.key }, `${t.name} (${t.key})`));
      }
    })
    .catch(() => { /* no types to choose: the product is untyped */ });
  typeSelect.addEventListener("change", () => {
    const type = types.get(typeSelect.value);
    typed = type ? typedAttributes(type.attributes) : null;
    replace(attributeSlot, typed ? typed.element : untyped());
  });
  const form = h("form", {
    class: "edit create", onsubmit: async (e) => {
      e.preventDefault();
      const v = Object.fromEntries([...new FormData(form)].map(([k, x]) => [k, String(x).trim()]));
      const tag = v.text_locale;
      let attributes;
      try {
        attributes = typed ? typed.read(form, (d, raw) => inLocale(tag, raw)) : parseAttributes(v.attributes ?? "");
      } catch (err) {
        message.textContent = err.message;
        return;
      }
      const body = {
        sku: v.sku, name: inLocale(tag, v.name),
        type: v.type || undefined,
        price: { amount: toMinor(v.amount, v.currency), currency: v.currency },
        stock: v.stock === "" ? undefined : Number(v.stock),
        description: v.description ? inLocale(tag, v.description) : undefined,
        category: v.category || undefined,
        attributes: Object.keys(attributes).length ? attributes : undefined,
      };
      message.textContent = "Creating…";
      try {
        const created = await command("POST", "/products", { body });
        await productAt(created.id, created.version);
        location.hash = `#/products/${created.id}`;
      } catch (err) {
        message.textContent = describe(err);
      }
    },
  },
  h("h1", {}, "New product"),
  input("SKU", "sku", "", { required: true, maxlength: maxLength("sku"), pattern: skuPattern() }),
  field("Type", typeSelect),
  textLocaleField(),
  input("Name", "name", "", { required: true, maxlength: maxLength("name") }),
  textarea("Description", "description", "", { maxlength: maxLength("description"), rows: 4 }),
  input("Category", "category", "", { maxlength: maxLength("category") }),
  input("Price", "amount", "", { type: "number", min: 0, step: "0.01", required: true }),
  input("Currency", "currency", "EUR", { required: true, maxlength: 3, pattern: "[A-Z]{3}", size: 4 }),
  input("Stock", "stock", "0", { type: "number", min: 0, step: 1 }),
  attributeSlot,
  h("button", { type: "submit" }, "Create"), message);
  replace(root, form);
}
