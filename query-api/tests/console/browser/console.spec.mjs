// The console as a person uses it, in Chromium, against the running services: search, open a
// product, upload an image and watch its thumbnail appear, meet a conflict and resolve it, look
// at an older version from the timeline, define a product type, read a product in another
// locale, add, price and remove a product's variants, import a file and export the catalog,
// keep webhook subscriptions, and sign in and out with an email and password. Each step saves
// a screenshot.
//
// Started by query-api/tests/console/main.rs, which passes QUERY_URL, COMMAND_URL, TOKEN (sub
// "system-tester", scopes catalog:write, catalog:audit and catalog:admin), EDITOR_TOKEN (sub
// "console-editor", without catalog:admin), SIGN_IN_EMAIL and SIGN_IN_PASSWORD (an editor added
// with `command-api user add`) and CONSOLE_ARTIFACTS, and runs the webhook dispatcher, which
// may deliver to loopback and pauses a subscription failing for 5 seconds.

import { expect, test } from "@playwright/test";
import { createHmac } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";

const { QUERY_URL, COMMAND_URL, TOKEN, EDITOR_TOKEN, SIGN_IN_EMAIL, SIGN_IN_PASSWORD } = process.env;
const ARTIFACTS = process.env.CONSOLE_ARTIFACTS ?? "artifacts";
const SHOTS = `${ARTIFACTS}/screenshots`;
mkdirSync(SHOTS, { recursive: true });

test.describe.configure({ mode: "serial" });

/** @type {import('@playwright/test').Page} */
let page;
/** @type {import('@playwright/test').APIRequestContext} */
let commands;
/** @type {import('@playwright/test').APIRequestContext} */
let reads;
const ids = {};

async function send(method, path, data, headers = {}) {
  const response = await commands.fetch(path, { method, data, headers });
  expect(response.ok(), `${method} ${path}: ${response.status()} ${await response.text()}`).toBeTruthy();
  return response.json();
}

async function waitForReadModel(id, version) {
  const response = await reads.get(`/products/${id}?min_version=${version}`);
  expect(response.ok()).toBeTruthy();
}

async function shot(name) {
  // From the top, so the sticky header is where a reader expects it in a full-page picture.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}
const rows = () => page.locator("ol.products > li");

test.beforeAll(async ({ browser, playwright }) => {
  expect(QUERY_URL && COMMAND_URL && TOKEN, "QUERY_URL, COMMAND_URL and TOKEN are set").toBeTruthy();
  commands = await playwright.request.newContext({
    baseURL: COMMAND_URL,
    extraHTTPHeaders: { Authorization: `Bearer ${TOKEN}` },
  });
  reads = await playwright.request.newContext({ baseURL: QUERY_URL });
  const seed = [
    ["MUG-BLUE", "Blue enamel mug", "kitchen", 1250, 12],
    ["MUG-RED", "Red enamel mug", "kitchen", 1190, 4],
    ["TEAPOT-1", "Cast iron teapot", "kitchen", 4500, 2],
    ["APRON-L", "Linen apron", "textiles", 2900, 9],
  ];
  let last;
  for (const [sku, name, category, amount, stock] of seed) {
    last = await send("POST", "/products", { sku, name, category, price: { amount, currency: "EUR" }, stock, description: `${name}, made to last.` });
    ids[sku] = last.id;
  }
  const published = await send("POST", `/products/${ids["TEAPOT-1"]}/publish`);
  await waitForReadModel(ids["TEAPOT-1"], published.version);
  await waitForReadModel(last.id, last.version);
  page = await browser.newPage();
  page.on("pageerror", (err) => console.error("page error:", err));
});

test.afterAll(async () => {
  await commands?.dispose();
  await reads?.dispose();
});

test("the list shows every product, with the status strip", async () => {
  await page.goto("/console/");
  await expect(rows()).toHaveCount(4);
  await expect(page.locator("#status")).toContainText("Relay backlog");
  await expect(page.locator("#status")).toContainText("Images processing");
  await expect(page.locator("#token")).toContainText("read-only");
  await shot("01-list");
});

test("search narrows the list, and filters and sort apply", async () => {
  await page.getByRole("searchbox", { name: "Search products" }).fill("mug");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(rows()).toHaveCount(2);
  await expect(rows().nth(0)).toContainText("mug");
  await expect(rows().nth(1)).toContainText("mug");
  expect(page.url()).toContain("q=mug");
  await shot("02-search");

  // A typo still finds the teapot, and the list offers the word the catalog has.
  await page.getByRole("searchbox", { name: "Search products" }).fill("teapott");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(rows()).toHaveCount(1);
  await expect(rows().first()).toContainText("Cast iron teapot");
  await expect(page.locator("p.summary")).toContainText("Did you mean teapot?");
  await shot("02b-did-you-mean");
  await page.getByRole("button", { name: "teapot", exact: true }).click();
  await expect(page.getByRole("searchbox", { name: "Search products" })).toHaveValue("teapot");
  expect(page.url()).toContain("q=teapot");
  await expect(rows()).toHaveCount(1);
  await expect(page.locator("p.summary")).not.toContainText("Did you mean");

  await page.getByRole("searchbox", { name: "Search products" }).fill("");
  await page.getByLabel("Status", { exact: true }).selectOption("published");
  await expect(rows()).toHaveCount(1);
  await expect(rows().first()).toContainText("Cast iron teapot");

  await page.getByLabel("Status", { exact: true }).selectOption("");
  await page.getByLabel("Sort", { exact: true }).selectOption("price");
  await expect(rows()).toHaveCount(4);
  await expect(rows().first()).toContainText("Red enamel mug");
  await expect(rows().last()).toContainText("Cast iron teapot");
});

test("a token pasted once turns on editing", async () => {
  // The token is the sign-in page's advanced option, for tools' and outside issuers' tokens.
  await page.getByRole("link", { name: "Sign in" }).click();
  await page.getByText("Advanced: use a token").click();
  await page.getByRole("button", { name: "Paste token" }).click();
  await page.getByLabel("Token", { exact: true }).fill(TOKEN);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#token")).toContainText("system-tester");
  await expect(page.getByRole("link", { name: "New product" })).toBeVisible();
  expect(await page.evaluate(() => Object.keys(sessionStorage))).toContain("catalog.console.token");
  // Back where the person was, the list as they left it.
  await expect(page).toHaveURL(/#\/\?.*sort=price/);
});

test("a product opens from the list", async () => {
  await page.goto("/console/#/?q=blue");
  await expect(rows()).toHaveCount(1);
  await rows().first().getByRole("link").click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Blue enamel mug");
  await expect(page.locator('[data-fact="price"]')).toContainText("12.50");
  await expect(page.locator('[data-fact="stock"]')).toHaveText("12");
  await expect(page.locator(".timeline > li")).toHaveCount(1);
  await shot("03-product");
});

test("an uploaded image shows its progress, then its thumbnail", async () => {
  // A 1200×800 JPEG drawn by the browser itself: a gradient with a shape, so the blurhash and
  // the renditions have something to show.
  const base64 = await page.evaluate(() => {
    const canvas = document.createElement("canvas");
    canvas.width = 1200;
    canvas.height = 800;
    const g = canvas.getContext("2d");
    const gradient = g.createLinearGradient(0, 0, 1200, 800);
    gradient.addColorStop(0, "#1f5eff");
    gradient.addColorStop(1, "#ffb020");
    g.fillStyle = gradient;
    g.fillRect(0, 0, 1200, 800);
    g.fillStyle = "#ffffff";
    g.beginPath();
    g.arc(600, 400, 220, 0, 2 * Math.PI);
    g.fill();
    return canvas.toDataURL("image/jpeg", 0.9).split(",")[1];
  });
  await page.getByLabel("Image files").setInputFiles({ name: "mug.jpg", mimeType: "image/jpeg", buffer: Buffer.from(base64, "base64") });
  await page.getByRole("button", { name: "Upload" }).click();

  const line = page.getByRole("list", { name: "Uploads" }).locator("li");
  await expect(line).toHaveCount(1);
  await expect(line).toContainText("mug.jpg");
  await expect(line.getByRole("progressbar")).toHaveAttribute("value", "1");

  const card = page.locator(".image-card").first();
  await expect(card).toBeVisible();
  await expect(card).toHaveAttribute("data-status", "ready", { timeout: 60_000 });
  await expect(card.locator(".picture.loaded img")).toBeVisible();
  await expect(card.locator("canvas.blurhash")).toHaveCount(1);
  await expect(card.locator(".renditions li")).toHaveCount(4);
  await expect(line).toHaveAttribute("data-state", "ready");
  await expect(line).toContainText("100% · ready");
  const loaded = await card.locator("img").evaluate((img) => img.complete && img.naturalWidth);
  expect(loaded).toBe(400);
  await shot("04-image-ready");
  await expect(page.locator("#status")).toContainText("Images processing 0", { timeout: 10_000 });

  // The list shows it too, as its 160-pixel thumbnail.
  await page.goto("/console/#/?q=blue");
  const thumb = rows().first().locator(".picture.loaded img");
  await expect(thumb).toBeVisible();
  await expect(thumb).toHaveAttribute("src", /\/thumb\.webp$/);
  expect(await thumb.evaluate((img) => img.naturalWidth)).toBe(160);
  await shot("05-list-thumbnail");
});

test("an edit made on a stale version shows the conflict, and can be applied again", async () => {
  await page.goto(`/console/#/products/${ids["MUG-BLUE"]}`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Blue enamel mug");
  const seen = Number((await page.locator(".product-head .version").textContent()).match(/\d+/)[0]);

  await page.getByText("Edit details").click();
  await page.getByLabel("Name", { exact: true }).fill("Blue enamel mug, large");
  // Someone else changes the price while the form is open.
  const other = await send("PUT", `/products/${ids["MUG-BLUE"]}/price`, { amount: 1490, currency: "EUR" });
  expect(other.version).toBe(seen + 1);
  await page.locator('form[data-form="details"]').getByRole("button", { name: "Save" }).click();

  const conflict = page.locator(".conflict");
  await expect(conflict).toBeVisible();
  await expect(conflict).toContainText(`made on version ${seen}`);
  await expect(conflict).toContainText(`now at version ${other.version}`);
  await expect(conflict.locator("table.diff")).toContainText("14.90");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Blue enamel mug");
  await shot("06-conflict");

  await page.getByRole("button", { name: `Apply my change to version ${other.version}` }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Blue enamel mug, large");
  await expect(page.locator(".conflict")).toHaveCount(0);
  await expect(page.locator('[data-fact="price"]')).toContainText("14.90");
  await expect(page.locator(".product-head .version")).toHaveText(`version ${other.version + 1}`);
});

test("the timeline shows who changed what, and an older version can be viewed", async () => {
  const entries = page.locator(".timeline > li");
  const last = Number((await page.locator(".product-head .version").textContent()).match(/\d+/)[0]);
  await expect(entries).toHaveCount(last);
  const rename = entries.filter({ hasText: "Details edited" });
  await expect(rename).toContainText("system-tester");
  await expect(rename.locator("table.diff")).toContainText("Blue enamel mug, large");
  await expect(entries.filter({ hasText: "Price changed" }).locator("table.diff")).toContainText("12.50");
  await shot("07-history");

  await page.getByRole("button", { name: "View version 1" }).click();
  await expect(page).toHaveURL(/version=1$/);
  await expect(page.locator(".past-banner")).toContainText(`Version 1 of ${last}`);
  await expect(page.locator(".past-head")).toContainText("Blue enamel mug");
  await expect(page.locator(".past-head")).not.toContainText("large");
  await expect(page.locator('#past [data-fact="price"]')).toContainText("12.50");
  await expect(page.locator(".image-card")).toHaveCount(0);
  await expect(page.locator("#images-title")).toHaveText("Images at version 1 (0)");
  await expect(page.locator("#version-slider")).toHaveValue("1");
  await shot("08-version-1");

  await page.getByRole("link", { name: "Back to the current version" }).click();
  await expect(page.locator(".past-banner")).toHaveCount(0);
  await expect(page.locator(".image-card")).toHaveCount(1);

  // The slider steps through versions from the keyboard: one back is the version before the
  // rename, with the new price already set.
  await page.locator("#version-slider").focus();
  await page.keyboard.press("ArrowLeft");
  await expect(page).toHaveURL(new RegExp(`version=${last - 1}$`));
  await expect(page.locator(".past-banner")).toContainText(`Version ${last - 1} of ${last}`);
  await expect(page.locator(".past-head")).not.toContainText("large");
  await expect(page.locator('#past [data-fact="price"]')).toContainText("14.90");
  await page.getByRole("link", { name: "Back to the current version" }).click();
});

test("an image is removed after a confirmation", async () => {
  await page.goto(`/console/#/products/${ids["MUG-BLUE"]}`);
  await expect(page.locator(".image-card")).toHaveCount(1);
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Remove" }).click();
  await expect(page.locator(".image-card")).toHaveCount(0);
  await expect(page.locator("#images-title")).toHaveText("Images (0)");
  await expect(page.locator(".timeline > li").first()).toContainText("Image removed");
});

test("a new product is created from its form", async () => {
  await page.getByRole("link", { name: "New product" }).click();
  await page.getByLabel("SKU", { exact: true }).fill("KETTLE-1");
  await page.getByLabel("Name", { exact: true }).fill("Stovetop kettle");
  await page.getByLabel("Price", { exact: true }).fill("39.00");
  await page.getByLabel("Stock", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Stovetop kettle");
  await expect(page.locator('[data-fact="stock"]')).toHaveText("3");

  // Stock and publication from the same page.
  await page.getByText("Adjust stock").click();
  await page.getByLabel("Change (+ or −)", { exact: true }).fill("-2");
  await page.getByLabel("Reason", { exact: true }).fill("sold at the counter");
  await page.locator('form[data-form="stock"]').getByRole("button", { name: "Save" }).click();
  await expect(page.locator('[data-fact="stock"]')).toHaveText("1");
  await page.getByRole("button", { name: "Publish" }).click();
  await expect(page.locator(".product-head .badge")).toHaveText("published");
  await expect(page.getByRole("button", { name: "Unpublish" })).toBeVisible();
  await expect(page.locator(".timeline > li").first()).toContainText("Published");

  await page.getByRole("link", { name: "New product" }).click();
  await page.getByLabel("SKU", { exact: true }).fill("KETTLE-1");
  await page.getByLabel("Name", { exact: true }).fill("Another kettle");
  await page.getByLabel("Price", { exact: true }).fill("1");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.locator(".form-message")).toContainText("SKU");
  await shot("09-create-refused");
});

test("a product type is defined, changed compatibly, and refused an incompatible change", async () => {
  await page.getByRole("link", { name: "Types", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Product types");
  await page.getByRole("link", { name: "New type" }).click();
  await page.getByLabel("Key", { exact: true }).fill("mug");
  await page.getByLabel("Name", { exact: true }).fill("Mug");
  await page.getByRole("button", { name: "Add attribute" }).click();
  const attribute = (n) => page.locator("tr.attribute").nth(n);
  await attribute(0).getByLabel("Attribute name").fill("volume_ml");
  await attribute(0).getByLabel("Attribute type").selectOption("number");
  await page.getByRole("button", { name: "Create type" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("mug · v1");

  // A new optional attribute is a compatible change.
  await page.getByRole("button", { name: "Add attribute" }).click();
  await attribute(1).getByLabel("Attribute name").fill("colour");
  await attribute(1).getByLabel("Attribute type").selectOption("enum");
  await attribute(1).getByLabel("Enum values").fill("white, blue");
  await page.getByRole("button", { name: "Save type" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("mug · v2");
  await expect(attribute(1).getByLabel("Enum values")).toHaveValue("white, blue");
  await shot("10-product-type");

  // Making it required would break products without it: the service says why.
  await attribute(1).getByLabel("Required").check();
  await page.getByRole("button", { name: "Save type" }).click();
  await expect(page.locator(".form-message")).toContainText("cannot become required");
  await page.getByRole("link", { name: "← Product types" }).click();
  await expect(page.locator("table.types tbody tr")).toHaveCount(1);
  await expect(page.locator("table.types")).toContainText("volume_ml, colour");
});

test("the types list answering after another page was opened leaves that page alone", async () => {
  // The list of types is held back until the console has moved on to the products. The
  // browser's cache, which may hold the list from the test before, would answer unrouted.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const typesList = (url) => new URL(url).pathname.endsWith("/product-types");
  let continued;
  const answered = new Promise((resolve) => { continued = resolve; });
  await page.route(typesList, async (route) => {
    await held;
    await route.continue();
    continued();
  });
  // From the products, so that opening the types is a change of page (the test before ends
  // on them).
  await page.evaluate(() => { location.hash = "#/"; });
  await expect(rows().first()).toBeVisible();
  await page.evaluate(() => { location.hash = "#/types"; });
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Product types");
  await page.evaluate(() => { location.hash = "#/"; });
  await expect(rows().first()).toBeVisible();
  release();
  await answered;
  await page.unroute(typesList);
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: false });
  // Give the late answer's handler its turn before looking.
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
  await expect(page.getByRole("heading", { level: 1 })).not.toHaveText("Product types");
  await expect(rows().first()).toBeVisible();
});

test("a product is read in the locale chosen, else in the browser's", async () => {
  const created = await send("POST", "/products", {
    sku: "CUP-L10N", name: { en: "Tea cup", de: "Teetasse" }, price: { amount: 500, currency: "EUR" },
  });
  await waitForReadModel(created.id, created.version);
  await page.goto(`/console/#/products/${created.id}`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Tea cup");
  const locale = page.getByLabel("Locale", { exact: true });
  await locale.fill("de");
  await locale.press("Tab");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Teetasse");
  await shot("11-locale");

  // Editing the name in German changes the German text only.
  await page.getByText("Edit details").click();
  const details = page.locator('form[data-form="details"]');
  await details.getByLabel("Name", { exact: true }).fill("Teeschale");
  await details.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Teeschale");
  await locale.fill("");
  await locale.press("Tab");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Tea cup");
});

test("a typed product is created with an input of each attribute's kind, in a locale", async () => {
  await send("PUT", "/product-types/cup", {
    name: "Cup",
    attributes: [
      { name: "material", type: "ltext", required: true },
      { name: "volume_ml", type: "number" },
      { name: "dishwasher_safe", type: "boolean" },
      { name: "colour", type: "enum", values: ["white", "blue"] },
      { name: "released", type: "date" },
    ],
  });
  await page.goto("/console/#/new");
  await page.getByLabel("SKU", { exact: true }).fill("CUP-TYPED");
  await page.getByLabel("Type", { exact: true }).selectOption("cup");
  await page.getByLabel("Texts in", { exact: true }).fill("de");
  await page.getByLabel("Name", { exact: true }).fill("Tasse");
  await page.getByLabel("material", { exact: true }).fill("Steinzeug");
  await page.getByLabel("volume_ml (optional)").fill("250");
  await page.getByLabel("dishwasher_safe (optional)").selectOption("true");
  await page.getByLabel("colour (optional)").selectOption("blue");
  await page.getByLabel("released (optional)").fill("2026-03-01");
  await page.getByLabel("Price", { exact: true }).fill("9.50");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Tasse");
  const attributes = page.locator('[data-fact="attributes"]');
  for (const shown of ["material: Steinzeug", "volume_ml: 250", "dishwasher_safe: true", "colour: blue", "released: 2026-03-01"]) {
    await expect(attributes).toContainText(shown);
  }
  await shot("12-typed-product");

  // The edit form has the same controls, filled; a change to one keeps the others.
  await page.getByText("Edit details").click();
  const details = page.locator('form[data-form="details"]');
  await expect(details.getByLabel("colour (optional)")).toHaveValue("blue");
  await details.getByLabel("volume_ml (optional)").fill("300");
  await details.getByRole("button", { name: "Save" }).click();
  await expect(attributes).toContainText("volume_ml: 300");
  await expect(attributes).toContainText("material: Steinzeug");

  // The texts were stored in German, the values as their kinds.
  const id = page.url().split("/products/")[1];
  const stored = await (await reads.get(`/products/${id}`)).json();
  expect(stored.type).toBe("cup");
  expect(stored.translations.name).toEqual({ de: "Tasse" });
  expect(stored.translations.attributes.material).toEqual({ de: "Steinzeug" });
  expect(stored.attributes).toMatchObject({ volume_ml: 300, dishwasher_safe: true, colour: "blue", released: "2026-03-01" });
});

/** A moment as a datetime-local input takes it: local time, to the minute. */
const localInput = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
const variantRows = () => page.locator("table.variants > tbody > tr[data-variant]");
const variantRow = (sku) => variantRows().filter({ has: page.locator(".variant-sku", { hasText: new RegExp(`^${sku}$`) }) });

test("a variant is added from the product page, and its stock adjusted", async () => {
  const created = await send("POST", "/products", {
    sku: "TEE-1", name: "Linen tee", category: "textiles", price: { amount: 2500, currency: "EUR" }, stock: 5,
  });
  ids["TEE-1"] = created.id;
  await waitForReadModel(created.id, created.version);
  await page.goto(`/console/#/products/${created.id}`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Linen tee");
  await expect(page.locator("#variants-title")).toHaveText("Variants (1)");
  await expect(variantRows()).toHaveCount(1);
  await expect(variantRow("TEE-1")).toContainText("master");

  await page.getByRole("button", { name: "New variant" }).click();
  const form = page.locator('form[data-form="variant-new"]');
  await form.getByLabel("SKU", { exact: true }).fill("TEE-1-L");
  await form.getByLabel("Attribute key").fill("size");
  await form.getByLabel("Attribute value").fill("L");
  await form.getByLabel("Price in EUR (optional)").fill("22.00");
  await form.getByLabel("Stock (optional)").fill("3");
  await form.getByRole("button", { name: "Add variant" }).click();

  await expect(variantRows()).toHaveCount(2);
  await expect(page.locator("#variants-title")).toHaveText("Variants (2)");
  const added = variantRow("TEE-1-L");
  await expect(added).toContainText("size: L");
  await expect(added.locator(".variant-price")).toContainText("22.00");
  await expect(added.locator(".variant-stock")).toHaveText("3");
  await expect(variantRows().first()).toContainText("TEE-1");
  await shot("13-variant-added");

  await added.getByRole("button", { name: "Stock" }).click();
  const stock = page.locator('form[data-form="variant-stock"]');
  await stock.getByLabel("Change (+ or −)").fill("-2");
  await stock.getByLabel("Reason").fill("sold at the fair");
  await stock.getByRole("button", { name: "Save" }).click();
  await expect(variantRow("TEE-1-L").locator(".variant-stock")).toHaveText("1");
  // The master's stock is its own.
  await expect(variantRow("TEE-1").locator(".variant-stock")).toHaveText("5");
  await expect(page.locator(".timeline > li").first()).toContainText("Variant stock adjusted");

  // More than it holds is refused, in the service's words.
  await variantRow("TEE-1-L").getByRole("button", { name: "Stock" }).click();
  await stock.getByLabel("Change (+ or −)").fill("-5");
  await stock.getByLabel("Reason").fill("a bigger order");
  await stock.getByRole("button", { name: "Save" }).click();
  await expect(stock.locator(".form-message")).toContainText("insufficient stock: 1 in stock");
  await expect(variantRow("TEE-1-L").locator(".variant-stock")).toHaveText("1");
  await stock.getByRole("button", { name: "Cancel" }).click();
  await expect(stock).toHaveCount(0);
});

test("a variant with a SKU already taken, or the same attributes as another, is refused", async () => {
  await page.getByRole("button", { name: "New variant" }).click();
  const form = page.locator('form[data-form="variant-new"]');
  await form.getByLabel("SKU", { exact: true }).fill("TEE-1-L");
  await form.getByLabel("Attribute key").fill("size");
  await form.getByLabel("Attribute value").fill("XL");
  await form.getByRole("button", { name: "Add variant" }).click();
  await expect(form.locator(".form-message")).toContainText('the SKU "TEE-1-L" is already used');
  await shot("14-variant-refused");

  await form.getByLabel("SKU", { exact: true }).fill("TEE-1-L2");
  await form.getByLabel("Attribute value").fill("L");
  await form.getByRole("button", { name: "Add variant" }).click();
  await expect(form.locator(".form-message")).toContainText("same variant attribute values");
  await expect(variantRows()).toHaveCount(2);
  await form.getByRole("button", { name: "Cancel" }).click();
});

test("a price list takes a dated sale, its mistakes shown on the row that has them", async () => {
  const day = 24 * 60 * 60 * 1000;
  const yesterday = new Date(Date.now() - day);
  const tomorrow = new Date(Date.now() + day);
  await variantRow("TEE-1-L").getByRole("button", { name: "Prices" }).click();
  const form = page.locator('form[data-form="variant-prices"]');
  const price = (n) => form.locator("tbody.price").nth(n);
  await expect(form.locator("tbody.price")).toHaveCount(1);
  await expect(price(0).getByLabel("Amount")).toHaveValue("22.00");
  await expect(price(0).getByLabel("Currency")).toHaveValue("EUR");

  await form.getByRole("button", { name: "Add price" }).click();
  await price(1).getByLabel("Amount").fill("18.00");
  // A window that ends before it starts.
  await price(1).getByLabel("Valid from").fill(localInput(tomorrow));
  await price(1).getByLabel("Valid until").fill(localInput(yesterday));
  await form.getByRole("button", { name: "Save" }).click();
  await expect(price(1).locator('[data-error-for="prices[1].valid_from"]')).toHaveText("must be before valid_until");
  await expect(price(0).locator(".field-error:not(:empty)")).toHaveCount(0);
  await shot("15-price-list-refused");

  await price(1).getByLabel("Valid from").fill(localInput(yesterday));
  await price(1).getByLabel("Valid until").fill(localInput(tomorrow));
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toHaveCount(0);
  const row = variantRow("TEE-1-L");
  // The sale applies now, so it is the price selected.
  await expect(row.locator(".variant-price > span").first()).toContainText("18.00");
  await row.getByText("2 prices").click();
  const list = row.locator(".price-summary li");
  await expect(list).toHaveCount(2);
  await expect(list.nth(0)).toContainText("22.00");
  await expect(list.nth(1)).toContainText("18.00 · ");
  await expect(page.locator(".timeline > li").first()).toContainText("Prices set");
  await shot("16-price-list");

  const stored = await (await reads.get(`/products/${ids["TEE-1"]}`)).json();
  const sale = stored.variants[1].prices[1];
  expect(sale).toMatchObject({ amount: 1800, currency: "EUR" });
  expect(new Date(sale.valid_from).getTime()).toBe(new Date(localInput(yesterday)).getTime());
  expect(new Date(sale.valid_until).getTime()).toBe(new Date(localInput(tomorrow)).getTime());
});

test("the list shows the lowest of the variants' prices and how many variants there are", async () => {
  await page.goto("/console/#/?q=tee");
  const row = rows().filter({ hasText: "Linen tee" });
  await expect(row.locator(".row-price")).toContainText("from");
  await expect(row.locator(".row-price")).toContainText("18.00");
  await expect(row.locator(".row-variants")).toHaveText("2 variants");
  await shot("17-list-variants");
  // A product with its master only shows its one price.
  await page.goto("/console/#/?q=apron");
  await expect(rows().first().locator(".row-price")).toHaveText(/^\D*29\.00\D*$/);
  await expect(rows().first().locator(".row-variants")).toHaveCount(0);
});

test("a variant is removed after a confirmation, and the master cannot be", async () => {
  await page.goto(`/console/#/products/${ids["TEE-1"]}`);
  await expect(variantRows()).toHaveCount(2);
  await expect(variantRow("TEE-1").getByRole("button", { name: "Remove" })).toHaveCount(0);
  page.once("dialog", (dialog) => dialog.accept());
  await variantRow("TEE-1-L").getByRole("button", { name: "Remove" }).click();
  await expect(variantRows()).toHaveCount(1);
  await expect(page.locator("#variants-title")).toHaveText("Variants (1)");
  await expect(page.locator(".timeline > li").first()).toContainText("Variant removed");
  await expect(page.locator(".timeline > li").first()).toContainText("TEE-1-L");

  // The version before still shows it.
  const version = Number((await page.locator(".product-head .version").textContent()).match(/\d+/)[0]);
  await page.getByRole("button", { name: `View version ${version - 1}`, exact: true }).click();
  await expect(page.locator("#variants-title")).toHaveText(`Variants at version ${version - 1} (2)`);
  await expect(variantRows()).toHaveCount(2);
  await expect(page.getByRole("button", { name: "New variant" })).toHaveCount(0);
  await page.getByRole("link", { name: "Back to the current version" }).click();
  await expect(variantRows()).toHaveCount(1);

  await page.goto("/console/#/?q=tee");
  const row = rows().filter({ hasText: "Linen tee" });
  await expect(row.locator(".row-price")).not.toContainText("from");
  await expect(row.locator(".row-variants")).toHaveCount(0);
});

test("a typed product's variants get an input of each variant-level attribute", async () => {
  await send("PUT", "/product-types/tee", {
    name: "Tee",
    attributes: [
      { name: "fabric", type: "text" },
      { name: "size", type: "enum", values: ["S", "M", "L"], required: true, level: "variant" },
    ],
  });
  const created = await send("POST", "/products", {
    sku: "TEE-TYPED", name: "Typed tee", type: "tee", price: { amount: 1500, currency: "EUR" },
    attributes: { fabric: "linen" }, variant_attributes: { size: "S" },
  });
  await waitForReadModel(created.id, created.version);
  await page.goto(`/console/#/products/${created.id}`);
  await expect(variantRow("TEE-TYPED")).toContainText("size: S");

  await page.getByRole("button", { name: "New variant" }).click();
  const form = page.locator('form[data-form="variant-new"]');
  await expect(form.getByLabel("size", { exact: true })).toBeVisible();
  await expect(form.getByLabel("fabric (optional)")).toHaveCount(0);
  await form.getByLabel("SKU", { exact: true }).fill("TEE-TYPED-M");
  await form.getByLabel("size", { exact: true }).selectOption("M");
  await form.getByRole("button", { name: "Add variant" }).click();
  await expect(variantRow("TEE-TYPED-M")).toContainText("size: M");
  // Added without a price: none is selected.
  await expect(variantRow("TEE-TYPED-M").locator(".variant-price")).toContainText("no prices");

  await variantRow("TEE-TYPED-M").getByRole("button", { name: "Edit" }).click();
  const edit = page.locator('form[data-form="variant-attributes"]');
  await expect(edit.getByLabel("size", { exact: true })).toHaveValue("M");
  await edit.getByLabel("size", { exact: true }).selectOption("S");
  await edit.getByRole("button", { name: "Save" }).click();
  // The master holds S already.
  await expect(edit.locator(".form-message")).toContainText("same variant attribute values");
  await edit.getByLabel("size", { exact: true }).selectOption("L");
  await edit.getByRole("button", { name: "Save" }).click();
  await expect(variantRow("TEE-TYPED-M")).toContainText("size: L");
  await shot("18-typed-variants");
});

// ---- import and export ----

test("a file is imported with its progress, its failed line shown, and the catalog exported", async () => {
  await page.goto("/console/#/");
  await page.getByRole("link", { name: "Import & export" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Import and export");
  await expect(page).toHaveTitle("Import and export · Catalog console");
  const lines = [
    { sku: "BULK-1", name: "Bulk mug", price: { amount: 800, currency: "EUR" }, stock: 3,
      variants: [{ sku: "BULK-1-XL", attributes: { size: "XL" }, stock: 1 }] },
    { sku: "BULK-2", name: "", price: { amount: 800, currency: "EUR" } },
    { sku: "MUG-BLUE", name: "Blue enamel mug", category: "kitchen", price: { amount: 1250, currency: "EUR" }, stock: 15 },
  ];
  const form = page.locator("form.import-form");
  await form.getByLabel("File").setInputFiles({
    name: "products.ndjson",
    mimeType: "application/x-ndjson",
    buffer: Buffer.from(lines.map((l) => JSON.stringify(l)).join("\n") + "\n"),
  });
  await form.getByRole("button", { name: "Import" }).click();

  const job = page.locator(".import-job .job");
  await expect(job).toHaveAttribute("data-status", "done", { timeout: 20_000 });
  await expect(job.locator(".job-progress")).toHaveText("3 of 3 lines");
  await expect(job.locator("[data-count=created]")).toHaveText("1");
  await expect(job.locator("[data-count=updated]")).toHaveText("1");
  await expect(job.locator("[data-count=failed]")).toHaveText("1");
  const failed = job.locator("table.import-errors tr[data-line='2']");
  await expect(failed.locator("td").nth(1)).toHaveText("BULK-2");
  await expect(failed.locator("td").nth(2)).toHaveText("validation");
  await expect(failed.locator("td").nth(3)).toContainText("name");
  await expect(page.locator("table.imports tbody tr")).toHaveCount(1);
  await shot("18a-import-done");

  // The import went through the same event store: the stock change is a command of its own.
  await expect.poll(async () => (await (await reads.get(`/products/${ids["MUG-BLUE"]}`)).json()).stock,
    { timeout: 20_000 }).toBe(15);

  const downloading = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export the catalog" }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe("catalog.ndjson");
  const { readFile } = await import("node:fs/promises");
  const exported = (await readFile(await download.path(), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  expect(exported.map((p) => p.sku)).toEqual(expect.arrayContaining(["BULK-1", "MUG-BLUE"]));
  expect(exported.find((p) => p.sku === "BULK-1").variants).toHaveLength(2);
});

// ---- webhook subscriptions ----

/**
 * The suite's webhook receiver, on 127.0.0.1: `/flaky` answers 500 while `failing`, anything
 * else 204. Each request is recorded with whether its Catalog-Signature is right for the secret
 * its path was subscribed with.
 */
const receiver = { failing: false, requests: [], secrets: {}, server: null, url: null };

function signedWith(secret, header, body) {
  const { t, v1 } = Object.fromEntries((header ?? "").split(",").map((part) => part.split("=")));
  return Boolean(t && v1) && createHmac("sha256", secret).update(`${t}.${body}`).digest("hex") === v1;
}

test.beforeAll(async () => {
  receiver.server = createServer((request, response) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const path = request.url;
      const failed = path === "/flaky" && receiver.failing;
      receiver.requests.push({
        path, failed,
        signed: signedWith(receiver.secrets[path] ?? "", request.headers["catalog-signature"], body),
      });
      response.writeHead(failed ? 500 : 204).end();
    });
  });
  await new Promise((resolve) => receiver.server.listen(0, "127.0.0.1", resolve));
  receiver.url = `http://127.0.0.1:${receiver.server.address().port}`;
});

test.afterAll(async () => {
  await new Promise((resolve) => (receiver.server ? receiver.server.close(resolve) : resolve()));
});

const subscriptionRows = () => page.locator("table.subscriptions > tbody > tr[data-subscription]");
const subscriptionRow = (name) => page.locator(`table.subscriptions > tbody > tr[data-subscription="${name}"]`);
const subscribeForm = () => page.locator('form[data-form="subscribe"]');

/** Reads the list again until `check` passes: the dispatcher changes subscriptions meanwhile. */
async function refreshUntil(check, timeout = 30_000) {
  await expect(async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    await check();
  }).toPass({ timeout, intervals: [250, 500] });
}

test("webhook subscriptions: an admin adds one from the form, and it is listed as active", async () => {
  await page.goto("/console/#/");
  await page.getByRole("link", { name: "Webhooks", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Webhook subscriptions");
  await expect(page).toHaveTitle("Webhook subscriptions · Catalog console");
  await expect(page.locator("p.summary")).toHaveText("No webhook subscriptions yet: nothing is delivered.");
  await expect(page.locator("table.subscriptions")).toBeHidden();

  const form = subscribeForm();
  receiver.secrets["/erp"] = "whsec-erp";
  await form.getByLabel("Name", { exact: true }).fill("erp-sync");
  await form.getByLabel("URL", { exact: true }).fill(`${receiver.url}/erp`);
  await form.getByLabel("Secret", { exact: true }).fill("whsec-erp");
  // The known event types, from the OpenAPI document, replace the free-text input.
  await expect(form.locator("select[name=types]")).toBeVisible();
  await form.getByLabel("Event types").selectOption(["ProductCreated", "StockAdjusted"]);
  await form.getByRole("button", { name: "Add subscription" }).click();

  const row = subscriptionRow("erp-sync");
  await expect(row.locator(".badge")).toHaveText("active");
  await expect(row.locator(".subscription-url")).toHaveText(`${receiver.url}/erp`);
  await expect(row.locator(".subscription-types")).toHaveText("ProductCreated, StockAdjusted");
  await expect(row.locator(".subscription-failures")).toHaveText("0");
  await expect(row.getByRole("button", { name: "Resume" })).toHaveCount(0);
  await expect(page.locator(".notice")).toContainText("Saved erp-sync: active");
  await expect(form.getByLabel("Name", { exact: true })).toHaveValue("");
  // Reads that overtake each other: the latest decides, and none leaves the list loading.
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.getByRole("button", { name: "Refresh" }).click();
  await expect(page.locator("p.summary")).toHaveText("1 subscription");
  await shot("19-subscription-added");

  // New products reach it, signed with its secret; the secret itself is never returned.
  const created = await send("POST", "/products", { sku: "HOOK-1", name: "Hooked mug", price: { amount: 900, currency: "EUR" } });
  await waitForReadModel(created.id, created.version);
  await expect.poll(() => receiver.requests.filter((r) => r.path === "/erp" && r.signed).length, { timeout: 20_000 }).toBeGreaterThan(0);
  const stored = await (await commands.get("/subscriptions/erp-sync")).json();
  expect(stored).not.toHaveProperty("secret");
  expect(stored.types).toEqual(["ProductCreated", "StockAdjusted"]);
});

test("webhook subscriptions: a URL the service refuses is shown beside the form", async () => {
  const form = subscribeForm();
  await form.getByLabel("Name", { exact: true }).fill("ftp-drop");
  // Loopback receivers are allowed here (WEBHOOK_ALLOW_PRIVATE), other schemes never are.
  await form.getByLabel("URL", { exact: true }).fill("ftp://files.example.com/drop");
  await form.getByLabel("Secret", { exact: true }).fill("whsec-ftp");
  await form.getByRole("button", { name: "Add subscription" }).click();
  await expect(form.locator('[data-error-for="url"]')).toHaveText("must be an http or https URL with a host");
  await expect(form.locator(".form-message")).not.toBeEmpty();
  await expect(subscriptionRows()).toHaveCount(1);
  await shot("20-subscription-refused");
});

test("webhook subscriptions: one whose receiver fails is retried, then paused, and resumes", async () => {
  receiver.failing = true;
  receiver.secrets["/flaky"] = "whsec-search";
  const form = subscribeForm();
  await form.getByLabel("Name", { exact: true }).fill("search-index");
  await form.getByLabel("URL", { exact: true }).fill(`${receiver.url}/flaky`);
  await form.getByLabel("Secret", { exact: true }).fill("whsec-search");
  // From the start of the feed: there is something to deliver at once.
  await form.getByLabel("Start after position (optional)").fill("0");
  await form.getByRole("button", { name: "Add subscription" }).click();
  const row = subscriptionRow("search-index");
  await expect(row.locator(".subscription-types")).toHaveText("all");

  // The dispatcher's attempts fail: retrying, with the receiver's answer and the next attempt.
  await refreshUntil(() => expect(row.locator(".badge")).toHaveText("retrying", { timeout: 500 }));
  await expect(row.locator(".subscription-failures")).not.toHaveText("0");
  await expect(row.locator(".subscription-error")).toContainText("HTTP 500 Internal Server Error");
  await expect(row.locator(".subscription-error")).toContainText("failing since");
  await expect(row.locator(".subscription-error")).toContainText("next attempt");
  await expect(row.getByRole("button", { name: "Resume" })).toBeVisible();
  await shot("21-subscription-retrying");

  // Failing for longer than the dispatcher allows: paused, no longer retried.
  await refreshUntil(() => expect(row.locator(".badge")).toHaveText("paused", { timeout: 500 }));
  await expect(row.locator(".subscription-error")).toContainText("HTTP 500 Internal Server Error");
  await expect(row.locator(".subscription-error")).toContainText("not retried until resumed");
  await expect(row.locator(".subscription-position")).toHaveText("0");
  await shot("22-subscription-paused");

  // The receiver is back. Resuming asks for the secret, which the API never returns.
  receiver.failing = false;
  await row.getByRole("button", { name: "Resume" }).click();
  const resume = page.locator('form[data-form="resume"]');
  await expect(resume).toContainText("Resume search-index");
  await resume.getByLabel("Secret", { exact: true }).fill("whsec-search");
  await resume.getByRole("button", { name: "Resume" }).click();
  await expect(page.locator(".notice")).toContainText("Resumed search-index: active");
  await expect(resume).toHaveCount(0);
  await expect(row.locator(".badge")).toHaveText("active");
  await expect(row.locator(".subscription-failures")).toHaveText("0");
  // Delivered this time, signed with the secret given: the checkpoint moves on.
  await refreshUntil(() => expect(row.locator(".subscription-position")).not.toHaveText("0", { timeout: 500 }));
  await expect(row.locator(".badge")).toHaveText("active");
  expect(receiver.requests.some((r) => r.path === "/flaky" && !r.failed && r.signed)).toBe(true);
  await shot("23-subscription-resumed");

  // Removal asks first; declined, nothing happens.
  page.once("dialog", (dialog) => dialog.dismiss());
  await row.getByRole("button", { name: "Remove" }).click();
  await expect(subscriptionRows()).toHaveCount(2);
  page.once("dialog", (dialog) => dialog.accept());
  await row.getByRole("button", { name: "Remove" }).click();
  await expect(page.locator(".notice")).toHaveText("Removed search-index.");
  await expect(row).toHaveCount(0);
  await expect(subscriptionRows()).toHaveCount(1);
  expect((await commands.get("/subscriptions/search-index")).status()).toBe(404);
});

test("webhook subscriptions: a token without catalog:admin is not offered them", async () => {
  await page.goto("/console/#/");
  await expect(page.getByRole("link", { name: "Webhooks", exact: true })).toBeVisible();
  await page.getByRole("button", { name: "Token" }).click();
  await page.getByLabel("Token", { exact: true }).fill(EDITOR_TOKEN);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#token")).toContainText("console-editor");
  await expect(page.getByRole("link", { name: "New product" })).toBeVisible();
  await expect(page.locator("#nav-subscriptions")).toBeHidden();

  await page.goto("/console/#/subscriptions");
  await expect(page).toHaveTitle("Webhook subscriptions · Catalog console");
  await expect(page.locator("main").getByRole("alert")).toHaveText("Webhook subscriptions need a token with scope catalog:admin.");
  await expect(page.locator("table.subscriptions")).toHaveCount(0);
  await expect(subscribeForm()).toHaveCount(0);
  await shot("24-subscriptions-need-admin");

  // The admin's token again: the page shows the list in place.
  await page.getByRole("button", { name: "Token" }).click();
  await page.getByLabel("Token", { exact: true }).fill(TOKEN);
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#nav-subscriptions")).toBeVisible();
  await expect(subscriptionRow("erp-sync")).toBeVisible();
});

// ---- facets ----

test("facets count the catalog and narrow the list", async () => {
  // Earlier steps made types and products of their own: these are told apart by category.
  const category = "allotment";
  const defined = await commands.fetch("/product-types/planter", {
    method: "PUT",
    data: {
      name: "Planter",
      attributes: [
        { name: "colour", type: "enum", values: ["terracotta", "sage", "slate"], level: "variant", facet: true },
        { name: "organic", type: "boolean", facet: true },
      ],
    },
  });
  expect(defined.status(), await defined.text()).toBe(201);
  const planters = [
    { sku: "PLANTER-TC-S", name: "Small terracotta planter", colour: "terracotta", organic: true, amount: 1800 },
    { sku: "PLANTER-TC-L", name: "Large terracotta planter", colour: "terracotta", organic: false, amount: 3400 },
    { sku: "PLANTER-SAGE", name: "Sage planter", colour: "sage", organic: true, amount: 2200 },
  ];
  for (const p of planters) {
    const created = await send("POST", "/products", {
      sku: p.sku, name: p.name, category, type: "planter", price: { amount: p.amount, currency: "EUR" },
      attributes: { organic: p.organic }, variant_attributes: { colour: p.colour },
    });
    await waitForReadModel(created.id, created.version);
  }
  const tally = (key) => planters.reduce((counts, p) => ({ ...counts, [p[key]]: (counts[p[key]] ?? 0) + 1 }), {});
  const colours = tally("colour");
  const organic = tally("organic");

  await page.goto(`/console/#/?category=${category}`);
  await expect(rows()).toHaveCount(planters.length);
  const panel = page.getByRole("complementary", { name: "Facets" });
  const group = (facet) => panel.locator(`fieldset[data-facet="${facet}"]`);
  // The category chosen in the URL is checked, counting every planter.
  await expect(group("category").getByRole("checkbox", { name: `${category} (${planters.length})`, exact: true })).toBeChecked();
  await expect(group("type").getByRole("checkbox", { name: `Planter (${planters.length})`, exact: true })).not.toBeChecked();
  await expect(group("attr.colour").locator("legend")).toHaveText("Colour");
  await expect(group("attr.colour").getByRole("checkbox")).toHaveCount(Object.keys(colours).length);
  for (const [colour, count] of Object.entries(colours)) {
    await expect(group("attr.colour").getByRole("checkbox", { name: `${colour} (${count})`, exact: true })).not.toBeChecked();
  }
  // Booleans read as yes and no.
  await expect(group("attr.organic").getByRole("checkbox", { name: `yes (${organic.true})`, exact: true })).toBeVisible();
  await expect(group("attr.organic").getByRole("checkbox", { name: `no (${organic.false})`, exact: true })).toBeVisible();
  await shot("25-facets");

  // A colour narrows the list to the planters holding it, in the URL too.
  const terracotta = group("attr.colour").getByRole("checkbox", { name: `terracotta (${colours.terracotta})`, exact: true });
  const skus = (colour) => planters.filter((p) => p.colour === colour).map((p) => p.sku).sort();
  await terracotta.click();
  await expect(page).toHaveURL(/attr\.colour=terracotta/);
  await expect(rows()).toHaveCount(colours.terracotta);
  expect((await rows().locator(".row-sku").allTextContents()).sort()).toEqual(skus("terracotta"));
  await expect(terracotta).toBeChecked();
  await expect(page.getByLabel("Category", { exact: true })).toHaveValue(category);
  await expect(group("attr.organic").getByRole("checkbox", { name: /^(yes|no) / })).toHaveCount(
    new Set(planters.filter((p) => p.colour === "terracotta").map((p) => p.organic)).size);
  await shot("26-facets-narrowed");

  // The chosen attribute's group still offers its other values, each counted as if none were
  // chosen; a second one widens the list to either.
  const sage = group("attr.colour").getByRole("checkbox", { name: `sage (${colours.sage})`, exact: true });
  await expect(sage).not.toBeChecked();
  await sage.click();
  await expect(rows()).toHaveCount(colours.terracotta + colours.sage);
  await expect(page).toHaveURL(/attr\.colour=terracotta&attr\.colour=sage/);
  await sage.click();
  await expect(rows()).toHaveCount(colours.terracotta);

  // Checked again, it lets go; back returns to the narrowed list.
  await terracotta.click();
  await expect(rows()).toHaveCount(planters.length);
  expect(page.url()).not.toContain("attr.colour=");
  await page.goBack();
  await expect(rows()).toHaveCount(colours.terracotta);
  await expect(terracotta).toBeChecked();

  // Repeated, an attribute takes any of its values; its group's Clear lets go of them all.
  await page.goto(`/console/#/?category=${category}&attr.colour=terracotta&attr.colour=sage`);
  await expect(rows()).toHaveCount(colours.terracotta + colours.sage);
  await expect(group("attr.colour").getByRole("checkbox", { checked: true })).toHaveCount(2);
  await panel.getByRole("button", { name: "Clear Colour" }).click();
  await expect(rows()).toHaveCount(planters.length);
  await expect(group("attr.colour").getByRole("checkbox", { checked: true })).toHaveCount(0);

  // The category is the form's field too: let go of in the panel, the field empties.
  await group("category").getByRole("checkbox", { name: `${category} (${planters.length})`, exact: true }).click();
  await expect(page.getByLabel("Category", { exact: true })).toHaveValue("");
  await expect(rows()).not.toHaveCount(planters.length);
  expect(page.url()).not.toContain("category=");
});

// ---- signing in ----

/** Signs in from the sign-in page the header's "Sign in" opens. */
async function signInAs(email, password) {
  await page.getByRole("link", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Sign in");
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.locator("form.sign-in").getByRole("button", { name: "Sign in" }).click();
}

const stockForm = () => page.locator('form[data-form="stock"]');

test("a person signs in with email and password, edits as themselves, and signs out", async () => {
  expect(SIGN_IN_EMAIL && SIGN_IN_PASSWORD, "SIGN_IN_EMAIL and SIGN_IN_PASSWORD are set").toBeTruthy();
  const id = ids["MUG-RED"];
  await page.goto(`/console/#/products/${id}`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Red enamel mug");
  // The admin's token of the earlier steps forgotten: nobody is signed in, nothing offered.
  await page.getByRole("button", { name: "Token" }).click();
  await page.getByRole("button", { name: "Forget token" }).click();
  await expect(page.locator("#token")).toContainText("read-only");
  await expect(page.getByText("Adjust stock")).toHaveCount(0);
  await expect(page.locator(".details .hint")).toHaveText("Sign in as an editor, or use a token with the scope catalog:write, to edit.");

  // A wrong password is refused in the service's words, and the page stays.
  await signInAs(SIGN_IN_EMAIL, "not the password at all");
  await expect(page.locator("form.sign-in").getByRole("alert")).toHaveText("the email or the password is wrong");
  await expect(page).toHaveURL(/#\/sign-in$/);
  await expect(page.getByLabel("Email", { exact: true })).toHaveAttribute("autocomplete", "username");
  await expect(page.getByLabel("Password", { exact: true })).toHaveAttribute("autocomplete", "current-password");
  await shot("27-sign-in-refused");

  // Five failures for one email lock it out for a while, known or not: the page says until when.
  const nobody = "nobody@example.com";
  for (let i = 0; i < 5; i++) {
    const failed = await reads.post("/session", { data: { email: nobody, password: "not anyone's password" } });
    expect(failed.status()).toBe(401);
  }
  await page.getByLabel("Email", { exact: true }).fill(nobody);
  await page.getByLabel("Password", { exact: true }).fill("not anyone's password");
  await page.locator("form.sign-in").getByRole("button", { name: "Sign in" }).click();
  const locked = page.locator("form.sign-in").getByRole("alert");
  await expect(locked).toContainText("wait before trying again");
  await expect(locked.locator("time")).toHaveText(/^in 1[45] minutes$/);
  await shot("27b-sign-in-locked-out");
  await page.getByLabel("Email", { exact: true }).fill(SIGN_IN_EMAIL);

  // The right one: back to the product, the header naming the person and their role.
  await page.getByLabel("Password", { exact: true }).fill(SIGN_IN_PASSWORD);
  await page.locator("form.sign-in").getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(new RegExp(`#/products/${id}$`));
  await expect(page.locator("#token")).toContainText(SIGN_IN_EMAIL);
  await expect(page.locator("#token .role")).toHaveText("editor");
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
  await expect(page.getByRole("link", { name: "New product" })).toBeVisible();
  // An editor administers nothing and audits nothing.
  await expect(page.locator("#nav-subscriptions")).toBeHidden();
  await expect(page.locator(".history .hint")).toContainText("catalog:audit");
  // The session is the browser's cookie, out of the page's reach; no token is kept.
  expect(await page.evaluate(() => Object.keys(sessionStorage))).not.toContain("catalog.console.token");
  expect(await page.evaluate(() => document.cookie)).not.toContain("catalog_session");
  const cookie = (await page.context().cookies()).find((c) => c.name === "catalog_session");
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe("Strict");

  // An edit, sent to command-api with the cookie and the session's CSRF token.
  const stock = Number(await page.locator('[data-fact="stock"]').textContent());
  await page.getByText("Adjust stock").click();
  await stockForm().getByLabel("Change (+ or −)", { exact: true }).fill("3");
  await stockForm().getByLabel("Reason", { exact: true }).fill("delivery counted in");
  await stockForm().getByRole("button", { name: "Save" }).click();
  await expect(page.locator('[data-fact="stock"]')).toHaveText(String(stock + 3));
  await shot("28-signed-in");

  // Recorded as the person's: the history (catalog:audit, which the suite's token has) names
  // their email as the actor.
  const history = await reads.get(`/products/${id}/history?after=0&limit=1000`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(history.ok(), await history.text()).toBeTruthy();
  const last = (await history.json()).items.at(-1);
  expect(last.type).toBe("StockAdjusted");
  expect(last.actor).toBe(SIGN_IN_EMAIL);

  // A reload forgets what the page knew; GET /session tells it again.
  await page.reload();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Red enamel mug");
  await expect(page.locator("#token")).toContainText(SIGN_IN_EMAIL);
  await expect(page.getByText("Adjust stock")).toBeVisible();

  // Signed out: read-only again, and the cookie is gone.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(page.locator("#token")).toContainText("read-only");
  await expect(page.locator("#token")).not.toContainText(SIGN_IN_EMAIL);
  await expect(page.getByText("Adjust stock")).toHaveCount(0);
  await expect(page.getByRole("link", { name: "New product" })).toHaveCount(0);
  expect((await page.context().cookies()).find((c) => c.name === "catalog_session")).toBeUndefined();
  await page.reload();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Red enamel mug");
  await expect(page.locator("#token")).toContainText("read-only");
  await shot("29-signed-out");
});

test("a session ended elsewhere returns the console to signed-out, asking to sign in again", async ({ playwright }) => {
  const id = ids["MUG-RED"];
  await signInAs(SIGN_IN_EMAIL, SIGN_IN_PASSWORD);
  await expect(page).toHaveURL(new RegExp(`#/products/${id}$`));
  await expect(page.locator("#token")).toContainText(SIGN_IN_EMAIL);

  // The same session ended from outside the page (as signing out in another tab would), the
  // browser still holding its cookie.
  const { value } = (await page.context().cookies()).find((c) => c.name === "catalog_session");
  const elsewhere = await playwright.request.newContext({ baseURL: QUERY_URL, extraHTTPHeaders: { Cookie: `catalog_session=${value}` } });
  try {
    const running = await elsewhere.get("/session");
    expect(running.ok()).toBeTruthy();
    const ended = await elsewhere.delete("/session", { headers: { "X-CSRF-Token": (await running.json()).csrf_token } });
    expect(ended.status()).toBe(204);
  } finally {
    await elsewhere.dispose();
  }

  // The next edit is refused with 401 by command-api: the console lets go of the session.
  await page.getByText("Adjust stock").click();
  await stockForm().getByLabel("Change (+ or −)", { exact: true }).fill("-1");
  await stockForm().getByLabel("Reason", { exact: true }).fill("breakage");
  await stockForm().getByRole("button", { name: "Save" }).click();
  await expect(page.locator("#account-notice")).toHaveText("Your session has ended: sign in again to make changes.");
  await expect(page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(page.getByText("Adjust stock")).toHaveCount(0);
  await shot("30-session-ended");

  // Signing in again clears the word.
  await signInAs(SIGN_IN_EMAIL, SIGN_IN_PASSWORD);
  await expect(page.locator("#token")).toContainText(SIGN_IN_EMAIL);
  await expect(page.locator("#account-notice")).toBeEmpty();
});
