// Talking to Catalog: reads from the query API (this page's origin), commands to the command
// API named in /console/config.json. Errors come back as `ApiError`s carrying the service's
// problem+json, so every view can show the service's own words.

const TOKEN_KEY = "catalog.console.token";
const LOCALE_KEY = "catalog.console.locale";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
  }

  /** The field errors of a 422, as {field: message}. */
  get fields() {
    return Object.fromEntries((this.problem.errors ?? []).map((e) => [e.field, e.message]));
  }
}

let config = { command_api: null, limits: {}, sku_pattern: null };

export async function loadConfig() {
  try {
    config = await read("/console/config.json");
  } catch {
    config = { command_api: null, limits: {}, sku_pattern: null };
  }
  return config;
}

export const canWrite = () => Boolean(config.command_api);

/** The longest value of a text field, as the domain's rules state it (served in config.json). */
export const maxLength = (field) => config.limits?.[field];

/** What a SKU may hold, as an HTML `pattern`. */
export const skuPattern = () => config.sku_pattern ?? undefined;

// ---- the token: pasted once, kept for this tab's session only ----

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event("catalog:token"));
}

/** What the token says about itself (unverified: the services check it), or null. */
export function claims(raw = token()) {
  if (!raw) return null;
  try {
    const part = raw.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0)));
    const claims = JSON.parse(json);
    const scopes = String(claims.scope ?? "").split(" ").filter(Boolean);
    return { ...claims, scopes, expired: claims.exp != null && claims.exp * 1000 < Date.now() };
  } catch {
    return null;
  }
}

export const hasScope = (scope) => claims()?.scopes.includes(scope) ?? false;

function authorization() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

/** One line for any error: the service's problem detail, with each rejected field. */
export function describe(err) {
  const fields = err.problem?.errors?.map((e) => `${e.field}: ${e.message}`) ?? [];
  return [err.message, ...fields].join(" — ");
}

// ---- the locale products are read in: the browser's (Accept-Language) unless one is named ----

export function chosenLocale() {
  return sessionStorage.getItem(LOCALE_KEY);
}

export function setLocale(tag) {
  if (tag) sessionStorage.setItem(LOCALE_KEY, tag);
  else sessionStorage.removeItem(LOCALE_KEY);
  window.dispatchEvent(new Event("catalog:locale"));
}

/** `path` asking for the chosen locale, when it reads products. */
function localized(path) {
  const tag = chosenLocale();
  if (!tag || !path.startsWith("/products")) return path;
  return `${path}${path.includes("?") ? "&" : "?"}locale=${encodeURIComponent(tag)}`;
}

// ---- reads ----

async function problemOf(response) {
  const type = response.headers.get("Content-Type") ?? "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      /* an unreadable body: the status says enough */
    }
  }
  return { title: response.statusText, status: response.status };
}

/** GET from the query API; `auth` sends the token (history, versions). */
export async function read(path, { auth = false, signal } = {}) {
  const response = await fetch(localized(path), {
    headers: { Accept: "application/json", ...(auth ? authorization() : {}) },
    signal,
  });
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.json();
}

// ---- commands ----

/** A fresh Idempotency-Key: one per action the user takes, reused by that action's retries. */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const RETRYABLE = new Set([429, 503]);
/** 409s that say "not applied, ask again": a concurrent write won the race, or this very
 * request (same key) is still running. */
const RETRYABLE_KINDS = new Set(["urn:catalog:problem:contention", "urn:catalog:problem:idempotency-in-progress"]);
const ATTEMPTS = 4;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function retryDelay(response, attempt) {
  const after = Number(response?.headers.get("Retry-After"));
  const seconds = Number.isFinite(after) && after > 0 ? Math.min(after, 5) : 0.5 * 2 ** attempt;
  return seconds * 1000;
}

/** What every command carries: the token, its Idempotency-Key (none on a read), and If-Match
 * when given. */
function commandHeaders(ifMatch, key) {
  const headers = { Accept: "application/json", ...authorization() };
  if (key != null) headers["Idempotency-Key"] = key;
  if (ifMatch != null) headers["If-Match"] = `"${ifMatch}"`;
  return headers;
}

/**
 * Sends a command: `ifMatch` is the version the user saw (412 if the product moved on).
 * Network failures, 429 and 503 are retried with the same Idempotency-Key, so a retry never
 * runs the command twice. Resolves to the response body ({id, version, ...}).
 */
export async function command(method, path, { body, ifMatch, key = newKey() } = {}) {
  if (!config.command_api) throw new ApiError(0, { detail: "This console is read-only: no command API is configured." });
  const headers = commandHeaders(ifMatch, key);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(config.command_api + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (attempt + 1 >= ATTEMPTS) throw new ApiError(0, { detail: `The command API cannot be reached (${err.message}).` });
      await sleep(retryDelay(null, attempt));
      continue;
    }
    // A DELETE that answers 204 has no body to read.
    if (response.ok) return response.status === 204 ? null : response.json();
    const problem = await problemOf(response);
    if ((RETRYABLE.has(response.status) || RETRYABLE_KINDS.has(problem.type)) && attempt + 1 < ATTEMPTS) {
      await sleep(retryDelay(response, attempt));
      continue;
    }
    throw new ApiError(response.status, problem);
  }
}

/**
 * GET from the command API with the token: what only it serves (webhook subscriptions, whose
 * scope is catalog:admin). Retried like a command; being a read, it carries no Idempotency-Key.
 */
export function commandRead(path) {
  return command("GET", path, { key: null });
}

/**
 * POSTs `body` to the command API with progress: XMLHttpRequest, because fetch reports no
 * upload progress. `onProgress(fraction)` is called as bytes leave; resolves to the JSON answer.
 */
function sendWithProgress(path, body, headers, onProgress) {
  if (!config.command_api) return Promise.reject(new ApiError(0, { detail: "This console is read-only." }));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${config.command_api}${path}`);
    xhr.responseType = "json";
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress?.(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(new ApiError(xhr.status, xhr.response ?? { title: xhr.statusText }));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: "The upload could not reach the command API." })));
    xhr.send(body);
  });
}

/** Uploads an image of a product with progress. */
export function upload(productId, file, { ifMatch, onProgress }) {
  const form = new FormData();
  form.append("file", file);
  return sendWithProgress(`/products/${productId}/images`, form, commandHeaders(ifMatch, newKey()), onProgress);
}

/**
 * Uploads an import file (NDJSON) with progress; resolves to `{import_id}`. No
 * Idempotency-Key: importing the same file again changes nothing.
 */
export function importFile(file, { dryRun, onProgress }) {
  const headers = { ...commandHeaders(null, null), "Content-Type": "application/x-ndjson" };
  return sendWithProgress(`/imports${dryRun ? "?dry_run=true" : ""}`, file, headers, onProgress);
}

/**
 * The product once the read model holds `version` or later (read-your-writes). The query API
 * waits up to 2 s itself; a 503 means it is still behind, so ask again a few times.
 */
export async function productAt(id, version) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read(`/products/${id}?min_version=${version}`);
    } catch (err) {
      if (err.status !== 503 || attempt >= 4) throw err;
      await sleep(500);
    }
  }
}
