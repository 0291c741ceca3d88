// Talking to Catalog: reads from the query API (this page's origin), commands to the command
// API named in /console/config.json. Errors come back as `ApiError`s carrying the service's
// problem+json, so every view can show the service's own words.
//
// Who calls is proven one of two ways: a person signed in (POST /session) holds a session
// cookie the browser keeps out of reach of scripts, and the console sends it along with the
// session's CSRF token on every change; or a token pasted under "Advanced", sent as
// `Authorization: Bearer`. A pasted token wins over the session, as it does on the services.

const TOKEN_KEY = "catalog.console.token";
const LOCALE_KEY = "catalog.console.locale";

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem ?? {};
    /** Seconds to wait before asking again, from a 429's or 503's Retry-After. */
    this.retryAfter = retryAfter;
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
  ended = null;
  authChanged();
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

// ---- the session: a sign-in, its cookie kept by the browser ----

/** The running session as GET or POST /session answered it ({email, role, scopes, csrf_token,
 * expires_at}), or null. Only in memory: after a reload GET /session tells it again. */
let session = null;
/** Why the console signed the person out on its own, to tell them; null once they act on it. */
let ended = null;

export const currentSession = () => session;
export const endedReason = () => ended;

/** Tells the header and the views that who calls, and so what they may do, changed. */
function authChanged() {
  window.dispatchEvent(new Event("catalog:auth"));
}

/** Asks query-api who this browser's cookie signs in, once on load: a reload keeps nobody's
 * session in memory, and the CSRF token is only ever read from the answer. */
export async function restoreSession() {
  try {
    session = await sessionRequest("GET");
  } catch (err) {
    // 401: nobody is signed in. Anything else (Redis down): read-only until a sign-in.
    if (err.status !== 401) console.warn("the session cannot be read:", err.message);
    session = null;
  }
  return session;
}

/** Signs in; rejects with the service's ApiError (401 wrong, 429 locked out, 422 invalid). */
export async function signIn(email, password) {
  session = await sessionRequest("POST", { email, password });
  ended = null;
  authChanged();
  return session;
}

/** Signs out: the session ends on the service at once, and the cookie is cleared. */
export async function signOut() {
  await sessionRequest("DELETE", undefined, session ? { "X-CSRF-Token": session.csrf_token } : {});
  session = null;
  ended = null;
  authChanged();
}

const ENDED = "Your session has ended: sign in again to make changes.";

/** A session a service no longer knows (signed out elsewhere, idle, past its limit): back to
 * read-only, with a word to sign in again. Any other 401 to the cookie (a service it never
 * reached, say) is told in the service's words, or signing in again would seem to be the cure. */
function sessionEnded(problem) {
  if (!session) return;
  session = null;
  const detail = problem?.detail ?? "";
  ended = !detail || detail.startsWith("the session has ended") ? ENDED : `Signed out: ${detail}.`;
  authChanged();
}

/**
 * After a 403 csrf: the cookie names another session than this tab knows, most likely a sign-in
 * in another tab. Learns it, and says whether it is still the same person's: only then may a
 * change be sent again, with that session's CSRF token, or it would be recorded as someone else's.
 */
async function renewSession() {
  const who = session?.email;
  const known = await restoreSession();
  if (known && known.email === who) return true;
  if (!known) ended = ENDED;
  authChanged();
  return false;
}

/** GET, POST or DELETE /session on query-api (this origin, so the cookie goes same-origin). */
async function sessionRequest(method, body, headers = {}) {
  const response = await fetch("/session", {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...(body ? { "Content-Type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

// ---- what the console acts with: the pasted token, else the session ----

/** The scopes the console may act with: the token's `scope` claim, else the session's role's. */
export function scopes() {
  if (token()) return claims()?.scopes ?? [];
  return session?.scopes ?? [];
}

export const hasScope = (scope) => scopes().includes(scope);

const READS = new Set(["GET", "HEAD"]);

/**
 * How a request to either API proves who calls: `headers` and fetch's `credentials`, and
 * whether it went by the session (so that a 401 means the session has ended). The cookie has to
 * be asked for ("include") to reach command-api, another origin; a change made with it repeats
 * the session's CSRF token, which no other site's page can know.
 */
function credentials(method = "GET") {
  const value = token();
  if (value) return { headers: { Authorization: `Bearer ${value}` }, credentials: "same-origin", viaSession: false };
  if (!session) return { headers: {}, credentials: "same-origin", viaSession: false };
  const headers = READS.has(method) ? {} : { "X-CSRF-Token": session.csrf_token };
  return { headers, credentials: "include", viaSession: true };
}

/** The ApiError of a failed response; a 401 to a request made with the session ends it here. */
async function failure(response, via = null) {
  const problem = await problemOf(response);
  if (response.status === 401 && via?.viaSession) sessionEnded(problem);
  const after = Number(response.headers.get("Retry-After"));
  return new ApiError(response.status, problem, Number.isFinite(after) && after > 0 ? after : null);
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

/** GET from the query API; `auth` proves who asks, by token or session (history, versions). */
export async function read(path, { auth = false, signal } = {}) {
  const via = auth ? credentials() : null;
  const response = await fetch(localized(path), {
    headers: { Accept: "application/json", ...via?.headers },
    credentials: via?.credentials ?? "same-origin",
    signal,
  });
  if (!response.ok) throw await failure(response, via);
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

/** What every command carries: who sends it (token, or the session's CSRF token), its
 * Idempotency-Key (none on a read), and If-Match when given. */
function commandHeaders(via, ifMatch, key) {
  const headers = { Accept: "application/json", ...via.headers };
  if (key != null) headers["Idempotency-Key"] = key;
  if (ifMatch != null) headers["If-Match"] = `"${ifMatch}"`;
  return headers;
}

const CSRF = "urn:catalog:problem:csrf";

/**
 * Sends a command: `ifMatch` is the version the user saw (412 if the product moved on).
 * Network failures, 429 and 503 are retried with the same Idempotency-Key, so a retry never
 * runs the command twice. Resolves to the response body ({id, version, ...}).
 */
export async function command(method, path, { body, ifMatch, key = newKey() } = {}) {
  if (!config.command_api) throw new ApiError(0, { detail: "This console is read-only: no command API is configured." });
  let via = credentials(method);
  let headers = commandHeaders(via, ifMatch, key);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let renewed = false;
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(config.command_api + path, {
        method,
        headers,
        credentials: via.credentials,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (attempt + 1 >= ATTEMPTS) throw new ApiError(0, { detail: `The command API cannot be reached (${err.message}).` });
      await sleep(retryDelay(null, attempt));
      continue;
    }
    // A DELETE that answers 204 has no body to read.
    if (response.ok) return response.status === 204 ? null : response.json();
    const err = await failure(response, via);
    if ((RETRYABLE.has(response.status) || RETRYABLE_KINDS.has(err.problem.type)) && attempt + 1 < ATTEMPTS) {
      await sleep(retryDelay(response, attempt));
      continue;
    }
    // The cookie names another session than the one this tab knows (signed in again in
    // another tab): learn its CSRF token and send once more, nothing having been done.
    if (err.problem.type === CSRF && via.viaSession && !renewed) {
      renewed = true;
      if (await renewSession()) {
        via = credentials(method);
        headers = { ...headers, ...via.headers };
        continue;
      }
    }
    throw err;
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
function sendWithProgress(path, body, { via, headers }, onProgress) {
  if (!config.command_api) return Promise.reject(new ApiError(0, { detail: "This console is read-only." }));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${config.command_api}${path}`);
    xhr.responseType = "json";
    // The session cookie, to another origin, as fetch's credentials: "include" sends it.
    xhr.withCredentials = via.viaSession;
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress?.(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
      if (xhr.status === 401 && via.viaSession) sessionEnded(xhr.response);
      reject(new ApiError(xhr.status, xhr.response ?? { title: xhr.statusText }));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: "The upload could not reach the command API." })));
    xhr.send(body);
  });
}

/** Uploads an image of a product with progress. */
export function upload(productId, file, { ifMatch, onProgress }) {
  const form = new FormData();
  form.append("file", file);
  const via = credentials("POST");
  return sendWithProgress(`/products/${productId}/images`, form, { via, headers: commandHeaders(via, ifMatch, newKey()) }, onProgress);
}

/**
 * Uploads an import file (NDJSON) with progress; resolves to `{import_id}`. No
 * Idempotency-Key: importing the same file again changes nothing.
 */
export function importFile(file, { dryRun, onProgress }) {
  const via = credentials("POST");
  const headers = { ...commandHeaders(via, null, null), "Content-Type": "application/x-ndjson" };
  return sendWithProgress(`/imports${dryRun ? "?dry_run=true" : ""}`, file, { via, headers }, onProgress);
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
