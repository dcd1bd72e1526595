// The hosts' pages: teams (one by one or from CSV, with the per-row report), boards (reveal the private board,
// rescore and see who moved) and statistics. Q&A answers are given on the Q&A page itself.

import { api } from "./api.js";
import { formatScore, formatTime, h } from "./dom.js";

const SECTIONS = { teams: "Teams", boards: "Boards & rescoring", stats: "Statistics" };

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
  const tabs = h("nav", { class: "tabs", "aria-label": "admin" },
    ...Object.entries(SECTIONS).map(([id, title]) => h("a", { href: `#/admin/${id}`,
      class: id === section ? "active" : "" }, title)),
    h("a", { href: "#/qa" }, "Q&A answers"));
  const body = h("div", {});
  view.replaceChildren(h("section", { class: "admin" }, h("h1", {}, "Administration"), tabs, body));
  if (section === "boards") return boardsSection(body, app);
  if (section === "stats") return statsSection(body);
  return teamsSection(body);
}

// --- teams -------------------------------------------------------------------------------------------------

async function teamsSection(body) {
  const tbody = h("tbody", {});
  const load = async () => {
    const teams = await api("GET", "/api/v1/admin/teams?limit=1000");
    tbody.replaceChildren(...teams.map((team) => h("tr", { dataset: { team: team.name } },
      h("td", {}, team.id), h("td", {}, team.name), h("td", {}, team.is_admin ? "admin" : "team"),
      h("td", {}, team.members.map((m) => (m.email ? `${m.name} <${m.email}>` : m.name)).join("; ")),
      h("td", {}, team.disabled ? "disabled" : ""), h("td", {}, formatTime(team.created_at)))));
  };

  const name = h("input", { id: "team-name", required: true });
  const password = h("input", { id: "team-password", required: true, minLength: 1 });
  const createError = errorLine();
  const created = h("p", { id: "team-created", role: "status" });
  const create = h("form", { class: "card", id: "create-team", onsubmit: async (event) => {
    event.preventDefault();
    createError.hidden = true;
    try {
      const team = await api("POST", "/api/v1/admin/teams", { json: { name: name.value, password: password.value } });
      created.textContent = `Created team “${team.name}” (id ${team.id}).`;
      name.value = "";
      password.value = "";
      await load();
    } catch (error) {
      failureText(createError)(error);
    }
  } }, h("h2", {}, "Create a team"), h("label", { for: "team-name" }, "Name"), name,
  h("label", { for: "team-password" }, "Password"), password, h("button", { type: "submit" }, "Create"),
  created, createError);

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
        h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Line"), h("th", {}, "Name"), h("th", {}, "Result"),
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
    h("h2", {}, "All accounts"), h("table", { id: "teams" }, h("thead", {}, h("tr", {},
      ...["Id", "Name", "Role", "Members", "", "Created"].map((t) => h("th", {}, t)))), tbody));
  await load();
  return null;
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
    h("table", { class: "diff" }, h("thead", {}, h("tr", {}, ...["Team", "Rank before", "Rank after", "Score before",
      "Score after"].map((t) => h("th", {}, t)))),
    h("tbody", {}, report.movements.map((m) => h("tr", { class: m.old_rank === m.new_rank ? "same" :
      (m.new_rank ?? Infinity) < (m.old_rank ?? Infinity) ? "up" : "down", dataset: { team: m.team_name } },
    h("td", {}, m.team_name), h("td", {}, m.old_rank ?? "–"), h("td", {}, m.new_rank ?? "–"),
    h("td", {}, formatScore(m.old_score, 4)), h("td", {}, formatScore(m.new_score, 4)))))));
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
        .map(([status, count]) => [h("dt", {}, status), h("dd", {}, count)]),
      h("dt", {}, "Scoring time, median"), h("dd", {}, seconds(submissions.scoring_time_median_s)),
      h("dt", {}, "Scoring time, p95"), h("dd", {}, seconds(submissions.scoring_time_p95_s))));
    const byTask = Object.entries(submissions.by_task || {});
    const statuses = [...new Set(byTask.flatMap(([, counts]) => Object.keys(counts)))].sort();
    if (byTask.length) {
      sections.push(h("h2", {}, "Per task"), h("table", { id: "stats-by-task" },
        h("thead", {}, h("tr", {}, h("th", {}, "Task"), statuses.map((status) => h("th", {}, status)))),
        h("tbody", {}, byTask.map(([taskId, counts]) => h("tr", {}, h("td", {}, taskId),
          statuses.map((status) => h("td", {}, counts[status] ?? 0)))))));
    }
    if (submissions.failure_reasons?.length) {
      sections.push(h("h2", {}, "Why submissions failed"), h("table", { id: "stats-failures" },
        h("thead", {}, h("tr", {}, h("th", {}, "Reason"), h("th", {}, "Count"))),
        h("tbody", {}, submissions.failure_reasons.map((reason) => h("tr", {}, h("td", {}, reason.key),
          h("td", {}, reason.count))))));
    }
    if (submissions.queues?.length) {
      sections.push(h("h2", {}, "Scorer queues"), h("table", { id: "stats-queues" },
        h("thead", {}, h("tr", {}, ...["Pool", "Queued", "In flight", "Workers", "Per minute"]
          .map((title) => h("th", {}, title)))),
        h("tbody", {}, submissions.queues.map((queue) => h("tr", {}, h("td", {}, queue.kind),
          h("td", {}, queue.queued), h("td", {}, queue.in_flight), h("td", {}, queue.workers_alive),
          h("td", {}, formatScore(queue.throughput_per_min, 1)))))));
    }
  }
  body.replaceChildren(...sections);
  return null;
}
