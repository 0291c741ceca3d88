// Import and export (#/imports): the whole catalog out as one file at one event position, for
// anyone; and, with scope catalog:write, a file of products in: uploaded with its progress,
// the job followed until it ends (lines taken, what each did), every failed line listed with
// the service's own words, and the latest jobs.

import { ApiError, canWrite, commandRead, describe, hasScope, importFile } from "./api.js";
import { field, h, replace, statusBadge, timeAgo } from "./dom.js";

/** How often a running job is read again. */
const FOLLOW_MS = 500;

export function importsView(root) {
  document.title = "Import and export · Catalog console";
  let disposed = false;
  let following = null;
  const exportLink = h("a", { href: "/export", download: "catalog.ndjson", class: "button" }, "Export the catalog");
  const parts = [
    h("h1", {}, "Import and export"),
    h("section", { class: "export" },
      h("h2", {}, "Export"),
      h("p", { class: "hint" }, "Every product not archived, one JSON document per line, all as of one moment of the catalog (its event position is in the response's Catalog-Position header)."),
      exportLink),
  ];
  if (!canWrite()) {
    parts.push(h("p", { class: "hint" }, "Imports are taken by the command API, and this console has none configured."));
    replace(root, ...parts);
    return {};
  }
  if (!hasScope("catalog:write")) {
    parts.push(h("p", { class: "hint", role: "note" }, "Importing needs scope catalog:write: sign in as an editor, or use a token that has it."));
    replace(root, ...parts);
    return {};
  }
  const job = h("section", { class: "import-job", "aria-live": "polite" });
  const recent = h("section", { class: "import-recent" });
  parts.push(h("section", { class: "import" }, h("h2", {}, "Import"), uploadForm(), job), recent);
  replace(root, ...parts);
  loadRecent();
  return { dispose: () => { disposed = true; clearTimeout(following); } };

  function uploadForm() {
    const file = h("input", { type: "file", name: "file", accept: ".ndjson,.jsonl,application/x-ndjson", required: true });
    const dryRun = h("input", { type: "checkbox", name: "dry_run" });
    const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": "Upload" });
    const message = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit" }, "Import");
    const form = h("form", { class: "import-form" },
      h("p", { class: "hint" }, "One product per line, as POST /products takes it, with its variants under \"variants\". Products are matched by SKU: new ones are created, the others changed where the file differs."),
      field("File", file),
      h("div", { class: "field" }, h("label", {}, dryRun, " Dry run: check and count every line, change nothing")),
      h("div", { class: "actions" }, submit, progress), message);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) return;
      message.textContent = "";
      submit.disabled = true;
      progress.hidden = false;
      progress.value = 0;
      try {
        const started = await importFile(chosen, { dryRun: dryRun.checked, onProgress: (f) => { progress.value = f; } });
        form.reset();
        follow(started.import_id);
      } catch (err) {
        message.textContent = describe(err);
      } finally {
        submit.disabled = false;
        progress.hidden = true;
      }
    });
    return form;
  }

  /** Shows one job, reading it again while it runs. */
  async function follow(id) {
    clearTimeout(following);
    let current;
    try {
      current = await commandRead(`/imports/${id}`);
    } catch (err) {
      if (!disposed) replace(job, h("p", { class: "error", role: "alert" }, describe(err)));
      return;
    }
    if (disposed) return;
    replace(job, jobView(current));
    if (current.status === "running") following = setTimeout(() => follow(id), FOLLOW_MS);
    else loadRecent();
  }

  async function loadRecent() {
    try {
      const { imports } = await commandRead("/imports");
      if (disposed) return;
      replace(recent, h("h2", {}, "Latest imports"),
        imports.length === 0
          ? h("p", { class: "summary" }, "No imports yet.")
          : h("table", { class: "imports" },
            h("thead", {}, h("tr", {}, ["Started", "By", "Status", "Lines", "Created", "Updated", "Unchanged", "Failed", ""].map((c) => h("th", {}, c)))),
            h("tbody", {}, imports.map((j) => h("tr", { dataset: { import: j.import_id } },
              h("td", {}, timeAgo(j.created_at)), h("td", {}, j.actor),
              h("td", {}, statusBadge(j.status), j.dry_run ? " dry run" : null),
              h("td", {}, `${j.processed} / ${j.lines}`), h("td", {}, String(j.created)), h("td", {}, String(j.updated)),
              h("td", {}, String(j.unchanged)), h("td", {}, String(j.failed)),
              h("td", {}, h("button", { type: "button", onclick: () => follow(j.import_id) }, "Show")))))));
    } catch (err) {
      if (!disposed && !(err instanceof ApiError && err.status === 404)) replace(recent, h("p", { class: "error" }, describe(err)));
    }
  }
}

function jobView(job) {
  const counts = [["created", job.created], ["updated", job.updated], ["unchanged", job.unchanged], ["failed", job.failed]];
  return h("div", { class: "job", dataset: { import: job.import_id, status: job.status } },
    h("h3", {}, job.dry_run ? "Dry run " : "Import ", statusBadge(job.status)),
    h("progress", { max: Math.max(job.lines, 1), value: job.processed, "aria-label": "Lines taken" }),
    h("p", { class: "job-progress" }, `${job.processed} of ${job.lines} lines`),
    h("dl", { class: "job-counts" }, counts.flatMap(([name, n]) => [h("dt", {}, name), h("dd", { dataset: { count: name } }, String(n))])),
    job.failure ? h("p", { class: "error", role: "alert" }, job.failure) : null,
    job.errors?.length
      ? h("table", { class: "import-errors" },
        h("caption", {}, job.failed > job.errors.length ? `The first ${job.errors.length} of ${job.failed} failed lines` : "Failed lines"),
        h("thead", {}, h("tr", {}, ["Line", "SKU", "Problem", "Detail"].map((c) => h("th", {}, c)))),
        h("tbody", {}, job.errors.map((e) => h("tr", { dataset: { line: e.line } },
          h("td", {}, String(e.line)), h("td", {}, e.sku ?? "—"), h("td", {}, e.type), h("td", {}, e.detail)))))
      : null);
}
