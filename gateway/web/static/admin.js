// The hosts' pages: teams (one by one or from CSV, with the per-row report; each team's standing, edited,
// disabled, deleted, its password reset), the competition (admin-competition.js), boards (reveal the private board,
// rescore and see who moved), the audit trail with its filters, and statistics. Q&A answers are given on the Q&A
// page itself.

import { competitionSection } from "./admin-competition.js";
import { api } from "./api.js";
import { caption, formatScore, formatTime, h, scrolling, setTitle, statusWord } from "./dom.js";

const SECTIONS = { teams: "Teams", competition: "Competition", boards: "Boards & rescoring", audit: "Audit trail",
  stats: "Statistics" };

function failureText(target) {
  return (error) => {
    target.textContent = error.message; // the server's reason, verbatim
    target.hidden = false;
  };
}

function errorLine() {
  return h("p", { class: "error", role: "alert", hidden: true });
}

export async function adminView(view, section, app) {
  setTitle(`${SECTIONS[section] || SECTIONS.teams} · Administration`);
  const tabs = h("nav", { class: "tabs", "aria-label": "admin" },
    ...Object.entries(SECTIONS).map(([id, title]) => h("a", { href: `#/admin/${id}`,
      class: id === section ? "active" : "" }, title)),
    h("a", { href: "#/qa" }, "Q&A answers"));
  const body = h("div", {});
  view.replaceChildren(h("section", { class: "admin" }, h("h1", {}, "Administration"), tabs, body));
  if (section === "competition") return competitionSection(body, app);
  if (section === "boards") return boardsSection(body, app);
  if (section === "stats") return statsSection(body);
  if (section === "audit") return auditSection(body);
  return teamsSection(body);
}

// --- teams -------------------------------------------------------------------------------------------------

function membersText(members) {
  return members.map((m) => (m.email ? `${m.name} <${m.email}>` : m.name)).join("; ");
}

// "Ada <ada@example.org>; Alan" -> [{name, email}]; the server judges each member and says what is wrong.
function parseMembers(text) {
  return text.split(";").map((part) => part.trim()).filter(Boolean).map((part) => {
    const match = /^(.*?)\s*<([^<>]*)>$/.exec(part);
    return match ? { name: match[1], email: match[2] } : { name: part, email: "" };
  });
}

function standingText(standing) {
  if (!standing) return "";
  return standing.disqualified ? "disqualified" : standing.hidden ? "hidden" : "";
}

// A form's problems, each under its field when the server names the field, else in `fallback`.
function fieldErrors(error, fields, fallback) {
  for (const line of Object.values(fields)) line.hidden = true;
  const named = (error.errors || []).filter((e) => fields[e.key]);
  for (const { key, message } of named) failureText(fields[key])({ message });
  if (!named.length) failureText(fallback)(error);
}

async function teamsSection(body) {
  const rules = await api("GET", "/api/v1/auth/rules");
  const tbody = h("tbody", {});
  const editor = h("div", { id: "team-editor-slot" });
  const said = h("p", { id: "teams-status", role: "status" });
  const say = (words) => {
    said.textContent = words;
  };
  let teams = [];
  let standings = new Map();
  const draw = () => {
    tbody.replaceChildren(...teams.map((team) => {
      const standing = standings.get(String(team.id));
      return h("tr", { dataset: { team: team.name, teamId: team.id } },
        h("td", {}, team.id), h("td", { class: "name" }, team.name), h("td", {}, team.is_admin ? "admin" : "team"),
        h("td", { class: "members" }, membersText(team.members)), h("td", { class: "max-size" }, team.max_size),
        h("td", { class: "state" }, team.disabled ? "disabled" : ""),
        h("td", { class: "standing", title: standing?.reason || "" }, standingText(standing)),
        h("td", {}, formatTime(team.created_at)),
        h("td", {}, team.is_admin ? "" : h("button", { type: "button", class: "link edit",
          onclick: () => editor.replaceChildren(teamEditor(team, standing, rules, { reload: load, say,
            close: () => editor.replaceChildren() }))
        }, "Edit")));
    }));
  };
  const load = async () => {
    const [accounts, listed] = await Promise.all([api("GET", "/api/v1/admin/teams?limit=1000"),
      api("GET", "/api/v1/admin/standings")]);
    teams = accounts;
    standings = new Map(listed.map((standing) => [standing.team_id, standing]));
    draw();
  };

  const name = h("input", { id: "team-name", required: true, maxLength: rules.name_max_length });
  const password = h("input", { id: "team-password", required: true, minLength: rules.password_min_length,
    maxLength: rules.password_max_length, "aria-describedby": "team-password-rule" });
  const nameError = errorLine();
  const passwordError = errorLine();
  const createError = errorLine();
  const created = h("p", { id: "team-created", role: "status" });
  const create = h("form", { class: "card", id: "create-team", noValidate: true, onsubmit: async (event) => {
    event.preventDefault();
    createError.hidden = true;
    created.textContent = "";
    try {
      const team = await api("POST", "/api/v1/admin/teams", { json: { name: name.value, password: password.value } });
      for (const line of [nameError, passwordError]) line.hidden = true;
      created.textContent = `Created team “${team.name}” (id ${team.id}).`;
      name.value = "";
      password.value = "";
      await load();
    } catch (error) {
      fieldErrors(error, { name: nameError, password: passwordError }, createError);
    }
  } }, h("h2", {}, "Create a team"), h("label", { for: "team-name" }, "Name"), name, nameError,
  h("label", { for: "team-password" }, "Password"),
  h("p", { class: "muted rule", id: "team-password-rule" },
    `At least ${rules.password_min_length} characters (at most ${rules.password_max_length}).`),
  password, passwordError, h("button", { type: "submit" }, "Create"), created, createError);

  const csv = h("textarea", { id: "teams-csv", rows: 5, placeholder: "name,password,max_size,members" });
  const file = h("input", { type: "file", id: "teams-csv-file", accept: ".csv,text/csv" });
  const importError = errorLine();
  const report = h("div", { id: "import-report" });
  file.addEventListener("change", async () => {
    if (file.files[0]) csv.value = await file.files[0].text();
  });
  const importForm = h("form", { class: "card", id: "import-teams", onsubmit: async (event) => {
    event.preventDefault();
    importError.hidden = true;
    try {
      const result = await api("POST", "/api/v1/admin/teams", { body: csv.value, contentType: "text/csv" });
      report.replaceChildren(h("p", {}, `${result.created} created, ${result.refused} refused.`),
        h("table", {}, caption("Each line of the CSV and what became of it"),
          h("thead", {}, h("tr", {}, h("th", {}, "Line"), h("th", {}, "Name"), h("th", {}, "Result"),
          h("th", {}, "Reason"))),
        h("tbody", {}, result.rows.map((row) => h("tr", { class: row.status, dataset: { line: row.line } },
          h("td", {}, row.line), h("td", {}, row.name), h("td", {}, row.status), h("td", {}, row.reason))))));
      await load();
    } catch (error) {
      failureText(importError)(error);
    }
  } }, h("h2", {}, "Import teams from CSV"),
  h("p", { class: "muted" }, "Header row required: name,password[,max_size][,members]. Each row is reported."),
  h("label", { for: "teams-csv-file" }, "CSV file"), file,
  h("label", { for: "teams-csv" }, "or paste it"), csv, h("button", { type: "submit" }, "Import"),
  importError, report);

  body.replaceChildren(h("div", { class: "columns" }, create, importForm),
    h("h2", {}, "All accounts"), said, editor, h("div", { class: "table-scroll" }, h("table", { id: "teams" },
      caption("Every team and admin"),
      h("thead", {}, h("tr", {}, ...["Id", "Name", "Role", "Members", "Max size", "Account", "Standing", "Created", ""]
        .map((t) => h("th", {}, t)))), tbody)));
  await load();
  return null;
}

// One team's editor: its name, members and size limit; disable or enable it; a new password (its tokens stop
// working); hide it from the public boards or disqualify it, with a reason; delete it (asked twice).
function teamEditor(team, standing, rules, { reload, close, say }) {
  const path = `/api/v1/teams/${team.id}`;
  const status = h("p", { class: "editor-status", role: "status" });
  const error = errorLine();
  const done = async (words) => {
    close();
    say(words);
    await reload();
  };
  const run = (action) => async (event) => {
    event?.preventDefault();
    error.hidden = true;
    status.textContent = "";
    say("");
    try {
      await action();
    } catch (failure) {
      failureText(error)(failure);
    }
  };

  const name = h("input", { id: "edit-name", value: team.name, required: true, maxLength: rules.name_max_length });
  const members = h("input", { id: "edit-members", value: membersText(team.members),
    placeholder: "Ada Lovelace <ada@example.org>; Alan Turing" });
  const maxSize = h("input", { id: "edit-max-size", type: "number", min: 1, max: rules.team_max_size,
    value: team.max_size });
  const details = h("form", { class: "edit-details", noValidate: true, onsubmit: run(async () => {
    await api("PUT", path, { json: { name: name.value, members: parseMembers(members.value),
      max_size: Number(maxSize.value) } });
    await done(`Saved ${name.value}.`);
  }) }, h("label", { for: "edit-name" }, "Name"), name,
  h("label", { for: "edit-members" }, "Members (Name <email>; …)"), members,
  h("label", { for: "edit-max-size" }, `Max size (1–${rules.team_max_size})`), maxSize,
  h("button", { type: "submit" }, "Save"));

  const disable = h("button", { type: "button", class: "secondary", id: "edit-disable",
    onclick: run(async () => {
      await api("PUT", path, { json: { disabled: !team.disabled } });
      await done(team.disabled ? `Enabled ${team.name}.` : `Disabled ${team.name}: it can no longer log in.`);
    }) }, team.disabled ? "Enable the team" : "Disable the team");

  const password = h("input", { id: "edit-password", type: "text", autocomplete: "new-password",
    minLength: rules.password_min_length, maxLength: rules.password_max_length });
  const reset = h("form", { class: "edit-password", noValidate: true, onsubmit: run(async () => {
    await api("PUT", path, { json: { password: password.value } });
    password.value = "";
    await done(`New password set for ${team.name}; its sessions are signed out.`);
  }) }, h("label", { for: "edit-password" }, "New password"),
  h("p", { class: "muted rule" }, `At least ${rules.password_min_length} characters.`), password,
  h("button", { type: "submit" }, "Reset the password"));

  const hidden = h("input", { type: "checkbox", id: "edit-hidden", checked: Boolean(standing?.hidden) });
  const disqualified = h("input", { type: "checkbox", id: "edit-disqualified",
    checked: Boolean(standing?.disqualified) });
  const reason = h("input", { id: "edit-reason", value: standing?.reason || "", maxLength: 500 });
  const standingForm = h("form", { class: "edit-standing", onsubmit: run(async () => {
    const wanted = { hidden: hidden.checked, disqualified: disqualified.checked };
    await api("POST", `/api/v1/admin/teams/${team.id}/standing`, { json: { ...wanted, reason: reason.value } });
    // Accepted means recorded: the standing (and the boards) change a moment later, when the leaderboard applies it.
    status.textContent = "Recorded; waiting for the boards to change…";
    for (let tries = 0; tries < 50; tries += 1) {
      const listed = await api("GET", "/api/v1/admin/standings");
      const now = listed.find((s) => s.team_id === String(team.id)) || { hidden: false, disqualified: false };
      if (now.hidden === wanted.hidden && now.disqualified === wanted.disqualified) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await done(`${team.name} is ${wanted.disqualified ? "disqualified (off every board)" : wanted.hidden ?
      "hidden from the public boards" : "on every board"}.`);
  }) }, h("h4", {}, "Standing"),
  h("label", { class: "check" }, hidden, " Hidden from the public boards"),
  h("label", { class: "check" }, disqualified, " Disqualified (off every board)"),
  h("label", { for: "edit-reason" }, "Reason (kept in the audit trail)"), reason,
  h("button", { type: "submit" }, "Set the standing"));

  const confirm = h("button", { type: "button", class: "danger", id: "edit-delete-confirm", hidden: true,
    onclick: run(async () => {
      const answer = await api("DELETE", `/api/v1/admin/teams/${team.id}`);
      await done(answer.message);
    }) }, `Delete ${team.name} for good`);
  const remove = h("button", { type: "button", class: "secondary", id: "edit-delete", onclick: () => {
    confirm.hidden = false;
  } }, "Delete the team…");

  return h("article", { class: "card team-editor", id: "team-editor", dataset: { team: team.name } },
    h("h3", {}, `Team ${team.name} (id ${team.id})`, " ",
      h("button", { type: "button", class: "link", id: "edit-close", onclick: close }, "Close")),
    h("div", { class: "columns" }, details, h("div", {}, reset, standingForm)),
    h("p", {}, disable, " ", remove, " ", confirm), status, error);
}

// --- boards: reveal and rescore ----------------------------------------------------------------------------

async function boardsSection(body, app) {
  let stopped = false;
  const cards = [];
  for (const task of app.tasks) {
    const state = h("span", { class: "reveal-state" }, "…");
    const error = errorLine();
    let revealed = false;
    const toggle = h("button", { type: "button", class: "reveal", onclick: async () => {
      error.hidden = true;
      try {
        const wanted = !revealed;
        await api("POST", `/api/v1/admin/leaderboards/${encodeURIComponent(task.id)}/reveal`,
          { json: { revealed: wanted } });
        // Accepted means recorded: the board itself changes a moment later, when the leaderboard applies it.
        state.textContent = "Recorded; waiting for the board to change…";
        for (let tries = 0; tries < 50 && !stopped && revealed !== wanted; tries += 1) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          await refresh();
        }
      } catch (failure) {
        failureText(error)(failure);
      }
    } }, "…");
    const refresh = async () => {
      try {
        const board = await api("GET", `/api/v1/leaderboards/${encodeURIComponent(task.id)}`);
        revealed = board.private_revealed;
        state.textContent = revealed ? "Private board revealed to everyone." : "Private board hidden from teams.";
        toggle.textContent = revealed ? "Hide the private board" : "Reveal the private board";
      } catch (failure) {
        state.textContent = failure.message;
      }
    };
    await refresh();
    cards.push(h("article", { class: "card", dataset: { task: task.id } }, h("h3", {}, task.title),
      h("p", {}, state), toggle, " ", h("a", { href: `#/board/${task.id}` }, "View board"), error));
  }

  const taskSelect = h("select", { id: "rescore-task" },
    ...app.tasks.map((task) => h("option", { value: task.id }, task.id)));
  const version = h("input", { id: "rescore-version", placeholder: "new scorer version (empty: automatic)" });
  const ids = h("input", { id: "rescore-ids", placeholder: "submission ids, e.g. 12, 15 (empty: all)" });
  const rescoreError = errorLine();
  const progress = h("progress", { id: "rescore-progress", hidden: true, max: 1, value: 0 });
  const outcome = h("div", { id: "rescore-report" });
  const form = h("form", { class: "card", id: "rescore", onsubmit: async (event) => {
    event.preventDefault();
    rescoreError.hidden = true;
    const submissionIds = ids.value.split(/[\s,]+/).filter(Boolean).map(Number);
    try {
      const started = await api("POST", "/api/v1/admin/rescores", { json: { task_id: taskSelect.value,
        scorer_version: version.value.trim(), submission_ids: submissionIds } });
      outcome.replaceChildren(h("p", {}, `Rescore ${started.rescore_id}: ${started.submissions} submissions under ` +
        `${started.scorer_version}…`));
      progress.hidden = false;
      const since = Date.now();
      while (!stopped) {
        let report;
        try {
          report = await api("GET", `/api/v1/admin/rescores/${encodeURIComponent(started.rescore_id)}`);
        } catch (failure) {
          // The request travels as an event: the leaderboard knows the rescore a moment after it starts.
          if (failure.status !== 404 || Date.now() - since > 30000) throw failure;
          await new Promise((resolve) => setTimeout(resolve, 500));
          continue;
        }
        progress.max = Math.max(1, report.expected);
        progress.value = report.done;
        if (report.completed) {
          outcome.replaceChildren(diffTable(report));
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    } catch (failure) {
      failureText(rescoreError)(failure);
    }
  } }, h("h2", {}, "Rescore"),
  h("p", { class: "muted" }, "Replays the chosen submissions under a new scorer version; old scores stay. " +
    "The board switches when every one has its new outcome."),
  h("label", { for: "rescore-task" }, "Task"), taskSelect, h("label", { for: "rescore-version" }, "Scorer version"),
  version, h("label", { for: "rescore-ids" }, "Submissions"), ids, h("button", { type: "submit" }, "Rescore"),
  progress, rescoreError, outcome);

  body.replaceChildren(h("h2", {}, "Private boards"), h("div", { class: "columns" }, ...cards), form);
  return () => {
    stopped = true;
  };
}

function diffTable(report) {
  const moved = report.movements.filter((m) => m.old_rank !== m.new_rank || m.old_score !== m.new_score);
  return h("div", {},
    h("p", { class: "rescore-summary" }, `Rescore complete under ${report.scorer_version}: ${report.done} of ` +
      `${report.expected} rescored; ${moved.length ? `${moved.length} teams changed` : "nobody moved"}.`),
    h("table", { class: "diff" }, caption("Who moved in the rescore"),
      h("thead", {}, h("tr", {}, ...["Team", "Rank before", "Rank after", "Score before",
      "Score after"].map((t) => h("th", {}, t)))),
    h("tbody", {}, report.movements.map((m) => h("tr", { class: m.old_rank === m.new_rank ? "same" :
      (m.new_rank ?? Infinity) < (m.old_rank ?? Infinity) ? "up" : "down", dataset: { team: m.team_name } },
    h("td", {}, m.team_name), h("td", {}, m.old_rank ?? "–"), h("td", {}, m.new_rank ?? "–"),
    h("td", {}, formatScore(m.old_score, 4)), h("td", {}, formatScore(m.new_score, 4)))))));
}

// --- the audit trail -----------------------------------------------------------------------------------------

const AUDIT_ACTIONS = ["team_created", "team_updated", "team_deleted", "standing", "reveal", "finals", "rescore",
  "cancel", "question_posted", "question_announced", "question_answered", "question_edited", "question_hidden",
  "question_shown"];

async function auditSection(body) {
  const action = h("select", { id: "audit-action" }, h("option", { value: "" }, "any"),
    ...AUDIT_ACTIONS.map((name) => h("option", { value: name }, name)));
  const by = h("input", { id: "audit-by", placeholder: "an admin's or team's name" });
  const target = h("input", { id: "audit-target", placeholder: "team id, task, submission or question id" });
  const since = h("input", { id: "audit-since", type: "datetime-local", step: 1 });
  const until = h("input", { id: "audit-until", type: "datetime-local", step: 1 });
  const limit = h("input", { id: "audit-limit", type: "number", min: 1, max: 1000, value: 200 });
  const error = errorLine();
  const summary = h("p", { id: "audit-summary", class: "muted", role: "status" });
  const tbody = h("tbody", {});
  const zone = `times in your zone (${Intl.DateTimeFormat().resolvedOptions().timeZone})`;
  const load = async () => {
    error.hidden = true;
    const query = new URLSearchParams();
    for (const [key, input] of [["action", action], ["by", by], ["target", target]]) {
      if (input.value.trim()) query.set(key, input.value.trim());
    }
    // datetime-local has no zone: it is the viewer's local time, sent as an instant.
    for (const [key, input] of [["since", since], ["until", until]]) {
      if (input.value) query.set(key, new Date(input.value).toISOString());
    }
    query.set("limit", limit.value || "200");
    try {
      const entries = await api("GET", `/api/v1/admin/audit?${query}`);
      summary.textContent = `${entries.length} ${entries.length === 1 ? "entry" : "entries"}, newest first`;
      tbody.replaceChildren(...entries.map((entry) => h("tr", { dataset: { action: entry.action,
        target: entry.target } }, h("td", {}, formatTime(entry.occurred_at)), h("td", { class: "action" }, entry.action),
      h("td", { class: "actor" }, entry.actor), h("td", { class: "target" }, entry.target),
      h("td", { class: "detail" }, Object.entries(entry.detail).map(([key, value]) =>
        `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`).join(", ")))));
    } catch (failure) {
      failureText(error)(failure);
    }
  };
  const filters = h("form", { class: "card audit-filters", id: "audit-filters", onsubmit: (event) => {
    event.preventDefault();
    load();
  } }, h("div", { class: "filter-grid" },
    h("div", {}, h("label", { for: "audit-action" }, "Action"), action),
    h("div", {}, h("label", { for: "audit-by" }, "By"), by),
    h("div", {}, h("label", { for: "audit-target" }, "Target"), target),
    h("div", {}, h("label", { for: "audit-since" }, "Since"), since),
    h("div", {}, h("label", { for: "audit-until" }, "Until"), until),
    h("div", {}, h("label", { for: "audit-limit" }, "At most"), limit)),
  h("p", { class: "muted" }, zone), h("button", { type: "submit" }, "Show"), error);
  body.replaceChildren(filters, summary, h("div", { class: "table-scroll" }, h("table", { id: "audit" },
    caption("The audit trail, newest first"),
    h("thead", {}, h("tr", {}, ...["When", "Action", "By", "Target", "Detail"].map((t) => h("th", {}, t)))),
    tbody)));
  await load();
  return null;
}

// --- statistics ----------------------------------------------------------------------------------------------

async function statsSection(body) {
  const stats = await api("GET", "/api/v1/admin/stats");
  const labels = { teams: "Teams", disabled_teams: "Disabled teams", admins: "Admins", members: "Members",
    questions: "Questions", unanswered_questions: "Unanswered questions", hidden_questions: "Hidden questions",
    announcements: "Announcements", websocket_clients: "Live connections" };
  const sections = [h("dl", { class: "facts stats", id: "stats" },
    ...Object.entries(labels).filter(([key]) => key in stats)
      .map(([key, label]) => [h("dt", {}, label), h("dd", { dataset: { stat: key } }, stats[key])]))];
  const submissions = stats.submissions;
  if (submissions && typeof submissions === "object") {
    const seconds = (value) => (value === null || value === undefined ? "–" : `${Number(value).toFixed(2)} s`);
    sections.push(h("h2", {}, `Submissions (${submissions.submissions})`),
      h("dl", { class: "facts" }, ...Object.entries(submissions.by_status || {})
        .map(([status, count]) => [h("dt", {}, statusWord(status)), h("dd", {}, count)]),
      h("dt", {}, "Scoring time, median"), h("dd", {}, seconds(submissions.scoring_time_median_s)),
      h("dt", {}, "Scoring time, p95"), h("dd", {}, seconds(submissions.scoring_time_p95_s))));
    const byTask = Object.entries(submissions.by_task || {});
    const statuses = [...new Set(byTask.flatMap(([, counts]) => Object.keys(counts)))].sort();
    if (byTask.length) {
      sections.push(h("h2", {}, "Per task"), scrolling(h("table", { id: "stats-by-task" },
        caption("Submissions per task and status"),
        h("thead", {}, h("tr", {}, h("th", {}, "Task"), statuses.map((status) => h("th", {}, statusWord(status))))),
        h("tbody", {}, byTask.map(([taskId, counts]) => h("tr", {}, h("td", {}, taskId),
          statuses.map((status) => h("td", {}, counts[status] ?? 0))))))));
    }
    if (submissions.failure_reasons?.length) {
      sections.push(h("h2", {}, "Why submissions failed"), scrolling(h("table", { id: "stats-failures" },
        caption("Why submissions failed, most frequent first"),
        h("thead", {}, h("tr", {}, h("th", {}, "Reason"), h("th", {}, "Count"))),
        h("tbody", {}, submissions.failure_reasons.map((reason) => h("tr", {}, h("td", {}, reason.key),
          h("td", {}, reason.count)))))));
    }
    if (submissions.queues?.length) {
      sections.push(h("h2", {}, "Scorer queues"), scrolling(h("table", { id: "stats-queues" },
        caption("The scorer queues"),
        h("thead", {}, h("tr", {}, ...["Pool", "Queued", "In flight", "Workers", "Per minute"]
          .map((title) => h("th", {}, title)))),
        h("tbody", {}, submissions.queues.map((queue) => h("tr", {}, h("td", {}, queue.kind),
          h("td", {}, queue.queued), h("td", {}, queue.in_flight), h("td", {}, queue.workers_alive),
          h("td", {}, formatScore(queue.throughput_per_min, 1))))))));
    }
  }
  body.replaceChildren(...sections);
  return null;
}
