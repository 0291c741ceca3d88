// The console's entry point: the header (who is signed in, locale, status strip) and a router
// over the URL's fragment: #/ (the list, filters in its query), #/new,
// #/products/{id}[?version=n], #/types, #/types/new, #/types/{key}, #/subscriptions, #/imports,
// #/sign-in.

import {
  canWrite, chosenLocale, claims, currentSession, describe, endedReason, hasScope, loadConfig,
  restoreSession, setLocale, setToken, signIn, signOut, token,
} from "./api.js";
import { field, h, replace, showProblem, timeAgo } from "./dom.js";
import { importsView } from "./imports.js";
import { listView } from "./list.js";
import { newProductView, productView } from "./product.js";
import { statusStrip } from "./status.js";
import { subscriptionsView } from "./subscriptions.js";
import { newTypeView, typesView, typeView } from "./types.js";

const main = document.querySelector("main");
let current = null;
/** Where the person was before the sign-in page, to return there once signed in. */
let place = "#/";

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
              : path === "/sign-in" ? "sign-in"
                : type ? `type:${type[1]}` : "list";
  if (key !== "sign-in") place = location.hash || "#/";
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
  else if (key === "sign-in") view = signInView(main);
  else view = listView(main, params);
  current = { key, view };
  main.focus({ preventScroll: true });
}

// ---- who is signed in: the header's account box ----

/**
 * The header's account box: who the console acts as (a pasted token's subject, else the signed-in
 * person's email and role) and what they may start, with Sign in or Sign out. A pasted token
 * wins over a session, as on the services, so it is the one shown.
 */
function accountBox() {
  const box = document.querySelector("#token");
  const dialog = document.querySelector("#token-dialog");
  const field = dialog.querySelector("textarea");
  // Only an admin can read subscriptions, so only an admin is offered the page.
  const subscriptions = document.querySelector("#nav-subscriptions");
  // A line of its own under the header, there from the start so that what it says is announced:
  // why the console signed the person out, or why signing out failed.
  const notice = h("p", { id: "account-notice", class: "account-notice", role: "alert" });
  box.closest("header").append(notice);
  const show = () => {
    const session = currentSession();
    subscriptions.hidden = !(canWrite() && hasScope("catalog:admin"));
    notice.textContent = endedReason() ?? "";
    replace(box,
      who(session),
      canWrite() && hasScope("catalog:write") ? h("a", { href: "#/new", class: "button" }, "New product") : null,
      token() ? h("button", { type: "button", onclick: openTokenDialog }, "Token") : null,
      session ? h("button", { type: "button", onclick: leave }, "Sign out")
        : token() ? null : h("a", { href: "#/sign-in", class: "button" }, "Sign in"));
  };
  async function leave(e) {
    const button = e.currentTarget;
    button.disabled = true;
    notice.textContent = "";
    try {
      await signOut();
    } catch (err) {
      // Still signed in: the service did not end the session, so say why and offer it again.
      button.disabled = false;
      notice.textContent = `Not signed out: ${describe(err)}`;
    }
  }
  dialog.querySelector("form").addEventListener("submit", (e) => {
    if (e.submitter?.value === "forget") setToken(null);
    else if (e.submitter?.value === "save") setToken(field.value);
  });
  window.addEventListener("catalog:auth", () => {
    show();
    // Signed in (or a token saved) from the sign-in page: back to where the person was.
    if (current?.key === "sign-in" && (currentSession() || token())) {
      location.hash = place;
      return;
    }
    // Forms and history depend on the scopes.
    current?.view?.dispose?.();
    current = null;
    route();
  });
  show();
}

function who(session) {
  const c = claims();
  if (token()) {
    return c
      ? h("span", { class: `who${c.expired ? " expired" : ""}`, title: `scopes: ${c.scopes.join(" ") || "none"}` },
        `${c.sub ?? "?"}${c.expired ? " (token expired)" : ""}`)
      : h("span", { class: "who expired" }, "unreadable token");
  }
  if (session) {
    return h("span", { class: "who", title: `scopes: ${session.scopes.join(" ") || "none"}` },
      session.email, " ", h("span", { class: "role" }, session.role));
  }
  return h("span", { class: "who none" }, "read-only");
}

function openTokenDialog() {
  const dialog = document.querySelector("#token-dialog");
  dialog.querySelector("textarea").value = token() ?? "";
  dialog.showModal();
}

// ---- #/sign-in ----

/**
 * Email and password, sent to POST /session: the browser keeps the session's cookie, the
 * console its CSRF token. Refusals are shown in the service's words: a wrong email or password
 * (never which), too many failures (and when to try again), a field it rejects. The pasted
 * token stays under "Advanced", for scripts' and outside issuers' tokens.
 */
function signInView(root) {
  document.title = "Sign in · Catalog console";
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true, maxlength: 254, spellcheck: "false" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, maxlength: 1024 });
  const submit = h("button", { type: "submit" }, "Sign in");
  const message = h("p", { class: "form-message", role: "alert" });
  const form = h("form", { class: "edit create sign-in", "aria-labelledby": "sign-in-title" },
    field("Email", email, "email"), field("Password", password, "password"),
    h("div", { class: "actions" }, submit), message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    message.classList.remove("error");
    message.textContent = "Signing in…";
    try {
      // Success is the header's to show; the page itself is left (see accountBox).
      await signIn(email.value.trim(), password.value);
    } catch (err) {
      message.classList.add("error");
      showProblem(form, message, err);
      // Locked out for a while (too many failures): when, by the service's Retry-After.
      if (err.status === 429 && err.retryAfter) {
        message.append(" — try again ", timeAgo(new Date(Date.now() + err.retryAfter * 1000).toISOString()), ".");
      }
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  const session = currentSession();
  replace(root,
    h("h1", { id: "sign-in-title" }, "Sign in"),
    session ? h("p", { class: "hint" }, `You are signed in as ${session.email} (${session.role}); signing in again replaces that session.`) : null,
    form,
    h("details", { class: "advanced" },
      h("summary", {}, "Advanced: use a token"),
      h("p", { class: "hint" }, "A token (a JWT) issued to you or to a tool, pasted once, is kept in this tab only and used instead of a sign-in: its scopes say what the console may do."),
      h("button", { type: "button", onclick: openTokenDialog }, "Paste token")));
  // After the router's focus on <main>: the form is what this page is for.
  queueMicrotask(() => email.focus());
  return {};
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

// Who is signed in is asked once, beside the config: the session's cookie outlives a reload,
// what the console knew of it does not.
await Promise.all([loadConfig(), restoreSession()]);
accountBox();
localeBox();
statusStrip(document.querySelector("#status"));
window.addEventListener("hashchange", route);
route();
