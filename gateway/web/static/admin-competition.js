// The hosts' competition editor (`#/admin/competition`): each task's title, description (with its preview as
// participants see it once saved), daily quota, phases (in the viewer's time zone, UTC beside), metric parameters and
// archived flag, and a new task. Saving shows what would change (a dry run) before it applies the whole document as
// JSON with `If-Match` of the version it was loaded from: someone else's change meanwhile (412) is said, with a reload
// offered; a problem the server finds (422) is shown next to the field it names. Per task: the scored submissions
// scored under an older definition, with the rescore; the ground truth, uploaded with progress to its presigned URL
// and checked by the server. The version history below.

import { api, putWithProgress, sha256Hex } from "./api.js";
import { caption, formatTime, formatTimeAndUtc, formatUtc, h, markdownNodes, scrolling } from "./dom.js";

const PATH = "/api/v1/admin/competition";
const KINDS = { cpu: "cpu: a ZIP of result tensors, scored by PSNR", gpu: "gpu: an ONNX model, scored by accuracy" };

function errorLine(id) {
  return h("p", { class: "error", role: "alert", hidden: true, id });
}

function say(line, text) {
  line.textContent = text;
  line.hidden = !text;
}

// datetime-local holds the viewer's local time without a zone: shown from, and read back as, an instant.
function localValue(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  const two = (n) => String(n).padStart(2, "0");
  return `${String(when.getFullYear()).padStart(4, "0")}-${two(when.getMonth() + 1)}-${two(when.getDate())}` +
    `T${two(when.getHours())}:${two(when.getMinutes())}:${two(when.getSeconds())}`;
}

function instantOf(value) {
  const when = new Date(value);
  return Number.isNaN(when.getTime()) ? value : when.toISOString().replace(".000Z", "Z");
}

// A number field's value as the document holds it: a number, or the text as typed (the server says what is wrong).
function numberOf(text) {
  const value = Number(text);
  return text.trim() !== "" && Number.isFinite(value) ? value : text;
}

function versionOf(headers, fallback) {
  const found = /(\d+)/.exec(headers.get("etag") || "");
  return found ? Number(found[1]) : fallback;
}

export async function competitionSection(body, app) {
  let stopped = false;
  let loaded = null; // the CompetitionDocument the draft was loaded from (its version goes in If-Match)
  let draft = null; // the competition being edited: { competition: { name }, tasks: [...] }
  const slots = new Map(); // "task/field" -> the error line under that field
  const status = h("p", { id: "competition-status", role: "status" });
  const error = errorLine("competition-error");
  const conflict = h("div", { id: "competition-conflict", class: "card conflict", role: "alert", hidden: true });
  const review = h("div", { id: "competition-review" });
  const editor = h("div", { id: "competition-editor" });
  const history = h("div", { id: "competition-history" });

  const slot = (taskId, field) => {
    const line = errorLine();
    line.dataset.field = `${taskId}/${field}`;
    slots.set(`${taskId}/${field}`, line);
    return line;
  };
  const clearErrors = () => {
    for (const line of [...slots.values(), error]) say(line, "");
    conflict.hidden = true;
  };
  // A 422 names the task and the field (e.g. "phases", "psnr.data_range", "phases[0].opens_at"): the line of that
  // field, else of the nearest enclosing one, else the task's, else the page's.
  const showProblem = (failure) => {
    const { task = "", field = "" } = failure.problem || {};
    const parts = String(field).split(/[.[]/);
    for (let n = parts.length; n > 0; n -= 1) {
      const line = slots.get(`${task}/${parts.slice(0, n).join(".")}`);
      if (line) return say(line, failure.message);
    }
    return say(slots.get(`${task}/`) || error, failure.message);
  };
  const showConflict = (words) => {
    conflict.replaceChildren(h("p", {}, words),
    h("button", { type: "button", id: "competition-reload", onclick: () => load() },
      "Reload the current version (your edits here are dropped)"));
    conflict.hidden = false;
  };

  const load = async () => {
    clearErrors();
    review.replaceChildren();
    const { body: document, headers } = await api("GET", PATH, { withHeaders: true });
    if (stopped) return;
    loaded = { ...document, version: versionOf(headers, document.version) };
    draft = structuredClone(document.competition);
    draw();
    loadHistory();
  };

  const send = (dryRun) => api("PUT", `${PATH}${dryRun ? "?dry_run=true" : ""}`,
    { json: draft, headers: { "if-match": `"${loaded.version}"` } });
  const refused = (failure) => {
    if (failure.status === 412) {
      const now = failure.problem?.current_version;
      showConflict(`Someone else changed the competition since you loaded version ${loaded.version}` +
        `${now ? ` (it is at version ${now} now)` : ""}. Nothing of yours was saved.`);
    } else if (failure.status === 422) {
      showProblem(failure);
    } else {
      say(error, failure.message);
    }
  };

  // Save: first what would change (a dry run), then the version itself once the host confirms.
  const saveButton = h("button", { type: "button", id: "competition-save", onclick: async () => {
    clearErrors();
    review.replaceChildren();
    status.textContent = "";
    try {
      const would = await send(true);
      if (!would.changed) {
        status.textContent = "Nothing to save: this is the current version.";
        return;
      }
      review.replaceChildren(h("article", { class: "card" }, h("h3", {}, "What this saves"),
        h("ul", { class: "changes" }, would.changes.map((line) => h("li", {}, line))),
        would.identity_changed.length ? h("p", { class: "muted" }, `Scoring identity changes for ` +
          `${would.identity_changed.join(", ")}: their scores stay until you rescore them.`) : null,
        would.notes.map((note) => h("p", { class: "muted note" }, note)),
        h("button", { type: "button", id: "competition-confirm", onclick: confirm }, "Save this version"), " ",
        h("button", { type: "button", class: "secondary", onclick: () => review.replaceChildren() }, "Keep editing")));
    } catch (failure) {
      refused(failure);
    }
  } }, "Review and save…");
  const confirm = async () => {
    clearErrors();
    try {
      const applied = await send(false);
      review.replaceChildren();
      await load();
      status.textContent = `Saved as version ${applied.version}.`;
    } catch (failure) {
      review.replaceChildren();
      refused(failure);
    }
  };

  const loadHistory = async () => {
    try {
      const { versions } = await api("GET", `${PATH}/versions`);
      if (stopped) return;
      history.replaceChildren(h("h2", {}, "Version history"), scrolling(h("table", { id: "competition-versions" },
        caption("Every version of the competition, newest first"),
        h("thead", {}, h("tr", {}, ...["Version", "When", "By", "Changes"].map((t) => h("th", {}, t)))),
        h("tbody", {}, versions.map((v) => h("tr", { dataset: { version: v.version } }, h("td", {}, v.version),
          h("td", {}, h("time", { datetime: v.created_at }, formatTime(v.created_at))), h("td", {}, v.created_by),
          h("td", { class: "changes" }, v.changes.length ? h("ul", {}, v.changes.map((c) => h("li", {}, c))) :
            "–")))))));
    } catch (failure) {
      history.replaceChildren(h("p", { class: "error" }, failure.message));
    }
  };

  // Redraws the editor from the draft (after a load, a phase or task added or removed); edits go into the draft.
  const draw = () => {
    slots.clear();
    slots.set("/", error);
    editor.replaceChildren(
      h("p", { class: "muted", id: "competition-loaded" }, `Editing version ${loaded.version} (saved ` +
        `${formatTimeAndUtc(loaded.created_at)} by ${loaded.created_by || "–"}). Times in your zone ` +
        `(${Intl.DateTimeFormat().resolvedOptions().timeZone}), UTC beside.`),
      ...draft.tasks.map((task) => taskEditor(task)), newTaskForm(), h("p", {}, saveButton), review);
  };

  const field = (task, name, label, input, rule) => {
    input.id = `ce-${task.id}-${name.replace(/\W/g, "-")}`;
    return h("div", { class: "field", dataset: { field: name } }, h("label", { for: input.id }, label),
      rule ? h("p", { class: "muted rule" }, rule) : null, input, slot(task.id, name));
  };
  const bound = (tag, attrs, set) => h(tag, { ...attrs, oninput: (event) => set(event.target.value) });

  const taskEditor = (task) => {
    const published = app.tasks.find((t) => t.id === task.id);
    const stale = loaded.stale?.[task.id] || 0;
    const parameters = [];
    if (task.metric === "psnr") {
      parameters.push(field(task, "psnr.data_range", "PSNR data range", bound("input", { type: "number", step: "any",
        value: task.psnr.data_range }, (v) => { task.psnr.data_range = numberOf(v); }), "greater than 0"),
      field(task, "psnr.cap_db", "PSNR cap (dB) of an exact match", bound("input", { type: "number", step: "any",
        value: task.psnr.cap_db }, (v) => { task.psnr.cap_db = numberOf(v); }), "greater than 0"));
    }
    if (task.kind === "gpu") {
      parameters.push(field(task, "model.timeout_s", "Model time limit (s)", bound("input", { type: "number",
        step: "any", value: task.model.timeout_s }, (v) => { task.model.timeout_s = numberOf(v); }), "greater than 0"),
      field(task, "model.batch_size", "Batch size", bound("input", { type: "number", value: task.model.batch_size },
        (v) => { task.model.batch_size = numberOf(v); }), "1 to 4096"));
    }
    const archived = h("input", { type: "checkbox", checked: task.archived, onchange: (event) => {
      task.archived = event.target.checked;
    } });
    return h("article", { class: "card task-editor", dataset: { task: task.id } },
      h("h3", {}, `${task.title} `, h("span", { class: "muted" }, `${task.id} · ${task.kind} · ${task.metric}`)),
      stale ? staleLine(task.id, stale) : null,
      h("p", { class: "muted identity" }, `Scoring identity: ${loaded.identities?.[task.id] || "new"}`),
      slot(task.id, ""),
      h("div", { class: "columns" },
        h("div", {},
          field(task, "title", "Title", bound("input", { value: task.title, maxLength: 200 },
            (v) => { task.title = v; })),
          field(task, "daily_quota", "Daily quota", bound("input", { type: "number", min: 1, value: task.daily_quota },
            (v) => { task.daily_quota = numberOf(v); }), "accepted submissions per team per UTC day, at least 1"),
          ...parameters,
          h("label", { class: "check" }, archived, " Archived (read-only: visible with its boards, no submissions)"),
          slot(task.id, "archived")),
        h("div", {},
          field(task, "description", "Description (Markdown; no HTML passes)", bound("textarea", { rows: 6,
            value: task.description }, (v) => { task.description = v; })),
          h("div", { class: "preview" }, h("p", { class: "muted" }, "As participants see it (last saved):"),
            h("div", { class: "description", id: `ce-${task.id}-preview` },
              published?.description_html ? markdownNodes(published.description_html) : "–")))),
      phasesEditor(task), groundTruth(task),
      h("p", {}, h("button", { type: "button", class: "link remove-task", onclick: () => {
        draft.tasks = draft.tasks.filter((t) => t !== task);
        draw();
      } }, `Remove ${task.id} (a task with submissions can only be archived)`)));
  };

  const phasesEditor = (task) => {
    const utc = (iso) => h("span", { class: "muted utc" }, formatUtc(iso));
    const moment = (phase, key, label) => {
      const shown = utc(phase[key]);
      const input = h("input", { type: "datetime-local", step: 1, value: localValue(phase[key]),
        "aria-label": `${phase.id} ${label}`, class: key, oninput: (event) => {
          phase[key] = instantOf(event.target.value);
          shown.textContent = formatUtc(phase[key]);
        } });
      return h("td", {}, input, shown);
    };
    const rows = task.phases.map((phase, index) => h("tr", { dataset: { phase: index } },
      h("td", {}, h("input", { value: phase.id, "aria-label": "phase id", class: "phase-id",
        oninput: (event) => { phase.id = event.target.value; } })),
      moment(phase, "opens_at", "opens"), moment(phase, "closes_at", "closes"),
      h("td", {}, h("button", { type: "button", class: "link", "aria-label": `remove phase ${phase.id}`,
        onclick: () => {
          task.phases.splice(index, 1);
          draw();
        } }, "Remove"))));
    const add = h("button", { type: "button", class: "secondary add-phase", onclick: () => {
      const opens = new Date(Math.ceil(Date.now() / 60000) * 60000);
      task.phases.push({ id: `phase-${task.phases.length + 1}`, opens_at: instantOf(opens.toISOString()),
        closes_at: instantOf(new Date(opens.getTime() + 7 * 86400000).toISOString()) });
      draw();
    } }, "Add a phase");
    return h("div", { class: "phases" }, h("h4", {}, "Phases"),
      h("p", { class: "muted rule" }, task.phases.length ? "Each opens before it closes; ids are unique." :
        "No phases: the task is always open."),
      task.phases.length ? scrolling(h("table", { class: "phase-table" }, caption(`The phases of ${task.id}`),
        h("thead", {}, h("tr", {}, ...["Id", "Opens (your time)", "Closes (your time)", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows))) : null,
      slot(task.id, "phases"), add);
  };

  const staleLine = (taskId, count) => {
    const said = h("span", { class: "rescore-said", role: "status" });
    const failed = errorLine();
    return h("div", { class: "stale", dataset: { stale: count } },
      h("p", {}, `${count} scored ${count === 1 ? "submission was" : "submissions were"} scored under an older ` +
        "definition.", " ",
      h("button", { type: "button", class: "rescore", onclick: async (event) => {
        event.target.disabled = true;
        say(failed, "");
        try {
          const started = await api("POST", "/api/v1/admin/rescores", { json: { task_id: taskId } });
          said.textContent = `Rescore ${started.rescore_id} started: ${started.submissions} submissions under ` +
            `${started.scorer_version}; the board switches when all are rescored (Boards & rescoring shows who moved).`;
        } catch (failure) {
          say(failed, failure.message);
          event.target.disabled = false;
        }
      } }, "Rescore them")), said, failed);
  };

  // The ground truth: its digest now, and a new file sent straight to storage with progress, then checked.
  const groundTruth = (task) => {
    const file = h("input", { type: "file", id: `gt-file-${task.id}`, class: "gt-file" });
    const bar = h("progress", { class: "gt-progress", max: 1, value: 0, hidden: true });
    const said = h("p", { class: "gt-status", role: "status" });
    const failed = errorLine();
    failed.classList.add("gt-error");
    const upload = h("button", { type: "button", class: "secondary gt-upload", onclick: async () => {
      const chosen = file.files[0];
      say(failed, "");
      if (!chosen) return say(failed, "Choose the ground-truth file first.");
      upload.disabled = true;
      bar.hidden = false;
      bar.value = 0;
      said.textContent = `Uploading ${chosen.name}…`;
      try {
        const ticket = await api("POST", `/api/v1/admin/tasks/${encodeURIComponent(task.id)}/ground-truth`,
          { json: { size_bytes: chosen.size, filename: chosen.name, sha256: await sha256Hex(chosen) } });
        await putWithProgress(ticket.upload_url, chosen, (done, total) => {
          bar.max = total;
          bar.value = done;
          bar.dataset.events = Number(bar.dataset.events || 0) + 1;
        }, ticket.method);
        said.textContent = "Uploaded; checking it against the task…";
        const applied = await api("POST",
          `/api/v1/admin/tasks/${encodeURIComponent(task.id)}/ground-truth/complete`,
          { json: { upload_id: ticket.upload_id } });
        await groundTruthRecorded(task.id, applied);
      } catch (failure) {
        said.textContent = "";
        say(failed, failure.message);
      } finally {
        upload.disabled = false;
      }
    } }, "Upload ground truth");
    return h("div", { class: "ground-truth" }, h("h4", {}, "Ground truth"),
      h("p", { class: "gt-digest" }, task.ground_truth_sha256 ? [`sha256 `, h("code", {}, task.ground_truth_sha256),
        ` (${task.ground_truth})`] : "None yet: the task takes no submissions until it has one."),
      h("p", { class: "muted rule" }, task.kind === "gpu" ? "An .npz with x (the test inputs) and y (the labels)." :
        `A ZIP of ${task.samples} tensors (${task.sample_pattern}), each of shape [${task.shape.join(", ")}].`),
      h("label", { for: file.id }, "File"), file, upload, bar, said, failed);
  };

  // A ground-truth upload made a new version: when it is the only change since the draft was loaded, the draft
  // (with any unsaved edit) moves onto it; when someone else changed the competition meanwhile, the host reloads.
  const groundTruthRecorded = async (taskId, applied) => {
    if (applied.version !== loaded.version + 1) {
      showConflict(`The ground truth of ${taskId} is recorded as version ${applied.version}, but the competition ` +
        `also changed since you loaded version ${loaded.version}: reload to edit from the current version.`);
      return;
    }
    const { body: document, headers } = await api("GET", PATH, { withHeaders: true });
    if (stopped) return;
    const now = document.competition.tasks.find((t) => t.id === taskId);
    const mine = draft.tasks.find((t) => t.id === taskId);
    loaded = { ...document, version: versionOf(headers, document.version) };
    if (mine && now) Object.assign(mine, { ground_truth: now.ground_truth, ground_truth_sha256: now.ground_truth_sha256 });
    draw();
    loadHistory();
    status.textContent = `Ground truth of ${taskId} recorded as version ${applied.version}: sha256 ` +
      `${now?.ground_truth_sha256 || "?"}.`;
  };

  // A new task: its id, kind, title and sample shape; the rest starts at the defaults and is edited above.
  const newTaskForm = () => {
    const id = h("input", { id: "new-task-id", required: true, pattern: "[A-Za-z0-9_-]{1,64}" });
    const title = h("input", { id: "new-task-title", required: true, maxLength: 200 });
    const kind = h("select", { id: "new-task-kind" }, Object.entries(KINDS).map(([value, words]) =>
      h("option", { value }, words)));
    const shape = h("input", { id: "new-task-shape", placeholder: "e.g. 3, 64, 64", required: true });
    const failed = errorLine("new-task-error");
    return h("form", { class: "card", id: "new-task", noValidate: true, onsubmit: (event) => {
      event.preventDefault();
      const sizes = shape.value.split(/[\s,x×]+/).filter(Boolean).map(Number);
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id.value)) return say(failed, "The id takes 1 to 64 letters, digits, _ or -.");
      if (draft.tasks.some((t) => t.id === id.value)) return say(failed, `A task ${id.value} exists already.`);
      if (!sizes.length || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
        return say(failed, "The shape is one or more whole sizes of at least 1, e.g. 3, 64, 64.");
      }
      draft.tasks.push({ id: id.value, title: title.value || id.value, kind: kind.value,
        metric: kind.value === "gpu" ? "accuracy" : "psnr", shape: sizes, phases: [], description: "",
        daily_quota: 5, archived: false, psnr: { data_range: 1.0, cap_db: 100.0 },
        model: { timeout_s: 120.0, batch_size: 64 } });
      draw();
      status.textContent = `Task ${id.value} added to the draft: review and save to publish it.`;
      return null;
    } }, h("h3", {}, "New task"),
    h("p", { class: "muted rule" }, "Ids never change once saved. Everything else can be edited above before saving."),
    h("label", { for: "new-task-id" }, "Id (letters, digits, _ and -)"), id,
    h("label", { for: "new-task-title" }, "Title"), title, h("label", { for: "new-task-kind" }, "Kind"), kind,
    h("label", { for: "new-task-shape" }, "Shape of one sample"), shape,
    h("button", { type: "submit" }, "Add to the draft"), failed);
  };

  // The page reads the tasks again on every new version (app.js): each preview follows what participants see.
  const showPreviews = () => {
    for (const task of app.tasks) {
      const preview = editor.querySelector(`[id="ce-${task.id}-preview"]`);
      preview?.replaceChildren(...(task.description_html ? markdownNodes(task.description_html) : ["–"]));
    }
  };
  const unlisten = app.live.on((message) => {
    if (message.type === "tasks") showPreviews();
  });
  body.replaceChildren(h("h2", {}, "Competition"), status, conflict, error, editor, history);
  try {
    await load();
  } catch (failure) {
    unlisten();
    throw failure;
  }
  return () => {
    stopped = true;
    unlisten();
  };
}
