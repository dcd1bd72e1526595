// The tasks as participants see them (`#/tasks`): each task's description, what to submit, the phase now and the
// time left before it closes (or when the next opens), in the viewer's time zone with UTC beside, the quota left
// today, and why a task takes no submissions (archived, closed, no ground truth yet). The list is the page's
// `app.tasks`, read again whenever the competition changes or a phase opens or closes (app.js), so this view
// redraws without a reload.

import { formatDuration, formatTimeAndUtc, h, markdownNodes, setTitle } from "./dom.js";

// A phase that closes this late never closes for a person (a task without phases is open until the year 9999).
const NEVER = Date.UTC(9000, 0, 1);

/**
 * The task's phase in words; `until`: the ISO time its countdown runs to (`countdown`: "left" before a close, "opens"
 * before an opening), or none, and then `idle` says it in one word.
 */
export function phaseState(info) {
  if (info.archived) return { words: "Archived: read-only, no more submissions; its boards stay.", idle: "archived" };
  if (!info.phases?.length) return { words: "No phases: open at any time, no deadline.", idle: "open" };
  const phase = info.current_phase;
  if (phase) {
    const closes = info.closes_at || phase.closes_at;
    if (!closes || Date.parse(closes) >= NEVER) return { words: `Phase “${phase.id}” is open.`, idle: "open" };
    return { words: `Phase “${phase.id}” is open; it closes ${formatTimeAndUtc(closes)}.`, until: closes,
      countdown: "left" };
  }
  if (info.next_opens_at) {
    return { words: `No phase is open; the next opens ${formatTimeAndUtc(info.next_opens_at)}.`,
      until: info.next_opens_at, countdown: "opens" };
  }
  return { words: "No phase is open, and none will open.", idle: "closed" };
}

/** "3 h 12 min left", "opens in 2 d 4 h", or the idle word, as of `now`. */
export function timeLeft(state, now = Date.now()) {
  if (!state.until) return state.idle;
  const left = Date.parse(state.until) - now;
  if (state.countdown === "left") return left > 0 ? `${formatDuration(left)} left` : "closing…";
  return left > 0 ? `opens in ${formatDuration(left)}` : "opening…";
}

function quotaWords(info) {
  if (info.quota_left === null || info.quota_left === undefined) return `${info.daily_quota} per team per UTC day`;
  return `${info.quota_left} of ${info.daily_quota} submissions left today`;
}

/** The task's board columns (GET /api/v1/tasks `columns`): header, metric, direction, role, what it measures. */
function columnList(info) {
  return h("ul", { class: "task-columns" }, (info.columns || []).map((column) => {
    const roles = [column.primary ? "ranks the board" : "", column.tie_break ? "breaks ties" : "",
      column.hidden ? "hidden: hosts only" : ""].filter(Boolean);
    return h("li", { dataset: { column: column.header } }, h("strong", {}, column.header),
      ` (${[column.metric, column.direction === "asc" ? "lower is better" : "higher is better", ...roles,
        `${column.precision} decimals`].join(", ")}): `, h("span", { class: "muted definition" }, column.definition));
  }));
}

/** One task's card; its countdown is a `.time-left[data-until]` that `tick` brings up to date. */
export function taskCard(info, { signedIn = false } = {}) {
  const state = phaseState(info);
  const description = markdownNodes(info.description_html);
  return h("article", { class: `card task-info${info.archived ? " archived" : ""}`, dataset: { task: info.id } },
    h("h2", {}, info.title, " ", h("span", { class: "muted task-id" }, info.id),
      info.archived ? h("span", { class: "badge archived" }, "archived") : null),
    description.length ? h("div", { class: "description" }, description) : null,
    h("dl", { class: "facts" },
      h("dt", {}, "What to submit"), h("dd", { class: "expected-format" }, info.expected_format || "–"),
      info.columns?.length ? [h("dt", {}, "Scored by"), h("dd", { class: "columns" }, columnList(info))] : null,
      h("dt", {}, "Phase"), h("dd", { class: "phase" }, state.words),
      h("dt", {}, "Time left"), h("dd", { class: "time-left", dataset: { until: state.until || "",
        countdown: state.countdown || "" } }, timeLeft(state)),
      h("dt", {}, "Quota"), h("dd", { class: "quota" }, quotaWords(info))),
    !info.accepting && !info.archived ? h("p", { class: "not-accepting", role: "note" },
      info.not_accepting_reason || "This task takes no submissions now.") : null,
    h("p", { class: "task-links" }, h("a", { href: `#/board/${encodeURIComponent(info.id)}` }, "Leaderboard"),
      signedIn && info.accepting ? [" · ", h("a", { href: `#/submit/${encodeURIComponent(info.id)}` }, "Submit")] : null));
}

/** Brings every countdown under `root` up to date. */
export function tick(root, now = Date.now()) {
  for (const cell of root.querySelectorAll(".time-left[data-until]")) {
    if (!cell.dataset.until) continue;
    cell.textContent = timeLeft({ until: cell.dataset.until, countdown: cell.dataset.countdown }, now);
  }
}

export function tasksView(view, app) {
  setTitle("Tasks");
  const list = h("div", { class: "task-list", id: "task-list" });
  const version = h("p", { class: "muted", id: "competition-version" });
  view.replaceChildren(h("section", {}, h("h1", {}, app.competitionName || "Tasks"), version, list));
  const draw = () => {
    version.textContent = app.competitionVersion ? `Competition version ${app.competitionVersion}; times in your ` +
      `zone (${Intl.DateTimeFormat().resolvedOptions().timeZone}) with UTC beside.` : "";
    list.replaceChildren(...(app.tasks.length ? app.tasks.map((info) => taskCard(info, { signedIn: Boolean(app.me) }))
      : [h("p", { class: "muted" }, "No tasks yet.")]));
  };
  draw();
  const timer = setInterval(() => tick(list), 1000);
  const stop = app.live.on((message) => {
    if (message.type === "tasks") draw();
  });
  return () => {
    clearInterval(timer);
    stop();
  };
}
