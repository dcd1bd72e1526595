// The page: a fragment router (`#/tasks`, `#/board/recon`, `#/submit/recon`, `#/submission/12`, `#/qa`,
// `#/admin/teams`, `#/admin/competition`) over views built from the public API and the live socket. No framework: each view renders into <main> and
// returns what to undo when the page moves on.

import { api, forgetSession, login, session, submitFile } from "./api.js";
import { adminView } from "./admin.js";
import { confusionMatrix, histogram, rocCurve } from "./charts.js";
import {
  STATUS_WORDS, caption, formatBytes, formatMetric, formatScore, formatTime, h, metricLabel, scrolling, setTitle,
} from "./dom.js";
import { columnHeader, columnValue, columnsKey, shownColumns } from "./columns.js";
import { Live } from "./live.js";
import { projectorView } from "./projector.js";
import { tasksView } from "./tasks.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const notice = document.getElementById("notice");
const announcer = document.getElementById("announcer");

// `tasks`: the competition's tasks as GET /api/v1/competition gave them (version `competitionVersion`), read again
// whenever the competition changes or a phase opens or closes.
export const app = { tasks: [], competitionVersion: 0, competitionName: "", me: null, live: new Live(), cleanup: null };
const FINISHED = new Set(["scored", "failed", "rejected", "expired", "cancelled"]);
const CANCELLABLE = new Set(["awaiting_upload", "received", "scoring"]);
const STATUSES = Object.keys(STATUS_WORDS); // in the order a submission goes through them

export function notify(text, kind = "info") {
  notice.hidden = !text;
  notice.className = `notice ${kind}`;
  notice.textContent = text || "";
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message);
}

function task(id) {
  return app.tasks.find((t) => t.id === id);
}

/** Says `text` once to screen readers, politely (the page's one live region for such news). */
function announce(text) {
  announcer.textContent = text;
}

// Bumped on every navigation: an async view checks it after each await before it touches the page.
let navigations = 0;

// --- login -------------------------------------------------------------------------------------------------

function loginView() {
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const name = h("input", { id: "login-name", name: "name", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit" }, "Log in");
  const form = h("form", { class: "card login", onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await login(name.value, password.value);
      await start();
      location.hash = "#/";
    } catch (failure) {
      error.textContent = failure.message; // the server's reason, verbatim
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", {}, "Log in"),
  h("label", { for: "login-name" }, "Team or admin name"), name,
  h("label", { for: "login-password" }, "Password"), password,
  button, error);
  view.replaceChildren(form);
  setTitle("Log in");
  name.focus();
}

// --- leaderboard -------------------------------------------------------------------------------------------

function boardView(taskId) {
  const info = task(taskId);
  setTitle(`${info ? info.title : taskId} leaderboard`);
  const head = h("thead", {});
  const table = h("table", { class: "board" }, caption(`${info ? info.title : taskId} leaderboard`), head,
    h("tbody", {}));
  let shownKey = null; // the columns the header was built for
  const drawHead = (columns) => {
    const several = columns.length > 1;
    head.replaceChildren(h("tr", {}, h("th", {}, "#"), h("th", {}, ""), h("th", {}, "Team"),
      columns.map((column) => columnHeader(column, several)),
      h("th", { class: "private-col" }, several ? `Private ${columns[0].label}` : "Private"), h("th", {}, "Submissions"),
      h("th", {}, "Last submission")));
  };
  drawHead(shownColumns(null, info));
  const status = h("p", { class: "muted board-status" }, "Loading the board…");
  view.replaceChildren(h("section", {},
    h("h1", {}, info ? info.title : taskId),
    h("p", { class: "muted" }, info ? `${info.metric}, ${info.sort === "asc" ? "lower" : "higher"} is better` : ""),
    status, scrolling(table), boardLinks(taskId)));
  const rows = new Map(); // team id -> <tr>, kept so a re-ranked row moves instead of being redrawn
  let myRank = null; // the viewer's team's rank as last shown: a change is announced once

  const render = () => {
    const board = app.live.board(taskId);
    if (!board) return;
    const privateScores = new Map((board.private || []).map((e) => [e.team_id, e]));
    const columns = shownColumns(board, info);
    if (columnsKey(columns) !== shownKey) {
      shownKey = columnsKey(columns);
      drawHead(columns);
    }
    table.classList.toggle("with-private", Boolean(board.private));
    status.textContent = board.public.length ? `${board.public.length} ${board.public.length === 1 ? "team" :
      "teams"} on the board${board.private_revealed ? " · private board revealed" : ""}` : "No scores yet.";
    const mine = board.public.find((entry) => entry.team_name === app.me?.name);
    if (mine && myRank !== null && mine.rank !== myRank) {
      announce(`Your team moved ${mine.rank < myRank ? "up" : "down"} from rank ${myRank} to rank ${mine.rank} on ` +
        `${info ? info.title : taskId}.`);
    }
    myRank = mine ? mine.rank : null;
    const tbody = table.tBodies[0];
    const before = new Map([...rows].map(([team, row]) => [team, row.getBoundingClientRect().top]));
    const present = new Set();
    for (const entry of board.public) {
      present.add(entry.team_id);
      let row = rows.get(entry.team_id);
      const previousRank = row ? Number(row.dataset.rank) : null;
      const change = entry.rank_change ?? 0;
      const cells = [
        h("td", { class: "rank" }, entry.rank),
        h("td", { class: "change", title: "rank change after the latest score" },
          change > 0 ? `▲${change}` : change < 0 ? `▼${-change}` : ""),
        h("td", { class: "team" }, entry.team_name),
        columns.map((column) => h("td", { class: column.primary ? "score" : "metric-value", dataset: { column:
          column.name || "" } }, columnValue(entry, column))),
        h("td", { class: "private-col" }, columnValue(privateScores.get(entry.team_id), columns[0])),
        h("td", {}, entry.submissions),
        h("td", {}, formatTime(entry.last_submission_at)),
      ];
      if (!row) {
        row = h("tr", { class: "entered" });
        rows.set(entry.team_id, row);
      }
      row.replaceChildren(...cells.flat());
      row.dataset.team = entry.team_name;
      row.dataset.rank = entry.rank;
      row.classList.toggle("mine", entry.team_name === app.me?.name);
      if (previousRank !== null && previousRank !== entry.rank) flash(row, entry.rank < previousRank ? "up" : "down");
      tbody.append(row); // in rank order
    }
    for (const [team, row] of rows) {
      if (!present.has(team)) {
        row.remove();
        rows.delete(team);
      }
    }
    // FLIP: each moved row starts where it was and slides to its new place.
    for (const [team, row] of rows) {
      const old = before.get(team);
      if (old === undefined) continue;
      const shift = old - row.getBoundingClientRect().top;
      if (!shift) continue;
      row.style.transition = "none";
      row.style.transform = `translateY(${shift}px)`;
      requestAnimationFrame(() => {
        row.style.transition = "transform 600ms ease";
        row.style.transform = "";
      });
    }
  };
  render();
  // A board the task list does not name (yet): followed all the same (the socket refuses what has no board).
  if (!app.live.stopped && taskId) app.live.follow([taskId]);
  if (!app.live.board(taskId)) {
    // Not pushed yet (the socket is still opening): the same board over HTTP, or the server's reason.
    api("GET", `/api/v1/leaderboards/${encodeURIComponent(taskId)}`)
      .then((board) => app.live.board(taskId) || app.live.receive({ ...board, type: "board" }))
      .catch((error) => {
        status.textContent = error.message;
      });
  }
  return app.live.on((message) => {
    if ((message.type === "board" || message.type === "board_delta") && message.task_id === taskId) render();
  });
}

// The CSV is what this viewer may see (an admin's has the private columns): fetched with the viewer's token,
// which a plain link would not send, then saved.
function boardLinks(taskId) {
  const error = h("span", { class: "error", role: "alert", hidden: true });
  const csv = h("button", { type: "button", class: "link", id: "board-csv", onclick: async () => {
    error.hidden = true;
    try {
      const file = await api("GET", `/api/v1/leaderboards/${encodeURIComponent(taskId)}/export.csv`, { blob: true });
      const link = h("a", { href: URL.createObjectURL(file), download: `${taskId}-leaderboard.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  } }, "Download CSV");
  return h("p", { class: "board-links" }, csv, " · ",
    h("a", { href: `#/projector/${encodeURIComponent(taskId)}`, id: "projector-link" }, "Projector view"), " ", error);
}

function flash(row, direction) {
  row.classList.remove("moved-up", "moved-down");
  void row.offsetWidth; // restart the animation
  row.classList.add(`moved-${direction}`);
}

// --- submitting and the team's submissions -----------------------------------------------------------------

// What each task takes: its file's extension and the types browsers give such a file (empty: unknown).
const ACCEPTED = {
  cpu: { extension: ".zip", types: ["", "application/zip", "application/x-zip-compressed", "application/octet-stream"],
    words: "a ZIP archive (.zip)" },
  gpu: { extension: ".onnx", types: ["", "application/octet-stream", "application/onnx"], words: "an ONNX model (.onnx)" },
};

/** Why this file cannot be submitted to the task (checked before any quota is spent), or "". */
function refusalOf(file, info) {
  const accepted = ACCEPTED[info.kind] || ACCEPTED.cpu;
  if (!file.name.toLowerCase().endsWith(accepted.extension) || !accepted.types.includes(file.type)) {
    return `“${file.name}” is not ${accepted.words}: ${info.title} takes ${accepted.words}. Nothing was sent.`;
  }
  if (file.size > info.max_upload_bytes) {
    return `“${file.name}” is ${formatBytes(file.size)}, over the limit of ${formatBytes(info.max_upload_bytes)}. ` +
      "Nothing was sent.";
  }
  return "";
}

function finalsKey(taskId) {
  return `podium.finals.${app.me?.name}.${taskId}`;
}

function submissionRow(submission, progress, { info, finals, onCancel, onFinal }) {
  const word = STATUS_WORDS[submission.status] || submission.status;
  const cancellable = CANCELLABLE.has(submission.status);
  const cells = [
    h("td", {}, h("a", { href: `#/submission/${submission.id}` }, `#${submission.id}`)),
    h("td", { class: "file" }, submission.filename),
    h("td", { class: "status" }, h("span", { class: `badge ${submission.status}` }, word),
      !FINISHED.has(submission.status) && progress ? h("progress", { class: "scoring", max: progress.total,
        value: progress.done, title: `${progress.done} of ${progress.total}` }) : null,
      submission.queue_position && !FINISHED.has(submission.status) ?
        h("span", { class: "muted" }, ` #${submission.queue_position} in queue`) : null),
    h("td", { class: "score" }, formatMetric(info.metric, submission.public_score)),
    h("td", {}, formatTime(submission.timestamp)),
    h("td", { class: "reason" }, submission.reason || ""),
    h("td", { class: "final" }, submission.status === "scored" ? h("input", { type: "checkbox", class: "final-choice",
      checked: finals.has(submission.id), "aria-label": `count submission #${submission.id} on the private board`,
      onchange: (event) => onFinal(submission.id, event.target.checked) }) : ""),
    h("td", {}, cancellable ? h("button", { type: "button", class: "link cancel",
      "aria-label": `cancel submission #${submission.id}`, onclick: () => onCancel(submission.id) }, "Cancel") : ""),
  ];
  return h("tr", { dataset: { submission: submission.id, status: submission.status } }, cells);
}

function submitView(taskId) {
  const info = task(taskId);
  if (!info) {
    view.replaceChildren(h("p", { class: "error" }, `No task "${taskId}".`));
    return null;
  }
  setTitle(`Submit to ${info.title}`);
  let stopped = false;
  const accepted = ACCEPTED[info.kind] || ACCEPTED.cpu;
  const input = h("input", { type: "file", id: "file-input", class: "visually-hidden", accept: accepted.extension,
    "aria-describedby": "accepted-files quota quota-rule" });
  const bar = h("progress", { id: "upload-progress", max: 100, value: 0, hidden: true });
  const message = h("p", { id: "upload-message", role: "status" });
  const zone = h("label", { for: "file-input", class: "dropzone", id: "dropzone" },
    h("strong", {}, "Drop your file here"), " or click to choose it",
    h("span", { class: "muted", id: "accepted-files" }, info.kind === "gpu" ?
      `an ONNX model (.onnx), input shape [batch, ${info.shape.join(", ")}]`
      : `a ZIP (.zip) of ${info.samples} tensors (${info.sample_names[0]} …), each of shape [${info.shape.join(", ")}]`),
    h("span", { class: "muted" }, `at most ${formatBytes(info.max_upload_bytes)}; ${info.daily_quota} per day`));
  const quota = h("p", { id: "quota" }, "Checking your quota…");
  const rule = h("p", { id: "quota-rule", class: "muted" });
  const tbody = h("tbody", {});
  const table = h("table", { class: "submissions", id: "my-submissions" },
    caption(`Your submissions to ${info.title}`),
    h("thead", {}, h("tr", {}, ...["Id", "File", "Status", "Score", "Submitted", "Reason", "Final", ""].map(
      (title) => h("th", {}, title)))), tbody);
  const finals = new Set(JSON.parse(localStorage.getItem(finalsKey(taskId)) || "[]"));
  const finalsMessage = h("p", { id: "finals-message", role: "status" });
  const finalsButton = h("button", { type: "button", id: "save-finals", onclick: () => saveFinals() },
    "Save my final choice");
  const tabs = h("nav", { class: "tabs", "aria-label": "tasks" }, ...app.tasks.map((t) => h("a", {
    href: `#/submit/${t.id}`, class: t.id === taskId ? "active" : "" }, t.id)));
  // An archived task, a closed one, or one without ground truth yet takes nothing: the reason instead of the zone.
  const closed = h("p", { id: "not-accepting", class: "error", role: "note", hidden: true });
  const showAccepting = (now) => {
    closed.hidden = now.accepting;
    closed.textContent = now.accepting ? "" : now.not_accepting_reason || "This task takes no submissions now.";
    zone.hidden = !now.accepting;
    input.disabled = !now.accepting;
  };
  showAccepting(info);
  view.replaceChildren(h("section", {}, tabs, h("h1", {}, `Submit to ${info.title}`), closed, quota, rule, input, zone,
    bar, message, h("h2", {}, "Your submissions"), scrolling(table),
    h("p", { class: "muted", id: "finals-rule" }, `Final submissions: tick up to ${info.final_submissions} scored ` +
      "ones to count on the private board; with none ticked, your best public ones count."),
    finalsButton, finalsMessage));

  const showQuota = async () => {
    try {
      const now = await api("GET", `/api/v1/tasks/${encodeURIComponent(taskId)}/quota`);
      if (stopped) return;
      quota.textContent = `${now.left} of ${now.daily_quota} submissions left today; the quota resets at ` +
        `${formatTime(now.resets_at)}.`;
      quota.dataset.left = now.left;
      rule.textContent = now.rule;
    } catch (error) {
      if (!stopped) quota.textContent = error.message;
    }
  };
  showQuota();

  const submissions = new Map();
  const progress = new Map();
  let latest = null; // the submission uploaded last from this page: the message follows it to its outcome
  let uploaded = ""; // how it went up ("x.zip directly to storage"), kept in the outcome's message
  const follow = (submission) => {
    if (submission.id !== latest) return;
    const word = STATUS_WORDS[submission.status] || submission.status;
    const head = uploaded ? `Uploaded ${uploaded}. ` : "";
    if (submission.status === "scored") {
      message.textContent = `${head}Submission #${submission.id} is scored: ${formatMetric(info.metric,
        submission.public_score)}.`;
    } else if (FINISHED.has(submission.status)) {
      message.className = "error";
      message.textContent = `${head}Submission #${submission.id} ${word}` +
        `${submission.reason ? `: ${submission.reason}` : "."}`;
    } else {
      message.textContent = message.textContent.replace(/is [a-z ]+\.$/, `is ${word}.`);
    }
  };
  const draw = (submission) => {
    const before = submissions.get(submission.id);
    submissions.set(submission.id, submission);
    const row = submissionRow(submission, progress.get(submission.id), { info, finals, onCancel: cancel,
      onFinal: choose });
    const old = tbody.querySelector(`tr[data-submission="${submission.id}"]`);
    if (old) old.replaceWith(row);
    else tbody.prepend(row);
    follow(submission);
    if (before && !FINISHED.has(before.status) && FINISHED.has(submission.status)) showQuota();
  };
  api("GET", `/api/v1/submissions?task_id=${encodeURIComponent(taskId)}`)
    .then((list) => !stopped && list.slice().reverse().forEach(draw))
    .catch((error) => table.after(errorBox(error)));

  const cancel = async (id) => {
    try {
      draw(await api("POST", `/api/v1/submissions/${id}/cancel`));
      showQuota();
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const choose = (id, chosen) => {
    if (chosen) finals.add(id);
    else finals.delete(id);
    finalsMessage.className = "";
    finalsMessage.textContent = `${finals.size} of at most ${info.final_submissions} ticked; not saved yet.`;
  };
  const saveFinals = async () => {
    const ids = [...finals].sort((a, b) => a - b);
    finalsButton.disabled = true;
    try {
      await api("PUT", `/api/v1/tasks/${encodeURIComponent(taskId)}/finals`, { json: { submission_ids: ids } });
      localStorage.setItem(finalsKey(taskId), JSON.stringify(ids));
      finalsMessage.className = "";
      finalsMessage.textContent = ids.length ? `Saved: ${ids.map((id) => `#${id}`).join(", ")} count on the private ` +
        "board." : "Saved: your best public submissions count on the private board.";
    } catch (error) {
      finalsMessage.className = "error";
      finalsMessage.textContent = error.message; // the server's reason, verbatim
    } finally {
      finalsButton.disabled = false;
    }
  };

  const upload = async (file) => {
    if (!file) return;
    const refused = refusalOf(file, info);
    if (refused) {
      message.className = "error";
      message.textContent = refused;
      return;
    }
    bar.hidden = false;
    bar.value = 0;
    message.className = "";
    message.textContent = `Uploading ${file.name} (${formatBytes(file.size)})…`;
    try {
      bar.dataset.events = 0;
      const { submission, path } = await submitFile(taskId, file, (done, total) => {
        bar.max = total;
        bar.value = done;
        bar.dataset.events = Number(bar.dataset.events) + 1;
      });
      bar.value = bar.max;
      latest = submission.id;
      const known = submissions.get(submission.id);
      uploaded = `${file.name} ${path === "presigned" ? "directly to storage" : "through the gateway"}`;
      message.textContent = `Uploaded ${uploaded}; submission #${submission.id} is ${STATUS_WORDS[submission.status]}.`;
      // A live update may have overtaken the upload's own answer: keep whichever is further along.
      draw(known && STATUSES.indexOf(known.status) > STATUSES.indexOf(submission.status) ? known : submission);
      showQuota();
    } catch (error) {
      message.className = "error";
      message.textContent = error.message;
      showQuota();
    }
  };
  input.addEventListener("change", () => {
    upload(input.files[0]);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    upload(event.dataTransfer.files[0]);
  });

  const unfollow = app.live.on(async (event) => {
    if (event.type === "tasks" && task(taskId)) {
      showAccepting(task(taskId));
      showQuota();
    } else if (event.type === "progress" && submissions.has(event.submission_id)) {
      progress.set(event.submission_id, event);
      draw(submissions.get(event.submission_id));
    } else if (event.type === "queue" && submissions.has(event.submission_id)) {
      draw({ ...submissions.get(event.submission_id), queue_position: event.queue_position });
    } else if (event.type === "submission") {
      const known = submissions.get(event.submission_id);
      // A finished submission is drawn once its score or reason is here; a step before that at once.
      if (known && !FINISHED.has(event.status)) draw({ ...known, status: event.status });
      try {
        const fresh = await api("GET", `/api/v1/submissions/${event.submission_id}`);
        if (!stopped && fresh.task_id === taskId) draw(fresh);
      } catch (error) {
        notify(error.message, "error");
      }
    }
  });
  return () => {
    stopped = true;
    unfollow();
  };
}

// --- one submission ----------------------------------------------------------------------------------------

async function submissionView(id) {
  const shown = navigations;
  setTitle(`Submission #${id}`);
  view.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  const submission = await api("GET", `/api/v1/submissions/${id}`);
  if (shown !== navigations) return;
  const info = task(submission.task_id);
  const facts = h("dl", { class: "facts" },
    ...[["Task", info ? info.title : submission.task_id], ["File", submission.filename],
      ["Size", formatBytes(submission.size_bytes)], ["Status", STATUS_WORDS[submission.status] || submission.status],
      ["Public score", formatMetric(info?.metric, submission.public_score)],
      ["Submitted", formatTime(submission.timestamp)], ["Finished", formatTime(submission.scored_at)],
      ...Object.entries(submission.metrics || {}).map(([name, value]) => [metricLabel(name), formatMetric(name, value)])]
      .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
  const cancelError = h("p", { class: "error", role: "alert", hidden: true });
  const cancel = CANCELLABLE.has(submission.status) ? h("button", { type: "button", id: "cancel-submission",
    class: "secondary", onclick: async () => {
      try {
        await api("POST", `/api/v1/submissions/${id}/cancel`);
        if (shown === navigations) route();
      } catch (error) {
        cancelError.textContent = error.message;
        cancelError.hidden = false;
      }
    } }, "Cancel this submission") : null;
  const section = h("section", { class: "details" }, h("h1", {}, `Submission #${submission.id}`), facts,
    submission.reason ? h("p", { class: "error reason" }, submission.reason) : null, cancel, cancelError);
  const log = h("section", { class: "scorer-log", id: "scorer-log" }, h("h2", {}, "Scorer log"),
    h("p", { class: "muted" }, "Loading…"));
  view.replaceChildren(section, log);
  scorerLog(id, log, shown);
  if (submission.status !== "scored") return;
  let details;
  try {
    details = (await api("GET", `/api/v1/submissions/${id}/details`)).details;
  } catch (error) {
    if (shown === navigations) section.append(errorBox(error));
    return;
  }
  if (shown !== navigations) return;
  if (Array.isArray(details.samples)) {
    const values = details.samples.map((sample) => sample.psnr);
    section.append(h("h2", {}, `Per-sample ${details.metric || "PSNR"} (${values.length} public samples)`),
      histogram(values, { unit: details.unit || "dB", label: details.metric || "PSNR" }),
      scrolling(h("table", { class: "samples" }, caption(`${details.metric || "PSNR"} of each public sample`),
        h("thead", {}, h("tr", {}, h("th", {}, "Sample"),
          h("th", {}, `${details.metric || "PSNR"} (${details.unit || "dB"})`))),
        h("tbody", {}, details.samples.map((sample) => h("tr", {}, h("td", {}, sample.name),
          h("td", { class: "score" }, formatScore(sample.psnr, 2))))))));
  }
  const model = details.public;
  if (model && Array.isArray(model.confusion)) {
    section.append(h("h2", {}, "Public split"), h("dl", { class: "facts" },
      ...[["Accuracy", model.accuracy], ["Top-k", model.top_k], ["Macro F1", model.macro_f1],
        ["ROC-AUC", model.roc_auc], ["Latency p50 (ms)", details.latency_p50_ms],
        ["Throughput (samples/s)", details.throughput_samples_per_s]]
        .filter(([, value]) => value !== null && value !== undefined)
        .map(([term, value]) => [h("dt", {}, term), h("dd", {}, formatScore(value, 4))])),
    h("h2", {}, "Confusion matrix"), h("p", { class: "muted" }, "rows: true class; columns: predicted class"),
    confusionMatrix(model.confusion));
    if (model.roc_points?.length) section.append(h("h2", {}, "ROC curve"), rocCurve(model.roc_points, model.roc_auc));
  }
}

/** The scorer's own lines about a submission (its last 500), oldest first. */
async function scorerLog(id, section, shown) {
  let lines;
  try {
    lines = (await api("GET", `/api/v1/submissions/${id}/logs`)).lines;
  } catch (error) {
    if (shown === navigations) section.replaceChildren(h("h2", {}, "Scorer log"), errorBox(error));
    return;
  }
  if (shown !== navigations) return;
  section.replaceChildren(h("h2", {}, "Scorer log"), lines.length ? h("ol", { class: "log" }, lines.map((line) =>
    h("li", { class: `log-${line.level.toLowerCase()}` }, h("time", { datetime: line.at }, formatTime(line.at)), " ",
      h("span", { class: "level" }, line.level.toLowerCase()), " ", h("span", { class: "line" }, line.line))))
    : h("p", { class: "muted" }, "The scorer wrote nothing about this submission yet."));
}

// --- account -----------------------------------------------------------------------------------------------

function accountView() {
  setTitle("Your account");
  const password = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true,
    "aria-describedby": "password-rule password-error" });
  const again = h("input", { id: "new-password-again", type: "password", autocomplete: "new-password", required: true });
  const ruleLine = h("p", { id: "password-rule", class: "muted" });
  // The rule comes from the server (auth_service), shown before anyone types; a refusal still says why.
  api("GET", "/api/v1/auth/rules").then((rules) => {
    ruleLine.textContent = `At least ${rules.password_min_length} characters.`;
  }, (failure) => {
    ruleLine.textContent = failure.message;
  });
  const error = h("p", { id: "password-error", class: "error", role: "alert", hidden: true });
  const done = h("p", { id: "password-changed", role: "status" });
  const button = h("button", { type: "submit" }, "Change password");
  const form = h("form", { class: "card", id: "change-password", onsubmit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    done.textContent = "";
    if (password.value !== again.value) {
      error.textContent = "The two passwords differ.";
      error.hidden = false;
      return;
    }
    button.disabled = true;
    try {
      await api("PUT", `/api/v1/teams/${app.me.id}`, { json: { password: password.value } });
      // The change ends every login of the team (other devices must log in again): this browser logs in anew.
      app.me = await login(app.me.name, password.value);
      password.value = "";
      again.value = "";
      done.textContent = "Password changed. This browser stays signed in; other devices must log in again.";
    } catch (failure) {
      error.textContent = failure.message; // the server's reason, verbatim
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  } }, h("h2", {}, "Change your password"), ruleLine,
  h("label", { for: "new-password" }, "New password"), password,
  h("label", { for: "new-password-again" }, "New password, again"), again, button, error, done);
  view.replaceChildren(h("section", {}, h("h1", {}, app.me.is_admin ? app.me.name : `Team ${app.me.name}`), form));
  return null;
}

// --- questions and answers ---------------------------------------------------------------------------------

function qaView() {
  setTitle("Questions & answers");
  const list = h("div", { class: "questions" });
  const title = h("input", { id: "question-title", required: true, maxLength: 200 });
  const content = h("textarea", { id: "question-content", required: true, rows: 4 });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const announce = app.me?.is_admin;
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await api("POST", announce ? "/api/v1/qa/announcements" : "/api/v1/qa/questions",
        { json: { title: title.value, content: content.value } });
      title.value = "";
      content.value = "";
      await load();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  } }, h("h2", {}, announce ? "Announce to every team" : "Ask the hosts"),
  h("label", { for: "question-title" }, "Title"), title,
  h("label", { for: "question-content" }, announce ? "Announcement" : "Question"), content,
  h("button", { type: "submit" }, announce ? "Announce" : "Ask"), error);

  const load = async () => {
    const questions = await api("GET", "/api/v1/qa/questions?limit=100");
    list.replaceChildren(...(questions.length ? questions.map(questionCard) :
      [h("p", { class: "muted" }, "No questions yet.")]));
  };
  const questionCard = (question) => {
    const card = h("article", { class: `card question${question.is_announcement ? " announcement" : ""}`,
      dataset: { question: question.id } },
    h("h3", {}, question.is_announcement ? "📣 " : "", question.title),
    h("p", { class: "muted" }, `${question.author_name} · ${formatTime(question.created_at)}`,
      question.hidden ? " · hidden" : ""),
    h("p", { class: "content" }, question.content),
    question.answer ? h("div", { class: "answer" }, h("strong", {}, `Answer (${question.answered_by || "hosts"}): `),
      h("span", { class: "answer-text" }, question.answer)) : null);
    if (app.me?.is_admin && !question.is_announcement) card.append(answerForm(question, load));
    return card;
  };
  view.replaceChildren(h("section", {}, h("h1", {}, "Questions & answers"), form, list));
  load().catch((failure) => list.replaceChildren(errorBox(failure)));
  return app.live.on((event) => {
    if (event.type === "question") load().catch(() => null);
  });
}

function answerForm(question, reload) {
  const answer = h("textarea", { class: "answer-input", rows: 2, value: question.answer || "",
    "aria-label": `answer to ${question.title}` });
  const error = h("p", { class: "error", hidden: true });
  const hide = h("button", { type: "button", class: "secondary", onclick: async () => {
    try {
      await api("PUT", `/api/v1/qa/questions/${question.id}`, { json: { hidden: !question.hidden } });
      await reload();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  } }, question.hidden ? "Show" : "Hide");
  return h("form", { class: "answer-form", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api("PUT", `/api/v1/qa/questions/${question.id}`, { json: { answer: answer.value } });
      await reload();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    }
  } }, answer, h("button", { type: "submit" }, question.answer ? "Update answer" : "Answer"), hide, error);
}

// --- navigation --------------------------------------------------------------------------------------------

function drawNav() {
  const links = [h("a", { href: "#/tasks", class: "tasks-link" }, "Tasks")];
  for (const t of app.tasks) links.push(h("a", { href: `#/board/${t.id}` }, t.id));
  if (app.me) links.push(h("a", { href: `#/submit/${app.tasks[0]?.id || ""}`, class: "submit-link" }, "Submit"));
  if (app.me) links.push(h("a", { href: "#/qa" }, "Q&A"));
  if (app.me) links.push(h("a", { href: "#/account" }, "Account"));
  if (app.me?.is_admin) links.push(h("a", { href: "#/admin/teams" }, "Admin"));
  nav.replaceChildren(...links);
  const live = h("span", { class: `live-dot ${app.live.state}`, title: `live updates: ${app.live.state}` });
  if (!app.me) {
    who.replaceChildren(live, h("a", { href: "#/login", id: "login-link" }, "Log in"));
    return;
  }
  who.replaceChildren(live, h("span", { class: "who-name" }, app.me.name), app.me.is_admin ? " (admin)" : "",
    h("button", { type: "button", class: "link", id: "logout", onclick: logout }, "Log out"));
}

function logout() {
  app.live.stop();
  forgetSession();
  app.me = null;
  nav.replaceChildren();
  who.replaceChildren();
  location.hash = "#/login";
  route();
}

function keepTasks(list) {
  app.tasks = list.tasks;
  app.competitionVersion = list.version;
  app.competitionName = list.competition;
}

async function start() {
  app.me = session.load()?.me;
  keepTasks(await api("GET", "/api/v1/competition"));
  app.live.stop();
  if (currentPage() !== "projector") app.live.start(app.tasks.map((t) => t.id));
  drawNav();
}

// A new competition version is in use, or a phase opened or closed: the tasks are read again (a team's quota with
// them), new tasks' boards followed, and the views hear of it as a "tasks" message. An answer older than the one
// kept (two changes in quick succession) is dropped.
async function refreshTasks() {
  const list = await api("GET", "/api/v1/competition");
  if (list.version < app.competitionVersion) return;
  keepTasks(list);
  if (!app.live.stopped) app.live.follow(app.tasks.map((t) => t.id));
  drawNav();
  for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.hash === location.hash);
  app.live.emit({ type: "tasks" });
}

// Boards and tasks are public: a visitor who is not signed in sees them (live, over `/ws/boards`) and the projector
// view.
const PUBLIC_PAGES = new Set(["board", "projector", "tasks"]);

function currentPage() {
  return location.hash.split("/")[1] || "";
}

app.live.on((message) => {
  if (message.type === "connection" && (app.me || app.tasks.length)) drawNav();
  if (message.type === "competition" || message.type === "phase") {
    refreshTasks().catch((error) => notify(`The tasks could not be read again: ${error.message}`, "error"));
  }
});

async function route() {
  app.cleanup?.();
  app.cleanup = null;
  navigations += 1;
  notify("");
  const [, page = "", arg = ""] = location.hash.split("/").map(decodeURIComponent);
  if (!app.me && !PUBLIC_PAGES.has(page)) {
    loginView();
    return;
  }
  for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.hash === location.hash);
  try {
    if (!app.me && !app.tasks.length) await start(); // a visitor: the tasks, and the public boards live
    // The projector's page holds no socket but its own public one: not even an admin's private board reaches it.
    if (page === "projector") app.live.stop();
    else if (app.live.stopped) app.live.start(app.tasks.map((t) => t.id));
    if (page === "board") app.cleanup = boardView(arg);
    else if (page === "tasks") app.cleanup = tasksView(view, app);
    else if (page === "submit") app.cleanup = submitView(arg || app.tasks[0]?.id);
    else if (page === "submission") await submissionView(Number(arg));
    else if (page === "qa") app.cleanup = qaView();
    else if (page === "account") app.cleanup = accountView();
    else if (page === "projector") app.cleanup = projectorView(view, arg || app.tasks[0]?.id, app);
    else if (page === "admin" && app.me.is_admin) app.cleanup = await adminView(view, arg || "teams", app);
    else app.cleanup = boardView(app.tasks[0]?.id);
  } catch (error) {
    if (error.status === 401) return logout();
    view.replaceChildren(errorBox(error));
  }
}

window.addEventListener("hashchange", route);
// Every tab shares the session (api.js): a login, a new password or a logout in one tab reaches the others.
session.onChange(async (current) => {
  if (current === null && app.me) {
    logout();
  } else if (current?.me && current.me.name !== app.me?.name) {
    await start();
    await route();
  }
});
(async () => {
  if (session.load()?.me) {
    try {
      await start();
    } catch (error) {
      session.clear();
      app.me = null;
      notify(error.message, "error");
    }
  }
  await route();
})();
