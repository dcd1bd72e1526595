// The board on a projector (`#/projector/<task>`): large type, live, the public board only — even for an admin and
// once the private board is revealed. Its own socket is `/ws/boards?private=false`, which never carries the private
// board, and the page holds no other socket meanwhile (app.js stops the signed-in one), so no private value
// reaches this page at all.

import { columnHeader, columnValue, columnsKey, shownColumns } from "./columns.js";
import { formatScore, h } from "./dom.js";
import { Live } from "./live.js";

export function projectorView(view, taskId, app) {
  const info = app.tasks.find((t) => t.id === taskId);
  const live = new Live({ publicOnly: true });
  const dot = h("span", { class: "live-dot", title: "live updates: connecting" });
  const status = h("p", { class: "projector-status", role: "status" }, "Connecting…");
  const tbody = h("tbody", {});
  const head = h("thead", {});
  const table = h("table", { class: "projector-board", "aria-label": `${taskId} leaderboard` }, head, tbody);
  let shownKey = null;
  const drawHead = (columns) => head.replaceChildren(h("tr", {}, h("th", {}, "#"), h("th", {}, ""), h("th", {}, "Team"),
    columns.map((column) => columnHeader(column, columns.length > 1)), h("th", {}, "Submissions")));
  drawHead(shownColumns(null, info));
  view.replaceChildren(h("section", { class: "projector" },
    h("div", { class: "projector-title" }, h("h1", {}, info ? info.title : taskId), dot),
    h("p", { class: "muted" }, info ? `${info.metric}, ${info.sort === "asc" ? "lower" : "higher"} is better` : ""),
    status, table));
  document.body.classList.add("projecting");

  const render = () => {
    const board = live.board(taskId);
    if (!board) return;
    status.textContent = board.public.length ? "" : "No scores yet.";
    const columns = shownColumns(board, info);
    if (columnsKey(columns) !== shownKey) {
      shownKey = columnsKey(columns);
      drawHead(columns);
    }
    const before = new Map([...tbody.rows].map((row) => [row.dataset.team, Number(row.dataset.rank)]));
    tbody.replaceChildren(...board.public.map((entry) => {
      const change = entry.rank_change ?? 0;
      const was = before.get(entry.team_name);
      const moved = was === undefined || was === entry.rank ? "" : entry.rank < was ? "moved-up" : "moved-down";
      return h("tr", { class: moved, dataset: { team: entry.team_name, rank: entry.rank } },
        h("td", { class: "rank" }, entry.rank),
        h("td", { class: "change" }, change > 0 ? `▲${change}` : change < 0 ? `▼${-change}` : ""),
        h("td", { class: "team" }, entry.team_name),
        columns.map((column) => h("td", { class: column.primary ? "score" : "metric-value" },
          column.precision === undefined ? formatScore(entry.score) : columnValue(entry, column))),
        h("td", { class: "count" }, entry.submissions));
    }));
  };
  const off = live.on((message) => {
    if (message.type === "connection") {
      dot.className = `live-dot ${message.state}`;
      dot.title = `live updates: ${message.state}`;
      if (message.state === "open" && !live.board(taskId)) status.textContent = "Waiting for the first score…";
    } else if (message.type === "error") {
      status.textContent = message.detail;
    } else if ((message.type === "board" || message.type === "board_delta") && message.task_id === taskId) {
      render();
    }
  });
  live.start([taskId]);
  return () => {
    off();
    live.stop();
    document.body.classList.remove("projecting");
  };
}
